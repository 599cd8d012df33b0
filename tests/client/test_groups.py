"""Exception-group flattening (spe_host._groups), which the client's nurseries use."""

from __future__ import annotations

import pytest

from spe_host._groups import leaves, sole_exception


def test_a_group_of_one_is_raised_as_that_exception() -> None:
    with pytest.raises(KeyError) as raised, sole_exception():
        raise ExceptionGroup("outer", [ExceptionGroup("inner", [KeyError("k")])])
    assert raised.value.args == ("k",)


def test_a_group_of_several_and_a_plain_exception_pass_unchanged() -> None:
    group = ExceptionGroup("two", [KeyError("a"), ValueError("b")])
    with pytest.raises(ExceptionGroup) as raised, sole_exception():
        raise group
    assert raised.value is group
    with pytest.raises(ValueError, match="plain"), sole_exception():
        raise ValueError("plain")
    with sole_exception():
        pass


def test_leaves_walks_nested_groups_depth_first() -> None:
    a, b, c = KeyError("a"), ValueError("b"), OSError("c")
    group = BaseExceptionGroup("g", [a, BaseExceptionGroup("h", [b, KeyboardInterrupt()]), c])
    assert [type(e) for e in leaves(group)] == [KeyError, ValueError, KeyboardInterrupt, OSError]
