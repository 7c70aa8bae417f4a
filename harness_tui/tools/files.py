"""read_file, write_file and edit_file, jailed to the workspace.

Writes are computed first (`preview_write`, `preview_edit`: no side effects) and then
applied (`apply_change`), so the approval flow can show the exact diff before anything
is written and apply the same change afterwards.

Every path is resolved on directory handles (harness_tui.policy.jail) and the file is
opened, or replaced, relative to the handle of the directory the check resolved: a
symlink swapped into the path meanwhile cannot send a read or a write elsewhere. Git's
internals and the harness's files are never written, credentials never read or written;
a path the kernel cannot resolve is a refused call (ToolError) like any other.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from harness_tui.atomic import write_atomic_at
from harness_tui.policy.jail import (
    JailError,
    Target,
    check_read,
    check_write,
    open_in_workspace,
    protected_reason,
    workspace_relative,
)
from harness_tui.providers.base import ToolSpec
from harness_tui.tools.args import check_args
from harness_tui.tools.base import ToolContext, ToolError, ToolResult

_T = TypeVar("_T")

# A NUL byte in the first block marks a file as binary (the heuristic git and grep use).
_SNIFF_BYTES = 8192
# Longer lines (minified code, data) are cut so one line cannot fill the output.
MAX_LINE_CHARS = 2000
# A diff in a result is for the model to confirm the change, not to re-read the file.
DIFF_MAX_LINES = 60
_DIFF_MAX_LINE_CHARS = 300


class FileChange(NamedTuple):
    """A write computed but not yet applied. `old_text` is None for a new file."""

    path: Path
    old_text: str | None
    new_text: str

    @property
    def created(self) -> bool:
        return self.old_text is None


def jailed(workspace: Path, path: str) -> tuple[Path, str]:
    """The resolved path to read and its workspace-relative form (for the search tools,
    which walk what they find); an escape, a credential or an unresolvable path becomes
    a ToolError."""
    with _target(workspace, path) as target:
        return target.path, target.rel


@contextmanager
def _target(
    workspace: Path, path: str, *, write: bool = False, create_dirs: bool = False
) -> Iterator[Target]:
    """`path` resolved and held (see harness_tui.policy.jail), checked for reading, or
    for writing with `write`; every refusal is a ToolError the model reads."""

    def may_create(parts: tuple[str, ...]) -> None:
        refused = protected_reason(target_root, parts, path)
        if refused is not None:
            raise refused

    target_root = Path(os.path.realpath(workspace))
    try:
        target = open_in_workspace(workspace, path, create_dirs=create_dirs, may_create=may_create)
    except JailError as exc:
        raise ToolError(str(exc)) from exc
    with target:
        try:
            if write:
                check_write(target, path)
            else:
                check_read(target, path)
        except JailError as exc:
            raise ToolError(str(exc)) from exc
        yield target


def is_binary(data: bytes) -> bool:
    return b"\0" in data[:_SNIFF_BYTES]


def _open_file(target: Target, *, missing_ok: bool = False) -> int | None:
    """A read handle on the target, which must be a regular file; None when it does not
    exist and `missing_ok`. The open never follows a link, so it opens what the check
    resolved, and never blocks (a FIFO is refused, not waited on)."""
    rel = target.rel
    if target.name is None:
        raise ToolError(f"{rel} is a directory, not a file; use glob to list it")
    try:
        fd = target.open(os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ToolError(f"file not found: {rel}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolError(f"{rel} became a symbolic link while it was opened; try again") from exc
        raise ToolError(f"cannot open {rel}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ToolError(f"{rel} is a directory, not a file; use glob to list it")
        if not stat.S_ISREG(mode):
            raise ToolError(f"{rel} is not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_text(target: Target, *, strict: bool, missing_ok: bool = False) -> str | None:
    """A text file's content (None when it does not exist and `missing_ok`). strict:
    refuse binary and non-UTF-8 content (for edits, where writing back replaced
    characters would corrupt the file)."""
    fd = _open_file(target, missing_ok=missing_ok)
    if fd is None:
        return None
    rel = target.rel
    with os.fdopen(fd, "rb") as f:
        data = f.read()
    if strict:
        if is_binary(data):
            raise ToolError(f"{rel} is a binary file; edit_file changes text files only")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ToolError(
                f"{rel} is not valid UTF-8 text ({exc.reason} at byte {exc.start})"
            ) from exc
    return data.decode("utf-8", errors="replace")


def unified_diff(rel: str, old_text: str, new_text: str, max_lines: int = DIFF_MAX_LINES) -> str:
    """A unified diff of the change, at most `max_lines` lines plus a note if cut."""
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(),
            new_text.splitlines(),
            fromfile=f"a/{rel}",
            tofile=f"b/{rel}",
            lineterm="",
        )
    )
    shown = [
        line if len(line) <= _DIFF_MAX_LINE_CHARS else line[:_DIFF_MAX_LINE_CHARS] + "…"
        for line in lines[:max_lines]
    ]
    if len(lines) > max_lines:
        shown.append(f"[… diff cut: {len(lines) - max_lines} more lines]")
    return "\n".join(shown)


# -- read_file -------------------------------------------------------------------------

READ_FILE_SPEC = ToolSpec(
    name="read_file",
    description=(
        "Read a text file in the workspace. Returns its lines numbered like `cat -n` "
        "(number, tab, text). Reads from start_line to end_line (1-based, inclusive); "
        "without them, from the top. Long files are cut at the line or size limit with a "
        "note giving the start_line to continue from. Lines longer than "
        f"{MAX_LINE_CHARS} characters are cut. Binary files are refused. Paths are "
        "relative to the workspace (absolute paths must be inside it)."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path, relative to the workspace."},
            "start_line": {
                "type": "integer",
                "minimum": 1,
                "description": "First line to show (1-based). Default 1.",
            },
            "end_line": {
                "type": "integer",
                "minimum": 1,
                "description": "Last line to show (inclusive). Default: as many as fit.",
            },
        },
        "required": ["path"],
        "additionalProperties": False,
    },
)


def _read_numbered(
    workspace: Path, path: str, start: int, end: int | None, max_lines: int, max_bytes: int
) -> tuple[str, dict[str, Any]]:
    with _target(workspace, path) as target:
        fd = _open_file(target)
        rel = target.rel
    assert fd is not None
    shown: list[str] = []
    size = 0
    total = 0
    full = False  # the line or byte budget ran out before end_line
    with os.fdopen(fd, "rb") as f:
        head = f.read(_SNIFF_BYTES)
        if is_binary(head):
            raise ToolError(
                f"{rel} is a binary file ({os.fstat(fd).st_size} bytes); "
                "read_file shows text files only"
            )
        f.seek(0)
        # Every line is counted so the note can say how long the file is.
        for raw in f:
            total += 1
            if total < start or (end is not None and total > end) or full:
                continue
            text = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + f"… [line cut at {MAX_LINE_CHARS} characters]"
            line = f"{total:>6}\t{text}"
            line_bytes = len(line.encode("utf-8")) + 1
            if len(shown) >= max_lines or (shown and size + line_bytes > max_bytes):
                full = True
                continue
            shown.append(line)
            size += line_bytes
    if total == 0:
        return "(empty file)", {"path": rel, "total_lines": 0, "truncated": False}
    if start > total:
        raise ToolError(f"start_line {start} is past the end of {rel} ({total} lines)")
    last = start + len(shown) - 1
    if full:
        shown.append(
            f"[showing lines {start}-{last} of {total}; "
            f"call read_file with start_line={last + 1} to read more]"
        )
    metadata = {
        "path": rel,
        "start_line": start,
        "end_line": last,
        "total_lines": total,
        "truncated": full,
    }
    return "\n".join(shown), metadata


class ReadFileTool:
    spec = READ_FILE_SPEC

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        start = args.get("start_line", 1)
        end = args.get("end_line")
        if end is not None and end < start:
            raise ToolError(f"end_line ({end}) is before start_line ({start})")
        content, metadata = await asyncio.to_thread(
            _guarded,
            _read_numbered,
            ctx.workspace,
            args["path"],
            start,
            end,
            ctx.limits.max_read_lines,
            ctx.limits.output_limit_bytes,
        )
        return ToolResult(content=content, metadata=metadata)


# -- write_file ------------------------------------------------------------------------

WRITE_FILE_SPEC = ToolSpec(
    name="write_file",
    description=(
        "Create a file or replace a file's whole content in the workspace. Missing parent "
        "directories are created; an existing file keeps its permissions. The write is "
        "atomic: readers see the old or the new content, never a mix. To change part of "
        "an existing file, prefer edit_file."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path, relative to the workspace."},
            "content": {"type": "string", "description": "The complete new content (UTF-8)."},
        },
        "required": ["path", "content"],
        "additionalProperties": False,
    },
)


def preview_write(workspace: Path, args: Mapping[str, Any]) -> FileChange:
    """The change write_file would make, without making it."""
    args = check_args(WRITE_FILE_SPEC, dict(args))
    with _target(workspace, args["path"], write=True) as target:
        if target.name is None or _is_dir(target):
            raise ToolError(f"{target.rel} is a directory; write_file needs a file path")
        old = _read_text(target, strict=False, missing_ok=True)
        return FileChange(target.path, old, args["content"])


def _is_dir(target: Target) -> bool:
    if target.name is None:
        return True
    if target.dir_fd is None:
        return False
    try:
        info = os.stat(target.name, dir_fd=target.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return stat.S_ISDIR(info.st_mode)


# -- edit_file -------------------------------------------------------------------------

EDIT_FILE_SPEC = ToolSpec(
    name="edit_file",
    description=(
        "Replace exact text in an existing file in the workspace. old_string must match "
        "the file's text exactly, whitespace and indentation included, and must occur "
        "exactly once unless replace_all is true; include enough surrounding lines to make "
        "it unique. Returns a unified diff of the change. Read the file first so "
        "old_string is accurate."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "File path, relative to the workspace."},
            "old_string": {
                "type": "string",
                "description": "The exact text to replace (non-empty).",
            },
            "new_string": {
                "type": "string",
                "description": "The text to put in its place (may be empty to delete).",
            },
            "replace_all": {
                "type": "boolean",
                "description": "Replace every occurrence instead of exactly one. Default false.",
            },
        },
        "required": ["path", "old_string", "new_string"],
        "additionalProperties": False,
    },
)


def preview_edit(workspace: Path, args: Mapping[str, Any]) -> FileChange:
    """The change edit_file would make, without making it. Raises ToolError when
    old_string is missing, or ambiguous without replace_all."""
    args = check_args(EDIT_FILE_SPEC, dict(args))
    old_string: str = args["old_string"]
    new_string: str = args["new_string"]
    if not old_string:
        raise ToolError("old_string is empty; use write_file to create or replace a file")
    if old_string == new_string:
        raise ToolError("old_string and new_string are identical; nothing would change")
    with _target(workspace, args["path"], write=True) as target:
        text = _read_text(target, strict=True)
        path, rel = target.path, target.rel
    assert text is not None
    count = text.count(old_string)
    if count == 0:
        raise ToolError(f"old_string not found in {rel}")
    if count > 1 and not args.get("replace_all", False):
        raise ToolError(
            f"old_string occurs {count} times in {rel}; include more surrounding text to "
            "make it unique, or set replace_all to true"
        )
    return FileChange(path, text, text.replace(old_string, new_string))


# -- applying --------------------------------------------------------------------------


def apply_change(workspace: Path, change: FileChange) -> None:
    """Write `change` atomically, keeping an existing file's mode.

    Refuses (ToolError) if the file no longer holds `change.old_text` (or appeared,
    for a new file): time may pass between preview and apply, e.g. while a user
    approves, and a write must not silently drop someone else's change. The path is
    resolved and checked again, and the file replaced in the directory so resolved.
    """
    with _target(workspace, str(change.path), write=True, create_dirs=True) as target:
        rel = target.rel
        if _is_dir(target):
            raise ToolError(f"{rel} is a directory; write_file needs a file path")
        current = _read_text(target, strict=False, missing_ok=True)
        if current != change.old_text:
            raise ToolError(f"{rel} changed since the change was prepared; read it again")
        assert target.dir_fd is not None and target.name is not None
        if change.old_text is not None and not os.access(
            target.name, os.W_OK, dir_fd=target.dir_fd
        ):
            raise ToolError(f"{rel} is read-only")
        try:
            # Keeps an existing file's permissions; replaces the name in this directory.
            write_atomic_at(target.dir_fd, target.name, change.new_text.encode("utf-8"))
        except OSError as exc:
            raise ToolError(f"cannot write {rel}: {exc.strerror or exc}") from exc


def _guarded(function: Callable[..., _T], *args: Any) -> _T:
    """`function(*args)` with an OSError the checks did not foresee (a disk error, a
    file that vanished mid-read) reported as a refused call, not a crashed tool."""
    try:
        return function(*args)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise ToolError(f"file operation failed{where}: {exc.strerror or exc}") from exc


def _write(workspace: Path, args: Mapping[str, Any]) -> ToolResult:
    change = preview_write(workspace, args)
    apply_change(workspace, change)
    rel = workspace_relative(workspace, change.path)
    size = len(change.new_text.encode("utf-8"))
    verb = "Created" if change.created else "Overwrote"
    return ToolResult(
        content=f"{verb} {rel} ({size} bytes written)",
        metadata={"path": rel, "bytes": size, "created": change.created},
    )


def _edit(workspace: Path, args: Mapping[str, Any]) -> ToolResult:
    change = preview_edit(workspace, args)
    apply_change(workspace, change)
    rel = workspace_relative(workspace, change.path)
    assert change.old_text is not None
    count = change.old_text.count(args["old_string"])
    noun = "occurrence" if count == 1 else "occurrences"
    diff = unified_diff(rel, change.old_text, change.new_text)
    return ToolResult(
        content=f"Edited {rel}: replaced {count} {noun}.\n{diff}",
        metadata={"path": rel, "replacements": count},
    )


class WriteFileTool:
    spec = WRITE_FILE_SPEC

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(_guarded, _write, ctx.workspace, args)


class EditFileTool:
    spec = EDIT_FILE_SPEC

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        return await asyncio.to_thread(_guarded, _edit, ctx.workspace, args)
