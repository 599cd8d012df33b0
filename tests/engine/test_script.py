"""Reading a script file for ``start(path=...)``: bounded, never blocking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spe_host.engine._script import MAX_SCRIPT_SIZE, read_script


def test_a_regular_file_is_read_with_its_absolute_name(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("print('é')\n", encoding="utf-8")
    assert read_script(script) == ("print('é')\n", str(script))


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)  # a plain open() would wait here for a writer
        expected = "it is a FIFO"
    elif kind == "directory":
        path = tmp_path
        expected = "it is a directory"
    else:
        path = Path("/dev/zero")  # endless: a plain read() would never return
        expected = "it is a character device"
    with pytest.raises(ValueError, match=f"{expected}, and a script must be a regular file"):
        read_script(path)


def test_too_large_unreadable_and_not_utf8_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    with open(big, "wb") as file:
        file.truncate(MAX_SCRIPT_SIZE + 1)  # sparse: costs no disk
    with pytest.raises(ValueError, match=f"larger than {MAX_SCRIPT_SIZE} bytes"):
        read_script(big)
    small = tmp_path / "small.py"
    small.write_bytes(b"x = 1\n" * 10)
    with pytest.raises(ValueError, match="larger than 59 bytes"):
        read_script(small, max_size=59)
    assert read_script(small, max_size=60)[0] == "x = 1\n" * 10
    with pytest.raises(ValueError, match=r"cannot read the script .*: No such file"):
        read_script(tmp_path / "missing.py")
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# \xe9\n")
    with pytest.raises(ValueError, match="it is not UTF-8"):
        read_script(latin)
