"""Which journal ``runs``, ``audit`` and ``logs --run`` read, from their command line.

``runs`` and ``audit`` read a file, not a host: ``--connect NAME`` is taken as the
host's name, as a user of the other verbs types it, and an address or a connection
file there is refused with a sentence rather than silently reading ``default``'s.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spe_host.cli._exits import UsageError
from spe_host.cli._journal_verbs import journal_path
from spe_host.cli._parser import build_parser


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.delenv("SPE_HOST", raising=False)
    return tmp_path


def path_of(*argv: str) -> Path:
    return journal_path(build_parser().parse_args(list(argv)))


def default_of(home: Path, name: str) -> Path:
    return home / "spe-host" / f"{name}.journal.sqlite"


@pytest.mark.parametrize("verb", [["runs", "etl"], ["audit"]])
def test_connect_names_the_host_like_name(verb: list[str], state_home: Path) -> None:
    assert path_of(*verb, "--connect", "build") == default_of(state_home, "build")
    assert path_of(*verb, "--name", "build") == default_of(state_home, "build")
    assert path_of(*verb) == default_of(state_home, "default")


@pytest.mark.parametrize(
    "target", ["unix:/run/app.sock", "tcp://127.0.0.1:7788", "admin.json", "./conn"]
)
def test_an_address_as_connect_is_refused_with_a_sentence(target: str) -> None:
    with pytest.raises(UsageError, match=r"runs reads a host's journal file, not the host") as got:
        path_of("runs", "etl", "--connect", target)
    assert repr(target) in str(got.value)
    assert "--journal PATH" in str(got.value)


def test_spe_host_names_the_host_when_nothing_else_does(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPE_HOST", "nightly")
    assert path_of("audit") == default_of(state_home, "nightly")
    # An address in $SPE_HOST cannot name a journal: the default host's, as logs does.
    monkeypatch.setenv("SPE_HOST", "unix:/run/app.sock")
    assert path_of("audit") == default_of(state_home, "default")


def test_journal_and_name_win_over_connect(state_home: Path, tmp_path: Path) -> None:
    given = tmp_path / "copy.sqlite"
    assert path_of("runs", "etl", "--journal", str(given), "--connect", "x") == given
    assert path_of("runs", "etl", "--name", "a", "--connect", "b") == default_of(state_home, "a")


def test_logs_reads_the_journal_of_the_host_it_connects_to(state_home: Path) -> None:
    assert path_of("logs", "etl", "--connect", "build") == default_of(state_home, "build")
    # logs connects to an address; its journal is then the default host's.
    assert path_of("logs", "etl", "--connect", "unix:/x.sock") == default_of(state_home, "default")
