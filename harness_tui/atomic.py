"""Writing a file so that a reader, or a crash, sees the old content or the new, never half.

Every file the application writes in place (config and policy files, the files the agent
edits, artifacts, adopted GC drafts) goes through `write_atomic`, so the guarantee and
the permission rules are the same everywhere.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Replace (or create) `path` with `data`; text is written as UTF-8, newlines untouched.

    The new content goes to a temporary file in the same directory (so `os.replace`
    never crosses devices), is flushed to disk, and is then renamed over `path`.
    Missing parent directories are created.

    Permissions: `mode` when given; else an existing file keeps its own; else a new file
    gets 0o666 less the process umask, as `open()` would give it.
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # Created with 0o666 so the kernel applies the umask to a new file; O_EXCL because
    # the name must not be someone else's file.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
