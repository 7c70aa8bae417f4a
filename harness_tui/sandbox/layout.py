"""What a confined command's mounts depend on, read from the machine: the homes to hide,
where a worktree's git data lives, what name resolution needs. Small reads only (a
`.git` file, a HEAD, a symlink), done for each command, since a workspace's git layout
can change between commands."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness_tui.paths import harness_dir


@dataclass(frozen=True, slots=True)
class GitParts:
    visible: tuple[str, ...] = ()
    writable: tuple[str, ...] = ()
    protected: tuple[str, ...] = ()


def real(path: str | Path) -> str:
    """`path` absolute, `~` expanded, symlinks resolved (bwrap binds by real path)."""
    return str(Path(path).expanduser().resolve())


def homes(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The user's home directories to hide: $HOME and the password file's, if they
    differ; never `/`."""
    found: list[str] = []
    candidates = [environ.get("HOME", "")]
    try:
        candidates.append(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    for home in candidates:
        if not home or not os.path.isabs(home):
            continue
        path = real(home)
        if path != "/" and os.path.isdir(path) and path not in found:
            found.append(path)
    return tuple(found)


def resolver_dirs() -> tuple[str, ...]:
    """The folder /etc/resolv.conf points into when it lives under /run (systemd-resolved,
    resolvconf), which the sandbox's private /run would otherwise hide."""
    target = os.path.realpath("/etc/resolv.conf")
    if target.startswith("/run/") and os.path.exists(target):
        return (os.path.dirname(target),)
    return ()


def granted(paths: Iterable[str]) -> tuple[str, ...]:
    """Config's `[sandbox] read` / `write` entries as real paths."""
    return tuple(dict.fromkeys(real(path) for path in paths if path))


def write_grants(paths: Iterable[str]) -> tuple[str, ...]:
    """The folders to make writable so that a command can write (create, replace,
    remove) each of `paths`: the folder it is in, or that folder's nearest existing
    ancestor; never `/`, which would undo the sandbox."""
    found: dict[str, None] = {}
    for path in paths:
        folder = Path(path).expanduser().parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        resolved = real(folder)
        if resolved != "/":
            found[resolved] = None
    return tuple(found)


def workspace_protection(workspace: Path) -> tuple[str, ...]:
    """The workspace's own `.harness/`: read-only inside, and a mount point, so that it
    cannot be renamed away and replaced either. Made (empty) when missing, for the same
    reason: an empty folder changes nothing for git or the project."""
    private = harness_dir(workspace)
    try:
        private.mkdir(exist_ok=True)
    except OSError:
        pass  # a workspace we cannot write: the command cannot either
    return (str(private),)


def git_parts(workspace: Path) -> GitParts:
    """How git's data in or for `workspace` is mounted.

    A repository whose `.git` is a folder in the workspace: `.git` is bound onto itself
    (a mount point cannot be renamed, so it cannot be swapped for a folder of the
    command's making), then its hooks and config read-only over it.

    A worktree, whose `.git` is a file naming its git dir in the main repository
    (`<repo>/.git/worktrees/NAME`): the main repository's git dir is shown read-only,
    and of it only what a commit in the worktree writes is writable: the worktree's own
    git dir, the object store, and the folders of its branch's ref and reflog. The `.git`
    file and the git dir's links back (`commondir`, `gitdir`, `config.worktree`) stay
    read-only: the engine runs git in the worktree itself, outside the sandbox, and must
    find the repository it made."""
    dot = workspace / ".git"
    if dot.is_dir() and not dot.is_symlink():
        hooks = dot / "hooks"
        try:
            hooks.mkdir(exist_ok=True)
        except OSError:
            pass
        return GitParts(writable=(str(dot),), protected=(str(hooks), str(dot / "config")))
    if not dot.is_file():
        return GitParts()
    try:
        first = dot.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return GitParts(protected=(str(dot),))
    if not first.startswith("gitdir:"):
        return GitParts(protected=(str(dot),))
    gitdir = Path(real(workspace / first.removeprefix("gitdir:").strip()))
    protected = [
        str(dot),
        *(str(gitdir / name) for name in ("commondir", "gitdir", "config.worktree")),
    ]
    common = gitdir
    try:
        common = Path(real(gitdir / (gitdir / "commondir").read_text().strip()))
    except OSError:
        pass
    writable = [str(gitdir), str(common / "objects")]
    try:
        head = (gitdir / "HEAD").read_text().strip()
    except OSError:
        head = ""
    if head.startswith("ref: refs/"):
        ref = Path(head.removeprefix("ref: "))
        writable += [str(common / ref.parent), str(common / "logs" / ref.parent)]
    inside = Path(real(workspace))
    if inside == common or inside in common.parents:
        return GitParts(protected=tuple(protected))
    return GitParts(visible=(str(common),), writable=tuple(writable), protected=tuple(protected))
