"""``dumps``: the compact UTF-8 JSON of every frame, from one C encoder made once.

It must write exactly what ``json.dumps(value, ensure_ascii=False,
separators=(",", ":"), allow_nan=False)`` writes, and refuse what that refuses with
the same kinds of error: a value that is not JSON, a NaN or an infinity, and one that
holds itself (which the shared encoder, having no circular-reference memo, meets as
recursion).
"""

from __future__ import annotations

import json
import math

import pytest

from spe_host.wire import _encoded
from spe_host.wire._encoded import dumps

VALUES = [
    None,
    True,
    0,
    -(2**70),
    1.5,
    1e300,
    "",
    "plain",
    'é ü 日本 \u2028 \x00 " \\ \n',
    [],
    {},
    {"type": "result", "id": 7, "value": [{"id": "s", "state": "idle", "n": None}]},
    [[[1, [2, [3]]]], {"a": {"b": {"c": [True, False]}}}],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_dumps_writes_what_json_dumps_writes(value: object) -> None:
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert dumps(value) == expected.encode("utf-8")


def test_the_encoder_is_made_once_where_the_c_accelerator_exists() -> None:
    assert _encoded._ENCODER is not None


def test_a_lone_surrogate_is_written_as_an_ascii_escape() -> None:
    assert dumps({"t": "\ud800"}) == b'{"t":"\\ud800"}'


@pytest.mark.parametrize("value", [math.nan, math.inf, [1, -math.inf]])
def test_a_nan_or_an_infinity_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        dumps(value)


def test_a_value_that_is_not_json_is_refused_and_the_next_one_still_encodes() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": [1, object()]})
    assert dumps({"a": [1, 2]}) == b'{"a":[1,2]}'


def test_a_value_that_holds_itself_is_refused_with_a_sentence() -> None:
    looped: list[object] = [1]
    looped.append(looped)
    with pytest.raises(ValueError, match="holds itself"):
        dumps(looped)
    assert dumps([1]) == b"[1]"
