"""Tests for spe_host.auth._tokens: roles, random tokens and the constant-time token table."""

from __future__ import annotations

import base64
import hmac

import pytest

from spe_host._errors import AuthenticationError
from spe_host.auth import Role, TokenTable, new_token, parse_role


def test_role_is_a_str_enum() -> None:
    assert isinstance(Role.ADMIN, str)
    assert Role.ADMIN.value == "admin"
    assert Role("operator") is Role.OPERATOR
    assert str(Role.OPERATOR) == "operator"


# --- tokens -----------------------------------------------------------------------------


def test_new_token_is_32_random_bytes_urlsafe_unpadded() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert len(token) == 43
        assert "=" not in token
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_token_table_role_for_admin_and_operator() -> None:
    table = TokenTable.generate()
    assert table.token(Role.ADMIN) != table.token(Role.OPERATOR)
    assert table.role_for(table.token(Role.ADMIN)) is Role.ADMIN
    assert table.role_for(table.token("operator")) is Role.OPERATOR


def test_token_table_refuses_a_wrong_token() -> None:
    table = TokenTable.generate()
    for wrong in (new_token(), table.token(Role.ADMIN)[:-1], "ünïcode"):
        with pytest.raises(AuthenticationError, match="the token is not valid for this host") as e:
            table.role_for(wrong)
        assert e.value.code == "unauthorized"


@pytest.mark.parametrize("token", [None, ""])
def test_token_table_refuses_a_missing_token(token: str | None) -> None:
    with pytest.raises(AuthenticationError, match="no token was given; TCP connections need"):
        TokenTable.generate().role_for(token)


def test_token_table_compares_every_entry_with_compare_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    table = TokenTable({Role.ADMIN: "aaaa", Role.OPERATOR: "bbbb"})
    # The first entry matches, yet the second is still compared: no early exit.
    assert table.role_for("aaaa") is Role.ADMIN
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(AuthenticationError):
        table.role_for("cccc")
    assert len(calls) == 2


def test_token_table_repr_hides_tokens_and_refuses_bad_tables() -> None:
    table = TokenTable.generate()
    assert table.token(Role.ADMIN) not in repr(table)
    assert "admin" in repr(table)
    with pytest.raises(ValueError, match="share the same token"):
        TokenTable({Role.ADMIN: "x", Role.OPERATOR: "x"})
    with pytest.raises(ValueError, match="must not be empty"):
        TokenTable({Role.ADMIN: ""})
    with pytest.raises(ValueError, match="at least one token"):
        TokenTable({})


def test_parse_role_accepts_roles_and_their_names_and_explains_the_rest() -> None:
    assert parse_role("admin") is Role.ADMIN
    assert parse_role(Role.OPERATOR) is Role.OPERATOR
    with pytest.raises(
        ValueError,
        match=r"^'root' is neither 'admin' nor 'operator', the two roles a token can grant$",
    ):
        parse_role("root")
    with pytest.raises(ValueError, match="neither 'admin' nor 'operator'"):
        TokenTable.generate().token("root")
