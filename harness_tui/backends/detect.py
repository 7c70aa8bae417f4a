"""Which agent runtimes are installed, their versions, how each is authenticated and
which of their own configuration files the project has: what `harness-tui agents`
lists, for every `[agents.NAME]` entry at once.

`<command> --version` runs with a fresh temporary HOME (and XDG directories in it), the
agent's clean environment, stdin closed, in a process group of its own that is killed
whatever happens: asking a runtime its version must not write into the user's own
configuration, wait on a terminal, or leave a launcher's child behind.

Authentication is reported by names only: which key variables the agent would get, and
which credential files exist. No variable's value and no file's content is ever read
into what this returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness_tui.backends.runtimes import agent_env, find_command
from harness_tui.config import AgentConfig

DEFAULT_TIMEOUT_S = 5.0

# How long the end of a --version run's output is waited for once it exited, or was
# killed: a child it left (or one that escaped its group) may hold the pipes open.
READ_GRACE_S = 1.0

# What a --version run may print that is kept: a version is on its first lines.
OUTPUT_LIMIT = 64 * 1024

# The first thing that looks like a version: 2.0.14, v1.18.3, 0.171.0-alpha.2.
VERSION = re.compile(r"(?<![\w.])v?(\d+\.\d+(?:\.\d+)*(?:[-+][0-9A-Za-z][0-9A-Za-z.+-]*)?)")

# A variable whose value is a credential, by its name: ANTHROPIC_API_KEY,
# ANTHROPIC_AUTH_TOKEN, CODEX_API_KEY, ... (not the base URLs and switches beside them).
KEY_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)

# Variables that point an agent at the user's real configuration: dropped for the
# --version run, whose HOME is a sandbox (XDG_* are moved into it).
REAL_CONFIG_VARS = ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "OPENCODE_CONFIG", "OPENCODE_CONFIG_DIR")

INSTALLED = "ok"
MISSING = "missing"
TIMED_OUT = "timeout"
FAILED = "error"
NO_COMMAND = "no command"


@dataclass(frozen=True)
class Runtime:
    """What one runtime keeps where: credential files relative to its configuration
    directory, and project files relative to the project."""

    # Where its credentials live: (variable that moves them, default under HOME, files).
    credentials: tuple[tuple[str, str, tuple[str, ...]], ...]
    # Project configuration: each a file or directory; the first of a group that exists.
    project: tuple[tuple[str, ...], ...]


RUNTIMES = {
    "claude": Runtime(
        credentials=(
            ("CLAUDE_CONFIG_DIR", ".claude", (".credentials.json",)),
            ("CLAUDE_CONFIG_DIR", "", (".claude.json",)),
        ),
        project=((".claude/settings.json", ".claude/settings.local.json", ".claude"),),
    ),
    "codex": Runtime(
        credentials=(("CODEX_HOME", ".codex", ("auth.json",)),),
        project=((".codex/config.toml",),),
    ),
    "opencode": Runtime(
        credentials=(("XDG_DATA_HOME", ".local/share", ("opencode/auth.json",)),),
        project=(("opencode.json", "opencode.jsonc", ".opencode"),),
    ),
    "gemini": Runtime(
        credentials=(("", ".gemini", ("oauth_creds.json",)),),
        project=((".gemini/settings.json",),),
    ),
}


def runtime_of(entry: AgentConfig) -> str | None:
    """Which runtime an entry runs, from its protocol or its command's name
    (claude-agent-acp is Claude Code, codex-acp is Codex); None for one we do not know."""
    if entry.protocol in ("claude", "codex"):
        return entry.protocol
    program = Path(entry.command).name
    for name in RUNTIMES:
        if program.startswith(name):
            return name
    return None


@dataclass(frozen=True)
class Detection:
    """One entry as found on this machine."""

    name: str
    protocol: str
    command: str
    args: list[str]
    path: str | None
    status: str  # ok | missing | timeout | error | no command
    version: str | None = None
    auth_env: list[str] = field(default_factory=list)
    auth_files: list[str] = field(default_factory=list)
    project_config: list[str] = field(default_factory=list)
    package: str = ""
    description: str = ""
    error: str | None = None

    @property
    def installed(self) -> bool:
        return self.path is not None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "name": self.name,
            "protocol": self.protocol,
            "command": self.command,
            "args": self.args,
            "path": self.path,
            "installed": self.installed,
            "status": self.status,
            "version": self.version,
            "auth": {"env": self.auth_env, "files": self.auth_files},
            "project_config": self.project_config,
            "package": self.package,
            "description": self.description,
        }
        if self.error is not None:
            row["error"] = self.error
        return row


async def detect_agents(
    agents: Mapping[str, AgentConfig],
    project: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> list[Detection]:
    """Every entry, detected concurrently, in the order given."""
    environ = dict(os.environ if environ is None else environ)
    return list(
        await asyncio.gather(
            *(
                detect_agent(name, entry, project, timeout=timeout, environ=environ)
                for name, entry in agents.items()
            )
        )
    )


async def detect_agent(
    name: str,
    entry: AgentConfig,
    project: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
) -> Detection:
    environ = os.environ if environ is None else environ
    env = agent_env(entry, environ)
    runtime = RUNTIMES.get(runtime_of(entry) or "")
    found = Detection(
        name=name,
        protocol=entry.protocol,
        command=entry.command,
        args=list(entry.args),
        path=None,
        status=NO_COMMAND if not entry.command else MISSING,
        auth_env=key_variables(entry, env),
        auth_files=credential_files(runtime, env),
        project_config=project_files(runtime, project),
        package=entry.package,
        description=entry.description,
    )
    path = find_command(entry, environ)
    if path is None:
        if not entry.command:
            return replace(found, error=f"agent {name}: no command ([agents.{name}] command)")
        install = f"; install it: npm install -g {entry.package}" if entry.package else ""
        where = "is not an executable file" if "/" in entry.command else "not found on PATH"
        return replace(found, error=f"agent {name}: {entry.command} {where}{install}")
    status, version, error = await ask_version(name, path, env, timeout)
    return replace(found, path=path, status=status, version=version, error=error)


def key_variables(entry: AgentConfig, env: Mapping[str, str]) -> list[str]:
    """The names of the credential variables the agent gets, set and non-empty: from
    its pass_env and its entry's env. Never their values."""
    names = dict.fromkeys([*entry.pass_env, *entry.env])
    return [n for n in names if KEY_NAME.search(n) and env.get(n)]


def credential_files(runtime: Runtime | None, env: Mapping[str, str]) -> list[str]:
    """The runtime's credential files that exist, under the HOME (or the configuration
    directory a variable names) the agent would get; `~/…` when under HOME. Their
    content is never opened."""
    if runtime is None or not env.get("HOME"):
        return []
    home = Path(env["HOME"])
    found = []
    for variable, default, files in runtime.credentials:
        base = Path(env[variable]) if variable and env.get(variable) else home / default
        for name in files:
            path = base / name
            if os.path.isfile(path):
                found.append(_tilde(path, home))
    return found


def project_files(runtime: Runtime | None, project: Path) -> list[str]:
    """The runtime's own configuration the project has, relative to it: the first of
    each group that exists."""
    if runtime is None:
        return []
    found = []
    for group in runtime.project:
        for relative in group:
            if (project / relative).exists():
                found.append(relative + ("/" if (project / relative).is_dir() else ""))
                break
    return found


def _tilde(path: Path, home: Path) -> str:
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def sandbox_env(env: Mapping[str, str], home: Path) -> dict[str, str]:
    """The agent's environment with HOME and the XDG directories in a sandbox, and no
    variable pointing at the user's real configuration."""
    boxed = {k: v for k, v in env.items() if k not in REAL_CONFIG_VARS}
    boxed["HOME"] = str(home)
    for variable, relative in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        boxed[variable] = str(home / relative)
    return boxed


async def ask_version(
    name: str, path: str, env: Mapping[str, str], timeout: float
) -> tuple[str, str | None, str | None]:
    """(status, version, error) of `path --version`, run sandboxed for at most `timeout`
    seconds."""
    home = Path(tempfile.mkdtemp(prefix="harness-agent-home-"))
    try:
        loop = asyncio.get_running_loop()
        try:
            transport, run = await loop.subprocess_exec(
                lambda: _VersionRun(loop),
                path,
                "--version",
                cwd=home,
                env=sandbox_env(env, home),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            return FAILED, None, f"agent {name}: cannot run {path}: {exc.strerror or exc}"
        try:
            await asyncio.wait([run.exited], timeout=timeout)
            if run.exited.done():
                # Its output is in the pipes; a child it left may hold them open.
                await asyncio.wait([run.closed], timeout=READ_GRACE_S)
        finally:
            timed_out = not run.exited.done()
            # Its group goes whatever happened: a launcher's children included.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(transport.get_pid(), signal.SIGKILL)
            await asyncio.wait([run.exited], timeout=READ_GRACE_S)
            if not run.closed.done():
                await asyncio.wait([run.closed], timeout=READ_GRACE_S)
            # Closes the pipes even if a child that escaped the group still holds them.
            transport.close()
        return _verdict(name, path, run, transport.get_returncode(), timed_out, timeout)
    finally:
        shutil.rmtree(home, ignore_errors=True)


class _VersionRun(asyncio.SubprocessProtocol):
    """A --version run's output and its ends. Not asyncio's Process: its wait() returns
    only once the pipes close, never while a child the agent left holds them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        into = self.stdout if fd == 1 else self.stderr
        # Read to the end, so the writer never blocks on a full pipe; keep the start.
        if len(into) < OUTPUT_LIMIT:
            into += data[: OUTPUT_LIMIT - len(into)]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        # The process exited and every pipe closed.
        if not self.closed.done():
            self.closed.set_result(None)


def _verdict(
    name: str,
    path: str,
    run: _VersionRun,
    returncode: int | None,
    timed_out: bool,
    timeout: float,
) -> tuple[str, str | None, str | None]:
    stdout, stderr = run.stdout.decode(errors="replace"), run.stderr.decode(errors="replace")
    version = first_version(stdout) or first_version(stderr)
    command = f"{Path(path).name} --version"
    if timed_out:
        return TIMED_OUT, version, f"agent {name}: `{command}` gave no answer within {timeout:g}s"
    if returncode != 0:
        said = _last_line(stderr) or _last_line(stdout)
        why = f": {said}" if said else ""
        return FAILED, version, f"agent {name}: `{command}` exited {returncode}{why}"
    if version is None:
        said = _last_line(stdout) or _last_line(stderr) or "nothing"
        return FAILED, None, f"agent {name}: `{command}` printed no version ({said})"
    return INSTALLED, version, None


def first_version(text: str) -> str | None:
    match = VERSION.search(text)
    return match.group(1) if match else None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
