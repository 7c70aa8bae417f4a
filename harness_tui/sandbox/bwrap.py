"""The bubblewrap command line a confined command runs under: pure, from a `Mounts`
that says what is visible and writable.

Mounts are applied in order and a later one covers an earlier one at and below its
path, so the order is the policy:

1. the whole filesystem, read-only;
2. a fresh /dev and /proc (its own PID namespace: no engine, no other process), and
   private empty /tmp and /run (no sockets of the machine's daemons: docker, dbus);
3. the user's home replaced by an empty tmpfs, then what config grants back (`read`
   read-only, `write` writable), and what a person approved one command to write;
4. the git common dir of a worktree (read-only, so git finds its config), then the
   workspace, writable (workspace-write) or not (read-only), then the few parts of git
   a commit in a worktree writes;
5. last, read-only over the workspace: `.harness/` (the policy and the store), git's
   hooks and config, a worktree's `.git` file and its links back to the main repo: what
   would run code, or change what runs, outside the sandbox later.
"""

from __future__ import annotations

from dataclasses import dataclass

# Namespaces every confined command gets; the network one unless it may use the network.
_NAMESPACES = ("--unshare-pid", "--unshare-ipc", "--unshare-uts")
# Killed with whoever started it (the engine), and without any capability even when the
# engine runs as root: root in the sandbox can neither remount nor unmount what hides.
_LIFETIME = ("--die-with-parent", "--cap-drop", "ALL")

# The probe `detect` runs: the namespaces and system mounts of a real command.
PROBE_ARGS = (
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    *_NAMESPACES,
    "--unshare-net",
    *_LIFETIME,
)


@dataclass(frozen=True, slots=True)
class Mounts:
    """What a confined command sees, as absolute paths (resolved: no symlinks)."""

    workspace: str
    # workspace-write: the workspace is writable; read-only: nothing is but /tmp.
    writable: bool = True
    # Home directories to replace by an empty tmpfs.
    homes: tuple[str, ...] = ()
    # Granted back by config: read-only, and writable (read-only in read-only mode).
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    # Writable for one command a person approved, in any mode.
    granted: tuple[str, ...] = ()
    # Read-only where the command needs to see it (a guard script in the project).
    extra_read: tuple[str, ...] = ()
    # A worktree's git common dir (the main repo's .git), read-only.
    git_visible: tuple[str, ...] = ()
    # What a commit in a worktree writes outside it: its own git dir, the object
    # store, its branch's ref and reflog folders.
    git_writable: tuple[str, ...] = ()
    # Read-only over the workspace: .harness/, .git/hooks, .git/config, ….
    protected: tuple[str, ...] = ()
    # What name resolution needs under /run, bound back when the network is allowed.
    resolver: tuple[str, ...] = ()


def bwrap_args(mounts: Mounts, *, cwd: str, network: bool = False) -> list[str]:
    """bwrap's options (without the program and without `--`) for a command run in
    `cwd`, with or without the network."""
    args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--tmpfs", "/tmp", "--tmpfs", "/run"]
    if network:
        for path in mounts.resolver:
            args += ["--ro-bind-try", path, path]
    for home in mounts.homes:
        args += ["--tmpfs", home]
    for path in (*mounts.read, *mounts.extra_read):
        args += ["--ro-bind-try", path, path]
    for path in mounts.write:
        args += ["--bind-try" if mounts.writable else "--ro-bind-try", path, path]
    for path in mounts.granted:
        args += ["--bind-try", path, path]
    for path in mounts.git_visible:
        args += ["--ro-bind-try", path, path]
    args += ["--bind" if mounts.writable else "--ro-bind", mounts.workspace, mounts.workspace]
    if mounts.writable:
        for path in mounts.git_writable:
            args += ["--bind-try", path, path]
    for path in mounts.protected:
        args += ["--ro-bind-try", path, path]
    args += [*_NAMESPACES, *_LIFETIME]
    if not network:
        args.append("--unshare-net")
    args += ["--chdir", cwd]
    return args
