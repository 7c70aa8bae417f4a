"""glob and grep over the workspace.

Both walk the tree themselves (rather than pathlib's glob) so that what is not searched
is never read: .git and .harness, credentials (a workspace may be a home directory) and
whatever the ignore files exclude (harness_tui.tools.ignore) are pruned before they are
listed, and a glob pattern prunes every directory it cannot match below
(harness_tui.tools.globmatch). Symlinks are never followed out of the workspace: linked
directories are not descended into, and a link is listed or searched only if it
resolves inside the workspace.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from harness_tui.policy.jail import (
    JailError,
    check_read,
    home_dirs,
    open_in_workspace,
    workspace_root,
)
from harness_tui.policy.path_classes import is_credential_path
from harness_tui.providers.base import ToolSpec
from harness_tui.tools.args import check_args
from harness_tui.tools.artifacts import limit_output
from harness_tui.tools.base import ToolContext, ToolError, ToolResult
from harness_tui.tools.files import is_binary, jailed
from harness_tui.tools.globmatch import GlobMatcher, States
from harness_tui.tools.ignore import IGNORE_FILES, IgnoreRules

# Directories that are never listed or searched: git's internals and the harness's own
# state (event store, artifacts).
EXCLUDED_DIRS = frozenset({".git", ".harness"})
GLOB_MAX_RESULTS = 500
GREP_DEFAULT_MAX_RESULTS = 200
GREP_MAX_RESULTS_CAP = 2000
# Larger files are skipped by grep: they are almost always data, logs or build output.
GREP_MAX_FILE_BYTES = 5 * 1024 * 1024
_GREP_MAX_LINE_CHARS = 300


class _Entry:
    __slots__ = ("parts", "path", "is_dir")

    def __init__(self, parts: tuple[str, ...], path: str, is_dir: bool) -> None:
        self.parts = parts  # relative to the workspace
        self.path = path
        self.is_dir = is_dir

    @property
    def rel(self) -> str:
        return "/".join(self.parts)


def _walk(
    root: Path, start: Path, *, ignore: bool = True, glob: GlobMatcher | None = None
) -> Iterator[_Entry]:
    """Entries under `start` (a directory inside `root`), depth-first in sorted order.

    Excluded directories are pruned, and so are ignored entries when `ignore` is set
    (unless `start` lies in an ignored directory: it was named on purpose). With `glob`
    (a pattern over workspace-relative paths) only matching entries are yielded and
    directories below which nothing can match are not entered. Symlinks are yielded only
    if they resolve inside `root` and are never descended into (a link can form a loop
    or lead back into a part of the tree already walked).
    """
    root_str = str(root)
    homes = home_dirs()
    base_parts = start.relative_to(root).parts
    rules = IgnoreRules.down_to(root, base_parts) if ignore else None
    states = glob.advance(glob.start, base_parts) if glob else frozenset()

    def inside(path: str) -> bool:
        real = os.path.realpath(path)
        return real == root_str or real.startswith(root_str.rstrip(os.sep) + os.sep)

    def visit(
        directory: str, parts: tuple[str, ...], rules: IgnoreRules | None, states: States
    ) -> Iterator[_Entry]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            return  # unreadable or vanished: nothing to report from it
        if rules is not None and any(entry.name in IGNORE_FILES for entry in entries):
            rules = rules.enter(directory, len(parts))
        for entry in entries:
            if entry.name in EXCLUDED_DIRS:
                continue
            entry_parts = (*parts, entry.name)
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()  # follows a link
            except OSError:
                continue
            if is_link and not inside(entry.path):
                continue
            # Credentials are neither listed nor searched (a workspace may be a home).
            real = os.path.realpath(entry.path) if is_link else entry.path
            if any(is_credential_path(real, home) for home in homes):
                continue
            # git takes a link for a file, whatever it points to.
            if rules is not None and rules.ignored(entry_parts, is_dir and not is_link):
                continue
            entry_states = glob.step(states, entry.name) if glob else states
            if glob is None or glob.matches(entry_states):
                yield _Entry(entry_parts, entry.path, is_dir)
            if is_dir and not is_link and (glob is None or glob.may_match_below(entry_states)):
                yield from visit(entry.path, entry_parts, rules, entry_states)

    yield from visit(str(start), base_parts, rules, states)


def _split_pattern(pattern: str) -> tuple[str, ...]:
    parts = tuple(part for part in pattern.split("/") if part not in ("", "."))
    if pattern.startswith("/") or ".." in parts:
        raise ToolError(
            f"glob pattern {pattern!r} must be relative and stay inside the search directory "
            "(no leading '/', no '..'); use the path argument to choose the directory"
        )
    return parts


def _has_magic(part: str) -> bool:
    return any(ch in part for ch in "*?[")


# -- glob ------------------------------------------------------------------------------

GLOB_SPEC = ToolSpec(
    name="glob",
    description=(
        "Find files and directories in the workspace by name pattern. `*` and `?` match "
        "within one path component, `[abc]` a character class, and `**` any number of "
        "directories (e.g. `**/*.py`, `src/**/test_*.py`). Results are paths relative to "
        f"the workspace, sorted; directories end in '/'. At most {GLOB_MAX_RESULTS} are "
        "returned. .git and .harness are skipped, and so are files and directories "
        "ignored by .gitignore, .ignore or .git/info/exclude, unless you name them: a "
        "`path`, or leading pattern directories without wildcards, inside an ignored "
        "directory is searched in full (e.g. path '.venv' or pattern "
        "'node_modules/**/*.js'), and a pattern without wildcards finds an ignored file."
    ),
    parameters={
        "type": "object",
        "properties": {
            "pattern": {
                "type": "string",
                "description": "Glob pattern, relative to `path`.",
            },
            "path": {
                "type": "string",
                "description": "Directory to search in, relative to the workspace. Default: "
                "the workspace.",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    },
)


def _glob(workspace: Path, pattern: str, path: str) -> ToolResult:
    root = workspace_root(workspace)
    base, base_rel = jailed(workspace, path)
    if not base.is_dir():
        raise ToolError(f"{base_rel} is not a directory" if base.exists() else f"not found: {path}")
    parts = _split_pattern(pattern)
    if not parts:
        raise ToolError(f"glob pattern {pattern!r} matches nothing; try '**/*'")
    # Start the walk below the pattern's literal leading directories: they name the
    # search root as `path` does, so an ignored directory named there is searched.
    literal = 0
    while literal < len(parts) - 1 and not _has_magic(parts[literal]):
        literal += 1
    start = base.joinpath(*parts[:literal])
    matcher = GlobMatcher(base.relative_to(root).parts + parts)
    # A pattern without any wildcard names one path, ignored or not.
    named = not any(_has_magic(part) for part in parts)
    matches: list[str] = []
    # A linked directory in the literal prefix is not descended into, as in the walk
    # (`base` itself is already resolved, so only the prefix can hold a link).
    if start.is_dir() and os.path.realpath(start) == str(start):
        for entry in _walk(root, start, ignore=not named, glob=matcher):
            matches.append(entry.rel + ("/" if entry.is_dir else ""))
    matches.sort()
    total = len(matches)
    where = "the workspace" if base_rel == "." else base_rel
    if not matches:
        return ToolResult(
            content=f"No files match {pattern!r} in {where}.",
            metadata={"count": 0, "truncated": False},
        )
    shown = matches[:GLOB_MAX_RESULTS]
    if total > GLOB_MAX_RESULTS:
        shown.append(
            f"[showing the first {GLOB_MAX_RESULTS} of {total} matches; "
            "use a narrower pattern or path]"
        )
    return ToolResult(
        content="\n".join(shown),
        metadata={"count": total, "truncated": total > GLOB_MAX_RESULTS},
    )


class GlobTool:
    spec = GLOB_SPEC

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        return await asyncio.to_thread(_glob, ctx.workspace, args["pattern"], args.get("path", "."))


# -- grep ------------------------------------------------------------------------------

GREP_SPEC = ToolSpec(
    name="grep",
    description=(
        "Search file contents in the workspace with a Python regular expression. Returns "
        "matching lines as `path:line: text` (paths relative to the workspace), in path "
        "order. Binary files, files over "
        f"{GREP_MAX_FILE_BYTES // (1024 * 1024)} MiB, .git and .harness are skipped, and "
        "so are files ignored by .gitignore, .ignore or .git/info/exclude unless `path` "
        "names them (a `path` inside an ignored directory, e.g. '.venv/lib', is searched "
        "in full). "
        f"Stops after max_results matches (default {GREP_DEFAULT_MAX_RESULTS})."
    ),
    parameters={
        "type": "object",
        "properties": {
            "pattern": {
                "type": "string",
                "description": "Python regular expression, searched within each line.",
            },
            "path": {
                "type": "string",
                "description": "File or directory to search, relative to the workspace. "
                "Default: the workspace.",
            },
            "glob": {
                "type": "string",
                "description": "Only search files whose name matches this glob, e.g. '*.py' "
                "(a pattern containing '/' is matched against the workspace-relative path, "
                "e.g. 'src/**/*.py').",
            },
            "ignore_case": {
                "type": "boolean",
                "description": "Match case-insensitively. Default false.",
            },
            "max_results": {
                "type": "integer",
                "minimum": 1,
                "description": f"Most matching lines to return (default "
                f"{GREP_DEFAULT_MAX_RESULTS}, at most {GREP_MAX_RESULTS_CAP}).",
            },
        },
        "required": ["pattern"],
        "additionalProperties": False,
    },
)


def _grep_file(
    root: Path, rel: str, regex: re.Pattern[str], out: list[str], limit: int
) -> str | None:
    """Append matches of one file (`rel` in the workspace `root`) to `out`; return why
    it was skipped, if it was. The file is opened through the jail, on the directory
    handles it resolves, so a directory swapped for a symlink after the walk listed it
    cannot make grep read what lies outside (or a credential)."""
    try:
        with open_in_workspace(root, rel) as target:
            check_read(target, rel)
            # Non-blocking: opening a FIFO must not wait for a writer.
            fd = target.open(os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except JailError:
        return "refused"
    except OSError:
        return "unreadable"
    with os.fdopen(fd, "rb") as f:
        try:
            info = os.fstat(fd)
            # A FIFO or a device could block forever or never end.
            if not stat.S_ISREG(info.st_mode):
                return "special"
            if info.st_size > GREP_MAX_FILE_BYTES:
                return "large"
            os.set_blocking(fd, True)
            data = f.read()
        except OSError:
            return "unreadable"
    if is_binary(data):
        return "binary"
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if regex.search(line):
            if len(line) > _GREP_MAX_LINE_CHARS:
                line = line[:_GREP_MAX_LINE_CHARS] + "…"
            out.append(f"{rel}:{number}: {line}")
            if len(out) >= limit:
                break
    return None


def _grep(workspace: Path, args: dict[str, Any]) -> tuple[list[str], bool, dict[str, int], str]:
    root = workspace_root(workspace)
    pattern: str = args["pattern"]
    flags = re.IGNORECASE if args.get("ignore_case", False) else 0
    try:
        regex = re.compile(pattern, flags)
    except re.error as exc:
        raise ToolError(f"invalid regex {pattern!r}: {exc}") from exc
    limit = min(args.get("max_results", GREP_DEFAULT_MAX_RESULTS), GREP_MAX_RESULTS_CAP)
    # One match beyond the limit is collected so the note appears only if more exist.
    collect = limit + 1
    base, base_rel = jailed(workspace, args.get("path", "."))
    name_glob: str | None = args.get("glob")
    # A glob with '/' is matched against the workspace-relative path during the walk,
    # which then skips the directories it cannot match below.
    path_glob = (
        GlobMatcher(_split_pattern(name_glob))
        if name_glob is not None and "/" in name_glob
        else None
    )
    name_only = name_glob if path_glob is None else None

    out: list[str] = []
    skipped: dict[str, int] = {}
    if base.is_file():
        reason = _grep_file(root, base_rel, regex, out, collect)
        if reason == "large":
            raise ToolError(
                f"{base_rel} is over {GREP_MAX_FILE_BYTES // (1024 * 1024)} MiB; "
                "grep skips files that large (use bash to search it)"
            )
        if reason == "refused":
            raise ToolError(f"{base_rel} changed while it was being opened; try again")
        if reason:
            raise ToolError(f"{base_rel} is {reason}; grep searches text files only")
        return out[:limit], len(out) > limit, skipped, base_rel
    if base.is_dir():
        files = (
            entry.rel
            for entry in _walk(root, base, glob=path_glob)
            if not entry.is_dir and (name_only is None or fnmatchcase(entry.parts[-1], name_only))
        )
    elif base.exists():
        raise ToolError(f"{base_rel} is not a regular file or directory")
    else:
        raise ToolError(f"not found: {args.get('path', '.')}")
    for rel in files:
        reason = _grep_file(root, rel, regex, out, collect)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
        if len(out) > limit:
            return out[:limit], True, skipped, base_rel
    return out, False, skipped, base_rel


class GrepTool:
    spec = GREP_SPEC

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        lines, capped, skipped, base_rel = await asyncio.to_thread(_grep, ctx.workspace, args)
        notes = []
        if capped:
            notes.append(
                f"[stopped after {len(lines)} matches; narrow the pattern, path or glob, "
                "or raise max_results]"
            )
        if skipped.get("large"):
            notes.append(
                f"[skipped {skipped['large']} file(s) over "
                f"{GREP_MAX_FILE_BYTES // (1024 * 1024)} MiB]"
            )
        where = "the workspace" if base_rel == "." else base_rel
        if not lines:
            content = "\n".join([f"No matches for {args['pattern']!r} in {where}.", *notes])
            return ToolResult(content=content, metadata={"matches": 0, "truncated": False})
        content, artifact = limit_output(
            ctx, "\n".join([*lines, *notes]), f"grep: {args['pattern']}"
        )
        return ToolResult(
            content=content,
            artifact=artifact,
            metadata={"matches": len(lines), "truncated": capped},
        )
