"""The path jail: every path a file tool touches must resolve inside the workspace, and
some places inside it are not the agent's to touch.

Resolution works on open directory handles, the way openat2(RESOLVE_BENEATH) does in
the kernel: from a handle on the workspace root, each component is opened with
O_NOFOLLOW relative to the handle of the one before it. A symlink met on the way is
read and its target walked the same way (an absolute target must name a place in the
workspace; `..` never climbs above the root), so links that stay inside work as usual
and links that lead out are refused. The caller gets a `Target`: a handle on the
directory that holds the final component, and its name there. It reads, creates or
replaces the file relative to that handle (O_NOFOLLOW again), so a directory swapped
for a symlink after the check cannot redirect the operation: the directories the check
went through are the ones the write lands in. (A directory *moved* out of the workspace
while held would take the write with it; the sandbox, not this check, keeps the agent
from moving things out.)

An OSError while resolving (a path through a file, a symlink loop, a name too long) is
an `UnresolvablePathError`: the tool call is refused with the reason, nothing crashes.

What may not be touched even inside the workspace (`check_write`, `check_read`): git's
internals (any `.git`, and the git dir a `.git` file names) and the harness's own files
(`.harness/`, the user's harness-tui config), where code that runs on the next git
command or the agent's own policy lives, are never written; credentials (see
`path_classes.is_credential_path`) are neither read nor written.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from harness_tui.paths import user_config_dir
from harness_tui.policy.path_classes import is_credential_path

# The kernel's own limits: links followed in one resolution, bytes in one name.
MAX_SYMLINKS = 40
NAME_MAX = 255

_O_PATH = getattr(os, "O_PATH", 0)
# A handle on a directory, used only as the base of further lookups: O_PATH needs no
# read permission on it (search permission is enough, as for a path lookup).
_DIR_FLAGS = (_O_PATH or os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# What _Walk._open_dir found instead of a directory (never valid descriptors).
_LINK = -2
_MISSING = -3


class JailError(ValueError):
    """A path a file tool may not use. `rule_id` and `risk` say why, for the policy's
    record; the message says it to the model."""

    rule_id = "jail"
    risk = "high"


class PathEscapeError(JailError):
    """A path that resolves outside the session's workspace."""


class ProtectedPathError(JailError):
    """A path inside the workspace that file tools may not use this way."""

    def __init__(self, message: str, rule_id: str, risk: str = "critical") -> None:
        super().__init__(message)
        self.rule_id = rule_id
        self.risk = risk


class UnresolvablePathError(JailError):
    """A path the kernel cannot resolve: a component is not a directory, a symlink
    loop, a name too long, no permission."""

    rule_id = "path-error"
    risk = "medium"

    def __init__(self, message: str, errno_: int | None) -> None:
        super().__init__(message)
        self.errno = errno_


def workspace_root(workspace: Path) -> Path:
    """The workspace with its own symlinks resolved: the reference every check uses."""
    return Path(os.path.realpath(workspace))


class Target:
    """A path resolved inside the workspace, held open.

    `parts` are its real components relative to the workspace root (no links, no
    `..`); `name` is the final component and `dir_fd` a handle on the directory that
    holds it. `name` is None when the path is a directory reached through `..` or the
    root itself (then `dir_fd` is that directory). `dir_fd` is None when a directory
    on the way does not exist (yet): nothing there can be read, and a write must
    resolve again creating it. Close it (it is a context manager) when done.
    """

    def __init__(
        self, root: Path, parts: tuple[str, ...], dir_fd: int | None, name: str | None
    ) -> None:
        self.root = root
        self.parts = parts
        self.dir_fd = dir_fd
        self.name = name

    @property
    def path(self) -> Path:
        return self.root.joinpath(*self.parts)

    @property
    def rel(self) -> str:
        """The workspace-relative POSIX path; "." for the workspace itself."""
        return "/".join(self.parts) or "."

    def open(self, flags: int, mode: int = 0o666) -> int:
        """os.open of the final component in its directory, never following a link
        there. Raises FileNotFoundError when a directory on the way is missing."""
        if self.dir_fd is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", self.rel)
        if self.name is None:
            return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=self.dir_fd)
        return os.open(self.name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.dir_fd)

    def close(self) -> None:
        if self.dir_fd is not None:
            fd, self.dir_fd = self.dir_fd, None
            os.close(fd)

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_in_workspace(
    workspace: Path,
    path: str,
    *,
    create_dirs: bool = False,
    may_create: Callable[[tuple[str, ...]], None] | None = None,
) -> Target:
    """Resolve `path` (relative to the workspace, or absolute) inside the workspace.

    A final component that does not exist is fine (a file to be written); a missing
    directory on the way leaves `dir_fd` None, or is created with `create_dirs` (after
    `may_create(parts)` did not raise for it). Raises PathEscapeError when `..`, an
    absolute path or a symlink leads outside, UnresolvablePathError for an OSError.
    """
    root = workspace_root(workspace)
    if "\0" in path:
        raise PathEscapeError(f"path {path!r} contains a NUL byte")
    walk = _Walk(workspace, root, path, create_dirs, may_create)
    try:
        return walk.run(_relative(workspace, root, path))
    except OSError as exc:
        raise UnresolvablePathError(_explain(path, walk.at(), exc), exc.errno) from exc
    finally:
        walk.close()


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """The real path `path` names inside the workspace (see `open_in_workspace`). A
    snapshot: whoever opens the result later opens whatever is there then."""
    with open_in_workspace(workspace, path) as target:
        return target.path


def workspace_relative(workspace: Path, resolved: Path) -> str:
    """`resolved` (from resolve_in_workspace) as a workspace-relative POSIX path; "." for
    the workspace itself."""
    rel = resolved.relative_to(workspace_root(workspace))
    return rel.as_posix() if rel.parts else "."


def _relative(workspace: Path, root: Path, path: str) -> str:
    """`path` relative to the root: as given when relative; an absolute path must lie
    under the workspace, named through its real path or the path it was given as, or
    resolve into it."""
    if not path.startswith("/"):
        return path
    inside = _strip_prefix(workspace, root, path)
    if inside is not None:
        return inside
    # Reached through some link outside the workspace: where does it lead now? The walk
    # from the root then re-checks every component on handles.
    resolved = Path(os.path.realpath(path))
    if resolved == root or resolved.is_relative_to(root):
        return resolved.relative_to(root).as_posix()
    raise PathEscapeError(
        f"path {path!r} is outside the workspace {root} (it resolves to {resolved})"
    )


def _strip_prefix(workspace: Path, root: Path, path: str) -> str | None:
    """The rest of the absolute `path` after the workspace (its real path, or the path
    it was given as), or None when it is not under either."""
    for base in (str(root), os.path.abspath(workspace)):
        base = base.rstrip("/")
        # (For the workspace `/`, base is "" and every absolute path is under it.)
        if path == base or path.startswith(base + "/"):
            return path[len(base) :]
    return None


class _Walk:
    """One resolution: a stack of directory handles from the root down."""

    def __init__(
        self,
        workspace: Path,
        root: Path,
        path: str,
        create_dirs: bool,
        may_create: Callable[[tuple[str, ...]], None] | None,
    ) -> None:
        self.workspace = workspace
        self.root = root
        self.path = path
        self.create_dirs = create_dirs
        self.may_create = may_create
        self.fds: list[int] = []
        self.names: list[str] = []
        self.current = ""  # the component being looked at, for messages

    def at(self) -> str:
        return "/".join([*self.names, self.current]).strip("/") or "."

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())

    def _escape(self, how: str) -> PathEscapeError:
        return PathEscapeError(f"path {self.path!r} is outside the workspace {self.root} ({how})")

    def run(self, rel: str) -> Target:
        self.fds.append(os.open(self.root, _DIR_FLAGS & ~os.O_NOFOLLOW))
        pending = _components(rel)
        links = 0
        # A directory on the way does not exist: from names[missing_from] on, the names
        # are taken as written (nothing there can be a link), as a write that creates
        # them will find them.
        missing = False
        missing_from = 0
        final: str | None = None
        while pending:
            name = pending.pop()
            self.current = name
            if name == ".." and missing:
                self.names.pop()
                missing = len(self.names) > missing_from
                continue
            if name == "..":
                if not self.names:
                    raise self._escape("`..` leads above it")
                os.close(self.fds.pop())
                self.names.pop()
                continue
            if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
                raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG))
            last = not pending
            if missing:
                self.names.append(name)
                if last:
                    final = self.names.pop()
                continue
            top = self.fds[-1]
            if last:
                try:
                    info = os.stat(name, dir_fd=top, follow_symlinks=False)
                except FileNotFoundError:
                    final = name
                    break
                if not stat.S_ISLNK(info.st_mode):
                    final = name
                    break
            else:
                fd = self._open_dir(top, name)
                if fd == _MISSING:
                    missing, missing_from = True, len(self.names)
                    self.names.append(name)
                    continue
                if fd != _LINK:
                    self.fds.append(fd)
                    self.names.append(name)
                    continue
            # A symlink: walk its target instead, from where it is.
            links += 1
            if links > MAX_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
            try:
                target = os.readlink(name, dir_fd=top)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOENT):
                    raise
                # No longer a link (swapped meanwhile): look at the name again.
                pending.append(name)
                continue
            if target.startswith("/"):
                inside = _strip_prefix(self.workspace, self.root, target)
                if inside is None:
                    link = "/".join([*self.names, name])
                    raise self._escape(f"{link} is a symlink to {target}")
                while len(self.fds) > 1:
                    os.close(self.fds.pop())
                self.names.clear()
                target = inside
            pending.extend(_components(target))
        self.current = ""
        if final is None:
            # The path is a directory (the root, or reached through `..`).
            return Target(self.root, tuple(self.names), self.fds.pop(), None)
        parts = (*self.names, final)
        if missing:
            return Target(self.root, parts, None, final)
        return Target(self.root, parts, self.fds.pop(), final)

    def _open_dir(self, top: int, name: str) -> int:
        """A handle on the directory `name` in `top`; _LINK when it is a symlink,
        _MISSING when it does not exist (and is not to be created)."""
        error: OSError | None = None
        # A name swapped between a directory and a link while it is looked at is
        # looked at again: what it is when opened is what counts.
        for _ in range(4):
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=top)
            except FileNotFoundError:
                if not self.create_dirs:
                    return _MISSING
                if self.may_create is not None:
                    self.may_create((*self.names, name))
                try:
                    os.mkdir(name, 0o777, dir_fd=top)
                except FileExistsError:
                    pass  # made meanwhile by someone else: open what is there
            except OSError as exc:
                # O_NOFOLLOW on a link: ELOOP, or ENOTDIR with O_PATH. Anything else
                # (a file where a directory should be, too) is the caller's error.
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                error = exc
                try:
                    mode = os.stat(name, dir_fd=top, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    continue
                if stat.S_ISLNK(mode):
                    return _LINK
                if not stat.S_ISDIR(mode):
                    raise
        raise error or FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)


def _components(path: str) -> list[str]:
    """The components of `path` to walk, last first (a stack), without empty and `.`."""
    return [part for part in reversed(path.split("/")) if part not in ("", ".")]


def _explain(path: str, where: str, exc: OSError) -> str:
    code = exc.errno
    if code == errno.ENOTDIR:
        why = f"{where} is not a directory"
    elif code == errno.ELOOP:
        why = f"too many levels of symbolic links at {where} (a symlink loop?)"
    elif code == errno.ENAMETOOLONG:
        why = f"a file name in it is too long (at most {NAME_MAX} bytes)"
    elif code in (errno.EACCES, errno.EPERM):
        why = f"permission denied at {where}"
    elif code == errno.ENOENT:
        why = f"{where} does not exist"
    else:
        why = f"{exc.strerror or exc} at {where}"
    return f"cannot resolve {path!r}: {why}"


# -- what may not be touched ------------------------------------------------------------


def check_write(target: Target, path: str) -> None:
    """Raise ProtectedPathError when the file tools may not write `target`."""
    reason = protected_reason(target.root, target.parts, path)
    if reason is not None:
        raise reason
    check_read(target, path, verb="writing")


def protected_reason(root: Path, parts: tuple[str, ...], path: str) -> ProtectedPathError | None:
    """Why writing the workspace-relative `parts` is refused, or None. Also asked before
    a missing directory is created on the way to a write."""
    for depth, part in enumerate(parts):
        folded = part.casefold()
        where = "/".join(parts[: depth + 1])
        if folded == ".git":
            return ProtectedPathError(
                f"writing {path!r} is refused: {where} is git's own (hooks, config, refs), "
                "where a change runs code or rewrites history on the next git command; "
                "use git commands for git's state",
                "git-internals",
            )
        if folded == ".harness":
            return ProtectedPathError(
                f"writing {path!r} is refused: {where} is where harness-tui keeps its "
                "policy, config and data",
                "harness-files",
            )
    for prefix in _git_dirs(root):
        if parts[: len(prefix)] == prefix:
            return ProtectedPathError(
                f"writing {path!r} is refused: {'/'.join(prefix)} is git's own (the git "
                "directory named by .git, or its hooks)",
                "git-internals",
            )
    absolute = os.path.join(root, *parts)
    config = os.path.realpath(user_config_dir())
    if absolute == config or absolute.startswith(config + "/"):
        return ProtectedPathError(
            f"writing {path!r} is refused: {config} is harness-tui's user config and policy",
            "harness-files",
        )
    return None


def check_read(target: Target, path: str, *, verb: str = "reading") -> None:
    """Raise ProtectedPathError when `target` holds credentials."""
    absolute = os.path.join(target.root, *target.parts)
    for home in home_dirs():
        if is_credential_path(absolute, home):
            raise ProtectedPathError(
                f"{verb} {path!r} is refused: {absolute} holds credentials, which file "
                "tools neither read nor write",
                "credentials",
            )


def home_dirs() -> tuple[str, ...]:
    """The user's home as $HOME says and as the password database says, each also with
    its links resolved: credentials are where either puts them."""
    homes = {os.path.expanduser("~")}
    try:
        homes.add(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    return tuple(sorted({*homes, *(os.path.realpath(home) for home in homes)} - {"", "/"}))


def _git_dirs(root: Path) -> list[tuple[str, ...]]:
    """Workspace-relative directories that are git's besides any `.git`: the git dir a
    `.git` file at the root names (a worktree's or submodule's), and the hooks
    directory a `.git/hooks` symlink leads to, when they lie inside the workspace."""
    dot_git = root / ".git"
    found: list[tuple[str, ...]] = []
    try:
        info = os.lstat(dot_git)
    except OSError:
        return found
    git_dir: Path | None = dot_git if stat.S_ISDIR(info.st_mode) else None
    if stat.S_ISREG(info.st_mode) and info.st_size < 4096:
        try:
            text = dot_git.read_text(errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            if line.startswith("gitdir:"):
                git_dir = Path(os.path.realpath(root / line.removeprefix("gitdir:").strip()))
                break
    if git_dir is None:
        return found
    for candidate in (git_dir, Path(os.path.realpath(git_dir / "hooks"))):
        if candidate.is_relative_to(root) and candidate != root:
            found.append(candidate.relative_to(root).parts)
    return found
