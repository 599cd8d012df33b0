"""Session-id patterns (``_match``): fnmatch's meaning, linear time, bounded requests."""

from __future__ import annotations

import fnmatch
import re
import time
import warnings

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from spe_host._model import MAX_PATTERN_LENGTH, MAX_PATTERNS, check_patterns
from spe_host.engine._match import Pattern, Patterns

# Few characters, so that names and patterns meet often; "!" "-" "]" "[" "^" "\\"
# exercise every corner of fnmatch's class syntax.
_ALPHABET = "ab-z!]^[\\*?&|~é\n"


def _fnmatchcase(name: str, pattern: str) -> bool:
    with warnings.catch_warnings():
        # re warns of "possible set difference" in some classes fnmatch builds.
        warnings.simplefilter("ignore")
        return fnmatch.fnmatchcase(name, pattern)


@settings(max_examples=1500, deadline=None)
@given(
    name=st.text(alphabet=_ALPHABET, max_size=8),
    pattern=st.text(alphabet=_ALPHABET, max_size=10),
)
@example(name="-", pattern="[z-a-]")
@example(name="x", pattern="[z-a!]")
@example(name="y", pattern="[z-a!x]")
@example(name="]", pattern="[]]")
@example(name="[", pattern="[!]")
@example(name="b", pattern="[!-a-c]")
def test_the_meaning_is_fnmatchcase(name: str, pattern: str) -> None:
    assert Pattern(pattern).matches(name) == _fnmatchcase(name, pattern)


def test_a_huge_pattern_is_matched_in_linear_time_and_caches_nothing() -> None:
    fnmatch_cache = fnmatch._compile_pattern.cache_info().currsize  # type: ignore[attr-defined]
    re_cache = len(re._cache)  # type: ignore[attr-defined]
    began = time.perf_counter()
    huge = Pattern("a*" * 500_000)
    assert not huge.matches("a" * 128)
    tricky = Pattern("*" + "a*" * 60 + "b")
    assert not tricky.matches("a" * 128)
    assert Pattern("*" + "a*" * 60).matches("a" * 128)
    assert time.perf_counter() - began < 2
    assert fnmatch._compile_pattern.cache_info().currsize == fnmatch_cache  # type: ignore[attr-defined]
    assert len(re._cache) == re_cache  # type: ignore[attr-defined]


def test_requests_are_bounded() -> None:
    assert check_patterns(("a*",) * MAX_PATTERNS) == ("a*",) * MAX_PATTERNS
    with pytest.raises(ValueError, match=f"at most {MAX_PATTERNS} are allowed"):
        Patterns(["x"] * (MAX_PATTERNS + 1))
    with pytest.raises(ValueError, match=f"at most {MAX_PATTERN_LENGTH}"):
        Patterns(["a" * (MAX_PATTERN_LENGTH + 1)])
    assert Patterns([]).matches("anything")
    assert Patterns(["etl-*", "x"]).matches("etl-7")
    assert not Patterns(["etl-*", "x"]).matches("y")
