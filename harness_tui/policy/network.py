"""Which commands need the network: what a sandbox without it would break, so a person
is asked before such a command runs (and, approved, it runs with the network).

A small classifier over one segment's normalised argv (see `policy.shell`: wrappers
such as `sudo`, `env`, `timeout` are already peeled, `git -C dir` is `git`). It names
the usual ways out: downloaders and raw sockets, remote shells and copies, git's remote
commands, package managers' installs and publishes. What it misses still meets the
sandbox, which has no network: the command fails rather than reaching out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The whole command is about the network.
_ALWAYS = frozenset(
    {
        "curl",
        "wget",
        "wget2",
        "aria2c",
        "http",
        "https",
        "httpie",
        "xh",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "telnet",
        "ftp",
        "sftp",
        "ssh",
        "scp",
        "mosh",
        "ping",
        "ping6",
        "dig",
        "nslookup",
        "host",
        "gh",
        "glab",
        "npx",
        "pnpx",
        "bunx",
        "uvx",
        "pipx",
    }
)

# Tool -> the subcommands (first operand) that reach the network.
_SUBCOMMANDS: dict[str, frozenset[str]] = {
    "git": frozenset(
        {"fetch", "pull", "push", "clone", "ls-remote", "remote", "submodule", "send-email"}
    ),
    "pip": frozenset({"install", "download", "wheel", "search"}),
    "npm": frozenset(
        {"install", "i", "ci", "add", "update", "upgrade", "publish", "exec", "login", "view"}
    ),
    "pnpm": frozenset({"install", "i", "add", "update", "up", "publish", "dlx", "fetch"}),
    "yarn": frozenset({"install", "add", "upgrade", "up", "publish", "dlx", "npm"}),
    "bun": frozenset({"install", "i", "add", "update", "publish", "x"}),
    "cargo": frozenset({"install", "fetch", "publish", "update", "add", "search", "login"}),
    "go": frozenset({"get", "install", "mod"}),
    "gem": frozenset({"install", "update", "push", "fetch"}),
    "bundle": frozenset({"install", "update"}),
    "composer": frozenset({"install", "require", "update"}),
    "poetry": frozenset({"install", "add", "update", "lock", "publish"}),
    "twine": frozenset({"upload"}),
    "docker": frozenset({"pull", "push", "login", "search"}),
    "podman": frozenset({"pull", "push", "login", "search"}),
    "apt": frozenset({"install", "update", "upgrade", "download"}),
    "apt-get": frozenset({"install", "update", "upgrade", "download", "source"}),
}
_PIP = frozenset({"pip", "pip3"})
_UV = frozenset({"add", "sync", "lock", "tool", "pip", "python", "publish"})
_UV_PIP = frozenset({"install", "sync", "download", "compile"})
# Options of git before its subcommand that take a value.
_GIT_VALUE_OPTIONS = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
# A remote operand of rsync, scp and friends: [user@]host:path or a URL.
# (A colon before any slash: `host:path`, `user@host:/path`, `host::module`.)
_REMOTE = re.compile(r"^[a-z][a-z0-9+.-]*://|^(?:[^/@:\s]+@)?[^/:\s]+:", re.IGNORECASE)
_URL = re.compile(r"^(?:https?|ftp|ssh|git|rsync)://", re.IGNORECASE)


def needs_network(argv: Sequence[str]) -> str | None:
    """Why the command `argv` (one segment, normalised) needs the network, or None."""
    words = [str(word) for word in argv]
    if not words:
        return None
    name = words[0].rsplit("/", 1)[-1]
    rest = words[1:]
    if name in _ALWAYS:
        return f"{name} uses the network"
    if re.fullmatch(r"python[\d.]*", name) and rest[:2] in (["-m", "pip"], ["-m", "pip3"]):
        name, rest = "pip", rest[2:]
    if name in _PIP:
        return _pip(name, rest)
    if name == "uv":
        return _uv(rest)
    if name == "rsync":
        remote = next((w for w in rest if not w.startswith("-") and _REMOTE.match(w)), None)
        return f"rsync to or from {remote} uses the network" if remote else None
    if name == "git":
        rest = _after_git_options(rest)
    subcommands = _SUBCOMMANDS.get(name)
    if subcommands is not None:
        sub = next((w for w in rest if not w.startswith("-")), None)
        if sub in subcommands and not (name == "git" and not _git_remote(sub, rest)):
            return f"{name} {sub} uses the network"
        if name == "yarn" and sub is None:
            return "yarn (install) uses the network"
    if any(_URL.match(word) for word in rest) and name in ("git", "svn", "hg"):
        return f"{name} with a URL uses the network"
    return None


def _pip(name: str, rest: list[str]) -> str | None:
    sub = next((w for w in rest if not w.startswith("-")), None)
    if sub in _SUBCOMMANDS["pip"] and "--no-index" not in rest:
        return f"{name} {sub} uses the network"
    return None


def _uv(rest: list[str]) -> str | None:
    operands = [w for w in rest if not w.startswith("-")]
    if not operands or operands[0] not in _UV:
        return None
    if operands[0] == "pip" and (len(operands) < 2 or operands[1] not in _UV_PIP):
        return None
    if "--offline" in rest:
        return None
    return f"uv {' '.join(operands[:2])} uses the network"


def _after_git_options(rest: list[str]) -> list[str]:
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        i += 2 if rest[i] in _GIT_VALUE_OPTIONS else 1
    return rest[i:]


def _git_remote(sub: str, rest: list[str]) -> bool:
    """`git remote` and `git submodule` reach out only in some forms."""
    operands = [w for w in rest[1:] if not w.startswith("-")]
    if sub == "remote":
        return (
            bool(operands)
            and operands[0] in ("update", "prune", "show")
            and (operands[0] != "show" or "-n" not in rest)
        )
    if sub == "submodule":
        return bool(operands) and operands[0] in ("update", "sync", "add") or "--remote" in rest
    return True
