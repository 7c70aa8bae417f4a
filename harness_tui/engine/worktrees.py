"""Git worktrees for sessions that run on their own branch: async git helpers.

Every call runs the `git` executable as an asyncio subprocess with a clean environment:
each inherited `GIT_*` variable is removed (a `GIT_DIR` or `GIT_INDEX_FILE` left over from
a hook or from the user's shell would point git at the wrong repository) and `LC_ALL=C`,
so the messages this module reads are in English. Failures raise `GitError`, whose
message is one line naming the repository and what failed.

Git takes lock files (`index.lock`, `refs/heads/x.lock`) for the moment it writes; when
another git process holds one, the call is retried with backoff for a few seconds before
it fails. Nothing here knows about sessions or the engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness_tui import paths

__all__ = [
    "DiffSummary",
    "GitError",
    "WorktreeEntry",
    "WorktreeInfo",
    "commit_all",
    "create_worktree",
    "current_branch",
    "diff_summary",
    "git_env",
    "init_repository",
    "list_worktrees",
    "prune_worktrees",
    "remove_worktree",
    "resolve_ref",
    "worktree_path",
    "worktree_root",
]

# Used for a commit only when the repository has no identity configured, so that an
# unattended commit never stops at git's "Please tell me who you are".
FALLBACK_NAME = "harness-tui"
FALLBACK_EMAIL = "harness-tui@localhost"

# Delays between attempts while another git process holds a lock file: about three
# seconds in all, long enough for an editor's or IDE's quick git call to finish.
LOCK_RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)

_LOCK_HELD = re.compile(r"Unable to create '([^']+\.lock)': File exists")
# Another process adding a worktree has made its folder under .git/worktrees but not yet
# written the files in it; git commands that read every worktree then die on it.
_WORKTREE_HALF_MADE = re.compile(r"failed to read \S*worktrees/")

# One lock per repository (and event loop) for the commands that change the list of
# worktrees: git does not guard `worktree add` against a concurrent add or list in the
# same repository, and a collision check is only good while nobody else adds.
_admin_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


class GitError(Exception):
    """A git operation failed. The message is one line naming the repository and what
    failed; `stderr` keeps git's own full text for logs."""

    def __init__(self, message: str, *, repo: Path | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.repo = repo
        self.stderr = stderr


@dataclass(frozen=True, slots=True)
class WorktreeInfo:
    """A worktree this module created: where, on which branch, from which commit."""

    path: Path
    branch: str
    base_commit: str


@dataclass(frozen=True, slots=True)
class WorktreeEntry:
    """One entry of `git worktree list`. `branch` is the short name (None when HEAD is
    detached); `locked` and `prunable` hold git's reason ("" when it gave none)."""

    path: Path
    head: str | None = None
    branch: str | None = None
    bare: bool = False
    detached: bool = False
    locked: str | None = None
    prunable: str | None = None


@dataclass(frozen=True, slots=True)
class DiffSummary:
    """What a branch changed since it left its base: files touched, lines added and
    removed (binary files count as files with no lines), and their paths."""

    files: int = 0
    insertions: int = 0
    deletions: int = 0
    paths: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------
# Where worktrees live.


def worktree_root(project: Path) -> Path:
    """The folder holding a project's session worktrees, under the user's data directory
    rather than inside the checkout, so the project's own tools (test discovery, file
    watchers, `git status`) never see them. The hash keeps two checkouts with the same
    folder name apart."""
    resolved = Path(project).resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:8]
    return paths.user_data_dir() / "worktrees" / f"{resolved.name}-{digest}"


def worktree_path(project: Path, session_id: str) -> Path:
    return worktree_root(project) / session_id


# ---------------------------------------------------------------------------------------
# Running git.


def git_env() -> dict[str, str]:
    """This process's environment without any `GIT_*` variable, in the C locale."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    env["LC_ALL"] = "C"
    return env


@dataclass(frozen=True, slots=True)
class _Done:
    returncode: int
    stdout: str
    stderr: str


async def _run(cwd: Path, args: tuple[str, ...]) -> _Done:
    if not cwd.is_dir():
        raise GitError(f"{cwd} does not exist or is not a directory", repo=cwd)
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=git_env(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH)", repo=cwd) from None
    try:
        stdout, stderr = await proc.communicate()
    except asyncio.CancelledError:
        # A git process left running after its caller gave up would hold its locks.
        if proc.returncode is None:
            proc.kill()
        await asyncio.shield(proc.wait())
        raise
    assert proc.returncode is not None
    return _Done(
        proc.returncode,
        stdout.decode("utf-8", errors="replace"),
        stderr.decode("utf-8", errors="replace"),
    )


def _subcommand(args: tuple[str, ...]) -> str:
    """ "commit" for ("-c", "user.name=x", "commit", ...): what the message should name."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-c":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return "git"


def _failure(cwd: Path, args: tuple[str, ...], done: _Done) -> GitError:
    """One line: the command, the repository, and git's first line of complaint."""
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    # "fatal:" and "error:" lines say what went wrong; hints and progress do not.
    reason = next(
        (line for line in lines if line.startswith(("fatal:", "error:"))),
        lines[0] if lines else f"exit status {done.returncode}",
    )
    reason = reason.removeprefix("fatal: ").removeprefix("error: ")
    if "not a git repository" in reason:
        return GitError(f"{cwd} is not a git repository", repo=cwd, stderr=done.stderr)
    return GitError(
        f"git {_subcommand(args)} failed in {cwd}: {reason}", repo=cwd, stderr=done.stderr
    )


def _admin_lock(repo: Path) -> asyncio.Lock:
    locks = _admin_locks.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(str(repo.resolve()), asyncio.Lock())


async def _git(cwd: Path, *args: str, ok: tuple[int, ...] = (0,)) -> _Done:
    """Run git in `cwd`; a return code outside `ok` raises GitError. A held lock file,
    or a worktree another process is half-way through adding, is retried with backoff:
    in both cases git gave up before changing anything."""
    for delay in (*LOCK_RETRY_DELAYS_S, None):
        done = await _run(cwd, args)
        if done.returncode in ok:
            return done
        lock = _LOCK_HELD.search(done.stderr)
        if lock is None and not _WORKTREE_HALF_MADE.search(done.stderr):
            raise _failure(cwd, args, done)
        if delay is None:
            if lock is None:
                raise _failure(cwd, args, done)
            raise GitError(
                f"git {_subcommand(args)} failed in {cwd}: {lock[1]} is held by another "
                "git process (if none is running, one crashed: remove the file)",
                repo=cwd,
                stderr=done.stderr,
            )
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------
# Reading.


async def current_branch(repo: Path) -> str | None:
    """The branch checked out in `repo`, or None when HEAD is detached."""
    repo = Path(repo)
    done = await _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
    return done.stdout.strip() or None


async def resolve_ref(repo: Path, ref: str) -> str:
    """The commit `ref` (a branch, tag, or sha) names in `repo`, as a full sha."""
    repo = Path(repo)
    done = await _git(
        repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok=(0, 1)
    )
    sha = done.stdout.strip()
    if done.returncode != 0 or not sha:
        raise GitError(f"base ref '{ref}' not found in {repo}", repo=repo, stderr=done.stderr)
    return sha


async def _branch_exists(repo: Path, branch: str) -> bool:
    done = await _git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", ok=(0, 1))
    return done.returncode == 0


async def list_worktrees(repo: Path) -> list[WorktreeEntry]:
    """Every worktree git knows for `repo`, the main checkout first."""
    repo = Path(repo)
    async with _admin_lock(repo):
        return await _list_worktrees(repo)


async def _list_worktrees(repo: Path) -> list[WorktreeEntry]:
    done = await _git(repo, "worktree", "list", "--porcelain")
    entries: list[WorktreeEntry] = []
    for block in done.stdout.strip().split("\n\n"):
        if not block.strip():
            continue
        values: dict[str, str | None] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            values[key] = value
        if "worktree" not in values:
            continue
        branch = values.get("branch")
        entries.append(
            WorktreeEntry(
                path=Path(values["worktree"] or ""),
                head=values.get("HEAD"),
                branch=branch.removeprefix("refs/heads/") if branch else None,
                bare="bare" in values,
                detached="detached" in values,
                locked=values.get("locked"),
                prunable=values.get("prunable"),
            )
        )
    return entries


async def diff_summary(repo: Path, base: str, branch: str) -> DiffSummary:
    """What `branch` changed since it left `base` (`git diff base...branch`): changes
    made on the base branch meanwhile are not counted."""
    repo = Path(repo)
    done = await _git(
        repo, "diff", "--numstat", "-z", "--find-renames", "--end-of-options", f"{base}...{branch}"
    )
    # -z records: "ADDED\tDELETED\tPATH\0", or for a rename "ADDED\tDELETED\t\0OLD\0NEW\0";
    # binary files give "-" for both counts.
    tokens = done.stdout.split("\0")
    insertions = deletions = 0
    changed: list[str] = []
    i = 0
    while i < len(tokens):
        record = tokens[i]
        i += 1
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        if not path:
            path = tokens[i + 1]  # the rename's new path; tokens[i] is the old one
            i += 2
        insertions += int(added) if added.isdigit() else 0
        deletions += int(deleted) if deleted.isdigit() else 0
        changed.append(path)
    return DiffSummary(len(changed), insertions, deletions, tuple(changed))


# ---------------------------------------------------------------------------------------
# Changing.


async def create_worktree(repo: Path, path: Path, branch: str, base: str) -> WorktreeInfo:
    """Check out a new branch `branch`, starting at `base`, in a new worktree at `path`.

    Raises GitError when `base` does not exist, when `branch` already exists (it may hold
    someone's work), or on a path collision: `path` exists and is not an empty folder,
    or is already a worktree. A stale registration of `path` (its folder was deleted
    without `git worktree remove`) is pruned and the add retried once. If the worktree
    cannot be added, the branch made for it is deleted again.
    """
    repo = Path(repo)
    path = Path(path).absolute()
    async with _admin_lock(repo):
        return await _create_worktree(repo, path, branch, base)


async def _create_worktree(repo: Path, path: Path, branch: str, base: str) -> WorktreeInfo:
    base_commit = await resolve_ref(repo, base)
    if await _branch_exists(repo, branch):
        raise GitError(f"branch '{branch}' already exists in {repo}", repo=repo)
    if path.exists() or path.is_symlink():
        registered = {entry.path for entry in await _list_worktrees(repo)}
        if path in registered or path.resolve() in registered:
            raise GitError(f"path collision: {path} is already a worktree of {repo}", repo=repo)
        if not path.is_dir() or any(path.iterdir()):
            raise GitError(
                f"path collision: {path} already exists and is not a worktree of {repo}",
                repo=repo,
            )
    # The branch is made first, on its own: `git worktree add -b` keeps the new branch
    # when the add then fails, and a retry would find it "already exists".
    await _git(repo, "branch", "--no-track", "--end-of-options", branch, base_commit)
    try:
        try:
            await _git(repo, "worktree", "add", "--quiet", str(path), branch)
        except GitError as exc:
            if "already registered" not in exc.stderr:
                raise
            await _prune_worktrees(repo)
            await _git(repo, "worktree", "add", "--quiet", str(path), branch)
    except BaseException:
        await asyncio.shield(_delete_branch(repo, branch))
        raise
    return WorktreeInfo(path=path, branch=branch, base_commit=base_commit)


async def _delete_branch(repo: Path, branch: str) -> None:
    try:
        await _git(repo, "branch", "--quiet", "-D", "--end-of-options", branch)
    except GitError:
        pass  # the add's own error is the one worth reporting


async def init_repository(path: Path, settings: Mapping[str, str] | None = None) -> None:
    """Make `path` a git repository of its own, with `settings` in its local config."""
    path = Path(path)
    await _git(path, "init", "--quiet")
    for key, value in (settings or {}).items():
        await _git(path, "config", key, value)


async def commit_all(path: Path, message: str) -> str | None:
    """Stage everything in the worktree at `path` (new, changed and deleted files, as
    .gitignore allows) and commit it; return the new commit's sha, or None when nothing
    changed.

    The user's identity is used when git has one; otherwise a fixed harness-tui
    identity. Hooks and signing are skipped, because nobody is there to answer a
    passphrase prompt or an interactive hook; the project's checks are the validation
    commands. The message is kept as written (lines starting with '#' included).
    """
    path = Path(path)
    await _git(path, "add", "--all")
    staged = await _git(path, "diff", "--cached", "--quiet", ok=(0, 1))
    if staged.returncode == 0:
        return None
    identity: list[str] = []
    for key, fallback in (("user.name", FALLBACK_NAME), ("user.email", FALLBACK_EMAIL)):
        configured = await _git(path, "config", "--get", key, ok=(0, 1))
        if not configured.stdout.strip():
            identity += ["-c", f"{key}={fallback}"]
    await _git(
        path,
        *identity,
        "-c",
        "commit.gpgsign=false",
        "commit",
        "--quiet",
        "--no-verify",
        "--cleanup=whitespace",
        "-m",
        message.strip() or "harness-tui session changes",
    )
    done = await _git(path, "rev-parse", "HEAD")
    return done.stdout.strip()


async def remove_worktree(repo: Path, path: Path) -> None:
    """Remove the worktree at `path`, uncommitted changes and all; its branch stays.
    A worktree whose folder is already gone is unregistered."""
    repo = Path(repo)
    path = Path(path).absolute()
    async with _admin_lock(repo):
        registered = {entry.path for entry in await _list_worktrees(repo)}
        if path not in registered and path.resolve() not in registered:
            return
        await _git(repo, "worktree", "remove", "--force", str(path))


async def prune_worktrees(repo: Path) -> list[WorktreeEntry]:
    """Forget worktrees whose folders are gone (git's "prunable" entries); return them.
    Their branches stay."""
    repo = Path(repo)
    async with _admin_lock(repo):
        return await _prune_worktrees(repo)


async def _prune_worktrees(repo: Path) -> list[WorktreeEntry]:
    before = [entry for entry in await _list_worktrees(repo) if entry.prunable is not None]
    await _git(repo, "worktree", "prune")
    remaining = {entry.path for entry in await _list_worktrees(repo)}
    return [entry for entry in before if entry.path not in remaining]
