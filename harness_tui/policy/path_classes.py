"""Where a path in a command points, judged lexically: the classes a rule's `paths`,
`writes` and `reads` fields name (root, home, system, sensitive, credential, process,
outside, workspace, …).

Purely lexical: paths are classified against the workspace and home they are given,
never by looking at the filesystem, so a rule example judges the same on every machine.
`is_credential_path` answers the same question for the file tools.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property
from os import PathLike, fspath

PATH_CLASSES = frozenset(
    """root home system sensitive credential process outside unknown workspace
    workspace-root workspace-git git-code""".split()
)

GLOB_CHARS = frozenset("*?[")
# $HOME, ${HOME}, ${HOME:?} (fails rather than expanding to nothing), and $PWD alike.
_HOME_OR_PWD = re.compile(r"\$(HOME|PWD|\{(HOME|PWD)(:?\?[^}]*)?\})(?=/|$)")

# Directory trees that belong to the operating system: anything at or under them.
_SYSTEM_TREES = tuple(
    """/bin /boot /dev /etc /lib /lib32 /lib64 /libx32 /opt /proc /root /run /sbin /snap
    /srv /sys /usr /var /System /Library /Applications /private /nix""".split()
)
# Scratch space inside those trees.
_SYSTEM_SCRATCH = ("/var/tmp", "/var/folders", "/private/tmp", "/private/var/folders")
# Directories that must not go themselves, though what is inside them is fair game.
_SYSTEM_EXACT = frozenset({"/home", "/Users", "/tmp", "/mnt", "/media", "/Volumes", "/var/tmp"})
# Keys, tokens and passwords, relative to a home directory: reading them is asking to
# leak them. (harness-tui's own config names the provider keys' variables, and may hold
# a key.)
_CREDENTIALS_IN_HOME = tuple(
    """.ssh .aws .gnupg .kube .docker/config.json .azure .config/gcloud .config/gh
    .config/hub .config/harness-tui .config/op .password-store .netrc .pypirc .npmrc
    .yarnrc.yml .git-credentials .cargo/credentials .cargo/credentials.toml .gem/credentials
    .terraform.d/credentials.tfrc.json .vault-token .pgpass .my.cnf .local/share/keyrings
    .config/git/credentials
    """.split()
)
# Credentials outside any home: container and orchestrator secrets, the password hashes.
_CREDENTIAL_TREES = ("/run/secrets", "/var/run/secrets", "/etc/shadow", "/etc/gshadow")
# Writing these is as bad as writing credentials: they run code at login or configure
# every git command, or they are docker's whole config.
_SENSITIVE_IN_HOME = (
    *_CREDENTIALS_IN_HOME,
    *""".docker .gitconfig .bashrc .bash_profile .bash_login .bash_logout .profile .zshrc
    .zshenv .zprofile .zlogin .zlogout .config/fish .inputrc""".split(),
)
# A path whose start is only known at run time but whose end names a credential.
_CREDENTIAL_TAIL = re.compile(
    "/(" + "|".join(re.escape(name) for name in _CREDENTIALS_IN_HOME) + ")(/|$)"
)
# Inside the workspace's .git: what git runs (hooks) and what tells it what to run.
_GIT_CODE = ("hooks", "config", "config.worktree")
# /proc/<pid>/…: another process's environment, command line, memory, files. The
# shell's own (self, $$, $BASHPID) is harmless but for its environment.
_PROC = re.compile(r"/proc/+([^/]+)(/.*)?")
_OWN_PROC = frozenset({"self", "thread-self", "$$", "${$}", "$BASHPID", "${BASHPID}"})
# Names under /proc that are not processes (/proc/cpuinfo, /proc/sys/…).
_PROCESS_NAME = re.compile(r"\d+|self|thread-self|.*[$*?\[].*")


@dataclass(frozen=True)
class PathContext:
    """Where the command runs: paths are judged inside or outside `workspace`, `~` is
    `home`. Purely lexical: no symlinks are followed, nothing is read from disk."""

    workspace: str
    home: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace", _normalise(self.workspace))
        object.__setattr__(self, "home", _normalise(self.home))

    def resolve(self, word: str, cwd: str | None = ".") -> str | None:
        """The absolute path `word` names when run in `cwd` (relative to the workspace),
        or None when it depends on something only known at run time."""
        text = str(word)
        if getattr(word, "dynamic", False):
            m = _HOME_OR_PWD.match(text)
            rest = text[m.end() :] if m else ""
            if not m or "$" in rest or "`" in rest:
                return None
            if "HOME" in m.group():
                text = self.home + rest
            else:
                base = self._cwd(cwd)
                if base is None:
                    return None
                text = base + rest
        if text == "~" or text.startswith("~/"):
            text = self.home + text[1:]
        elif text.startswith("~"):
            return None  # another user's home
        if not text.startswith("/"):
            base = self._cwd(cwd)
            if base is None:
                return None
            text = f"{base}/{text}"
        return _normalise(text)

    def _cwd(self, cwd: str | None) -> str | None:
        if cwd is None:
            return None
        if cwd == ".":
            return self.workspace
        return self.resolve(cwd, ".")

    def classify(self, word: str, cwds: Iterable[str | None] = (".",)) -> frozenset[str]:
        """The path classes `word` may fall in, over every directory it may run in."""
        # /proc/$PPID/environ is only known at run time, but it is another process's
        # environment whatever $PPID holds.
        classes: set[str] = {"process", "outside", "system"} if is_process_path(word) else set()
        for cwd in cwds:
            path = self.resolve(word, cwd)
            classes |= {"unknown"} if path is None else self._classes(path)
        if "process" in classes:
            classes.discard("unknown")
        elif "unknown" in classes and _CREDENTIAL_TAIL.search(str(word)):
            # $H/.ssh/id_rsa: wherever $H points, this names a key.
            classes |= {"credential", "sensitive"}
        return frozenset(classes)

    def _classes(self, path: str) -> set[str]:
        parts = path.split("/")
        for i, part in enumerate(parts):
            if GLOB_CHARS & set(part):
                return self._glob_classes(parts, i)
        return self._plain_classes(path, covers=False)

    def _glob_classes(self, parts: list[str], i: int) -> set[str]:
        """A glob stands for everything it may match. `*` alone covers its directory;
        any other pattern is tried against the special places that directory holds
        (so /e* may be /etc) and against an ordinary name."""
        parent = "/".join(parts[:i]) or "/"
        pattern, rest = parts[i], parts[i + 1 :]
        if pattern in ("*", ".*", "**") and not rest:
            return self._plain_classes(parent, covers=True)
        prefix = parent.rstrip("/") + "/"
        names = {"{any}"}
        for landmark in self._landmarks:
            if landmark.startswith(prefix):
                names.add(landmark[len(prefix) :].split("/")[0])
        classes: set[str] = set()
        for name in names:
            if name == "{any}" or fnmatchcase(name, pattern):
                classes |= self._classes(posixpath.join(parent, name, *rest))
        return classes

    @cached_property
    def _landmarks(self) -> tuple[str, ...]:
        return (
            *_SYSTEM_TREES,
            *_SYSTEM_EXACT,
            self.home,
            *(f"{self.home}/{name}" for name in _SENSITIVE_IN_HOME),
            self.workspace,
            f"{self.workspace}/.git",
            f"{self.workspace}/.harness",
        )

    def _plain_classes(self, path: str, covers: bool) -> set[str]:
        """Classes of one path; `covers` when it stands for everything inside it."""
        ws, home = self.workspace, self.home
        classes = set()
        if path == "/":
            classes.add("root")
        if path == home or (home.startswith(path.rstrip("/") + "/") and path != "/"):
            classes.add("home")  # the home directory, or a directory holding it
        if _under(path, ws):
            classes.add("workspace")
            if path == ws:
                classes.add("workspace-root")
            if _under(path, ws + "/.git"):
                classes.add("workspace-git")
                if any(_under(path, f"{ws}/.git/{name}") for name in _GIT_CODE):
                    classes.add("git-code")
            if _under(path, ws + "/.harness"):
                classes.add("sensitive")
        else:
            classes.add("outside")
            in_tree = any(_under(path, tree) for tree in _SYSTEM_TREES)
            scratch = any(_under(path, tree) for tree in _SYSTEM_SCRATCH)
            exact = path in _SYSTEM_EXACT and not covers
            if not _under(path, home) and ((in_tree and not scratch) or exact):
                classes.add("system")
        if any(_under(path, f"{home}/{name}") for name in _SENSITIVE_IN_HOME):
            classes.add("sensitive")
        if is_process_path(path):
            classes.add("process")
        elif is_credential_path(path, home):
            classes |= {"credential", "sensitive"}
        return classes


def is_credential_path(path: str | PathLike[str], home: str | PathLike[str]) -> bool:
    """Is `path` (absolute, as resolved as the caller can) a credential: a key or token
    under `home` or any other user's home (~/.ssh, ~/.aws, ~/.netrc, ~/.config/gh,
    ~/.docker/config.json, ~/.kube, ~/.gnupg, ~/.npmrc, ~/.pypirc, …), a mounted secret
    (/run/secrets), or another process's /proc entry (/proc/<pid>/environ, …)?
    Lexical: nothing is read from disk, so resolve symlinks before asking."""
    text = _normalise(fspath(path))
    if is_process_path(text):
        return True
    if any(_under(text, tree) for tree in _CREDENTIAL_TREES):
        return True
    homes = [_normalise(fspath(home))]
    parts = text.split("/")
    if len(parts) > 2 and parts[1] == "root":
        homes.append("/root")
    if len(parts) > 3 and parts[1] in ("home", "Users"):
        homes.append("/".join(parts[:3]))
    return any(
        _under(text, f"{base.rstrip('/')}/{name}")
        for base in homes
        for name in _CREDENTIALS_IN_HOME
    )


def is_process_path(path: str) -> bool:
    """/proc/<pid>/environ of any process, or anything under another process's /proc
    entry (/proc/$PPID/cmdline, /proc/1/root/…); `path` may hold $PPID or a glob."""
    m = _PROC.fullmatch(posixpath.normpath(str(path)))
    if m is None or not _PROCESS_NAME.fullmatch(m.group(1)):
        return False
    rest = (m.group(2) or "").rstrip("/")
    if rest.startswith("/environ") or rest.endswith("/environ"):
        return True  # its own too (/proc/self/task/<tid>/environ): the engine's keys
    return bool(rest) and m.group(1) not in _OWN_PROC


def _normalise(path: str) -> str:
    path = posixpath.normpath(path)
    # POSIX keeps a leading // as implementation-defined; for judging it is just /.
    return "/" + path.lstrip("/") if path.startswith("/") else path


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")
