"""The path jail: every path a file tool touches must resolve inside the workspace.

Resolution follows symlinks the way the kernel will when the tool opens the path
(every component, the final one included, dangling links too), so a link that points
outside cannot be used to read or write there. The check is a snapshot: a link
created between the check and the open is not covered; the tools open the resolved
path, which held no links at check time.
"""

from __future__ import annotations

import os
from pathlib import Path


class PathEscapeError(ValueError):
    """A path that resolves outside the session's workspace."""


def workspace_root(workspace: Path) -> Path:
    """The workspace with its own symlinks resolved: the reference every check uses."""
    return Path(os.path.realpath(workspace))


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Resolve `path` (relative to the workspace, or absolute) to a real path inside it.

    Raises PathEscapeError naming the path and the workspace when `..`, an absolute
    path or a symlink (existing or dangling, anywhere along the path) leads outside.
    """
    root = workspace_root(workspace)
    if "\0" in path:
        raise PathEscapeError(f"path {path!r} contains a NUL byte")
    # An absolute path is taken as given; os.path.join drops `root` for it.
    candidate = os.path.join(root, path)
    # realpath (non-strict) resolves links along the whole path, following a dangling
    # link to where it points, and applies `..` after resolving what precedes it,
    # exactly as open() would.
    resolved = Path(os.path.realpath(candidate))
    if resolved != root and not resolved.is_relative_to(root):
        raise PathEscapeError(
            f"path {path!r} is outside the workspace {root} (it resolves to {resolved})"
        )
    return resolved


def workspace_relative(workspace: Path, resolved: Path) -> str:
    """`resolved` (from resolve_in_workspace) as a workspace-relative POSIX path; "." for
    the workspace itself."""
    rel = resolved.relative_to(workspace_root(workspace))
    return rel.as_posix() if rel.parts else "."
