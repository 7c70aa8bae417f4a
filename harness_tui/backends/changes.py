"""How a driver shows what an agent's tool call touches, as our own tools do: a file
inside the workspace named relative to it, and a file change as a unified diff."""

from __future__ import annotations

import difflib
import os
from pathlib import Path


def workspace_name(path: str, cwd: Path) -> str:
    """`path` relative to the workspace when it lies inside it ("." for the workspace
    itself), else as given."""
    if not os.path.isabs(path):
        return path
    relative = os.path.relpath(path, cwd)
    if relative == ".." or relative.startswith(f"..{os.sep}"):
        return path
    return Path(relative).as_posix()


def change_diff(path: str, old_text: str | None, new_text: str, cwd: Path) -> str:
    """The unified diff of one file's change (from /dev/null for a new file), named as
    `git diff` would name it."""
    name = workspace_name(path, cwd)
    lines = difflib.unified_diff(
        (old_text or "").splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile="/dev/null" if old_text is None else f"a/{name}",
        tofile=f"b/{name}",
    )
    # A last line without its newline would run into the next one.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
