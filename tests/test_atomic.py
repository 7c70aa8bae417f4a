"""The one atomic file writer: whole content or none, permissions kept, nothing left
behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness_tui.atomic import write_atomic


def test_text_is_written_as_utf8_with_its_newlines_untouched(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "notes.txt"
    write_atomic(path, "één\r\ntwee\n")
    assert path.read_bytes() == "één\r\ntwee\n".encode()
    assert os.listdir(path.parent) == ["notes.txt"], "no temporary file left"


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "script.sh"
    path.write_bytes(b"old")
    path.chmod(0o750)
    write_atomic(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o750


def test_a_new_file_gets_the_umask_default_or_the_mode_given(tmp_path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    write_atomic(tmp_path / "plain", b"x")
    assert stat.S_IMODE((tmp_path / "plain").stat().st_mode) == 0o666 & ~umask
    write_atomic(tmp_path / "private", b"x", mode=0o600)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_content_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(OSError):
        write_atomic(target, b"cannot replace a directory")
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert (target / "inside").read_text() == "kept"
