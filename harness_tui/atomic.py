"""Writing a file so that a reader, or a crash, sees the old content or the new, never half.

Every file the application writes in place (config and policy files, the files the agent
edits, artifacts, adopted GC drafts) goes through `write_atomic`, or `write_atomic_at`
for a file named relative to a directory already opened (the agent's file tools, which
hold the directory they checked so that a symlink swapped in meanwhile cannot redirect
the write), so the guarantee and the permission rules are the same everywhere.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

__all__ = ["write_atomic", "write_atomic_at"]


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace (or create) `path` with `data`; text is written as UTF-8, newlines untouched.

    The new content goes to a temporary file in the same directory (so the rename never
    crosses devices), is flushed to disk, and is then renamed over `path`. Missing
    parent directories are created.

    Permissions: `mode` when given; else an existing file keeps its own; else a new file
    gets 0o666 less the process umask, as `open()` would give it.
    """
    path = Path(path)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_atomic_at(directory, path.name, data, mode=mode)
    finally:
        os.close(directory)


def write_atomic_at(dir_fd: int, name: str, data: bytes | str, *, mode: int | None = None) -> None:
    """`write_atomic` for the file `name` in the open directory `dir_fd`.

    The temporary file is created in that directory (O_EXCL, O_NOFOLLOW) and renamed
    over `name` there: whatever happens to the directory's path meanwhile, the write
    lands in the directory the caller opened. An existing `name` is replaced, not
    written through: a symlink there is replaced by the file, not followed.
    Permissions as for `write_atomic` (an existing file's are read without following
    a symlink).
    """
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"{name!r} is not a file name")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if mode is None:
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            if stat.S_ISREG(info.st_mode):
                mode = stat.S_IMODE(info.st_mode)
    temporary = f".{name[:200]}.{secrets.token_hex(4)}.tmp"
    # Created with 0o666 so the kernel applies the umask to a new file; O_EXCL because
    # the name must not be someone else's file, O_NOFOLLOW because it must not be a link.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(temporary, flags, 0o666, dir_fd=dir_fd)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        raise
