"""Which files the search tools skip: git's ignore rules, read with pathspec.

The rules come from `.git/info/exclude` and from the `.gitignore` and `.ignore` files
of the workspace root and of every directory the walk enters, with git's semantics:
patterns are relative to the folder of the file that holds them, a later pattern wins
over an earlier one in the same file, and a file deeper in the tree wins over one
above it (`.ignore`, the file ripgrep reads, wins over `.gitignore` in the same
folder). An ignored directory is pruned, so nothing below it is read, which is also
git's rule that a file cannot be re-included once its directory is excluded.

Only files inside the workspace are read: ignore files above it, the user's global
excludes and symlinked ignore files (which git no longer follows either) are not.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pathspec import GitIgnoreSpec

# In the order they are layered within one folder: a later file wins.
IGNORE_FILES = (".gitignore", ".ignore")
# An ignore file this large is not a list of patterns written by anyone.
_MAX_IGNORE_FILE_BYTES = 1024 * 1024


def _read_patterns(path: str) -> list[str]:
    """The lines of a regular (non-link) ignore file; none when it cannot be read."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_IGNORE_FILE_BYTES:
            return []
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


class IgnoreRules:
    """The ignore rules in force inside one directory: each layer is the depth of the
    folder whose files it comes from, and the spec read from them."""

    __slots__ = ("_layers",)

    def __init__(self, layers: tuple[tuple[int, GitIgnoreSpec], ...]) -> None:
        self._layers = layers

    @classmethod
    def at_root(cls, root: Path) -> IgnoreRules:
        """The rules that hold before any folder's own files: `.git/info/exclude`."""
        lines = _read_patterns(os.path.join(root, ".git", "info", "exclude"))
        return cls(((0, GitIgnoreSpec.from_lines(lines)),) if lines else ())

    @classmethod
    def down_to(cls, root: Path, parts: tuple[str, ...]) -> IgnoreRules | None:
        """The rules in force for the entries of the directory `parts` (relative to
        `root`), but without that directory's own ignore files, which the walk reads
        when it lists the directory. None when the directory or one above it is itself
        ignored: it was named on purpose, so everything in it is searched."""
        rules = cls.at_root(root)
        for depth in range(len(parts)):
            rules = rules.enter(os.path.join(root, *parts[:depth]), depth)
            if rules.ignored(parts[: depth + 1], is_dir=True):
                return None
        return rules

    def enter(self, directory: str, depth: int) -> IgnoreRules:
        """These rules plus those of `directory`'s own ignore files (`depth`: how many
        components its path has below the root)."""
        lines = [line for name in IGNORE_FILES for line in _read_patterns(f"{directory}/{name}")]
        if not lines:
            return self
        return IgnoreRules((*self._layers, (depth, GitIgnoreSpec.from_lines(lines))))

    def ignored(self, parts: tuple[str, ...], is_dir: bool) -> bool:
        """Whether the entry at `parts` (relative to the root) is ignored. `is_dir` for
        a real directory: a pattern ending in '/' matches only those."""
        for depth, spec in reversed(self._layers):
            rel = "/".join(parts[depth:]) + ("/" if is_dir else "")
            include = spec.check_file(rel).include
            if include is not None:
                return include
        return False
