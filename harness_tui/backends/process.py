"""An agent's process: started in a process group of its own with the environment its
entry gives, spoken to one JSON object per line, and ended as a group.

npm launchers start native children and exit or linger beside them: killing only the
launcher would leave the agent running, so the whole group is signalled, always.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from harness_tui.backends.agent import AgentError, AgentSpec

# A protocol line can carry a whole file (a diff, a read): asyncio's default 64 KiB
# limit would end the connection on the first big one.
LINE_LIMIT = 64 * 1024 * 1024
# What is kept of the agent's stderr, for the one line that says why it stopped.
STDERR_LINES = 20
# After SIGTERM, the group has this long before SIGKILL.
TERM_GRACE_S = 2.0


class AgentProcess:
    def __init__(self, spec: AgentSpec, process: asyncio.subprocess.Process) -> None:
        self.spec = spec
        self.process = process
        self.pid = process.pid
        # start_new_session: the agent leads a group (and session) of its own.
        self.pgid = process.pid
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_task = asyncio.create_task(self._read_stderr())
        self._write_lock = asyncio.Lock()

    @classmethod
    async def start(cls, spec: AgentSpec) -> AgentProcess:
        """Start the agent. AgentError names the agent and the command when it cannot."""
        if not spec.argv:
            raise AgentError(f"agent {spec.name}: no command configured ([agents.{spec.name}])")
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=LINE_LIMIT,
            )
        except FileNotFoundError:
            raise AgentError(
                f"agent {spec.name}: command not found: {spec.argv[0]} "
                f"(install it, or set [agents.{spec.name}] command)"
            ) from None
        except PermissionError as exc:
            raise AgentError(f"agent {spec.name}: cannot run {spec.argv[0]}: {exc}") from None
        return cls(spec, process)

    @property
    def stdin(self) -> asyncio.StreamWriter:
        assert self.process.stdin is not None
        return self.process.stdin

    @property
    def stdout(self) -> asyncio.StreamReader:
        assert self.process.stdout is not None
        return self.process.stdout

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def send(self, message: dict[str, Any]) -> None:
        """Write one JSON object as one line. AgentError when the agent is gone."""
        line = json.dumps(message, separators=(",", ":")) + "\n"
        async with self._write_lock:
            try:
                self.stdin.write(line.encode())
                await self.stdin.drain()
            except (BrokenPipeError, ConnectionResetError, RuntimeError) as exc:
                raise self.gone(f"its stdin closed ({type(exc).__name__})") from None

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """The JSON objects the agent writes on stdout, one per line, until it closes
        it. A line that is not a JSON object is kept with stderr (npm launchers print
        notices there) and skipped."""
        while True:
            try:
                raw = await self.stdout.readline()
            except ValueError:  # a line over LINE_LIMIT
                raise self.gone("it wrote a line too long to read") from None
            if not raw:
                return
            text = raw.decode(errors="replace").strip()
            if not text:
                continue
            try:
                message = json.loads(text)
            except json.JSONDecodeError:
                self._stderr.append(text)
                continue
            if isinstance(message, dict):
                yield message
            else:
                self._stderr.append(text)

    async def ended(self, timeout: float = TERM_GRACE_S) -> None:
        """Wait (at most `timeout`) for the agent to exit and its stderr to be read to the
        end, so that `gone` can say how it ended and what it said last."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), timeout)
        # asyncio.wait: the reader cancelled meanwhile (stop) is not our cancellation.
        await asyncio.wait([self._stderr_task], timeout=timeout)

    def gone(self, what: str) -> AgentError:
        """The one-line error for an agent that stopped answering: what happened, its
        exit status if it exited, and its last line on stderr."""
        parts = [f"agent {self.spec.name}: {what}"]
        if self.process.returncode is not None:
            parts.append(f"exit status {self.process.returncode}")
        tail = self.stderr_tail()
        if tail:
            parts.append(f"stderr: {tail}")
        return AgentError("; ".join(parts))

    def stderr_tail(self) -> str:
        """The agent's last non-empty line of stderr."""
        for line in reversed(self._stderr):
            if line.strip():
                return line.strip()[:300]
        return ""

    async def _read_stderr(self) -> None:
        stream = self.process.stderr
        if stream is None:
            return
        with contextlib.suppress(ValueError, ConnectionError):
            while raw := await stream.readline():
                self._stderr.append(raw.decode(errors="replace").rstrip())

    async def stop(self, grace: float = TERM_GRACE_S) -> None:
        """End the agent's whole group: stdin closed and SIGTERM, then SIGKILL for what
        is left after `grace`. Idempotent; returns once the agent itself was reaped."""
        with contextlib.suppress(Exception):
            self.stdin.close()
        # Agents run their tools in sessions of their own (Claude Code's Bash does):
        # outside the group, they are found as the agent's descendants.
        tree = descendants(self.pid)
        kill_group(self.pgid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), grace)
        except TimeoutError:
            pass
        # Children that outlived the leader (or ignored TERM) go too.
        kill_group(self.pgid, signal.SIGKILL)
        kill_tree(tree, self.pgid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), grace)
        self._stderr_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._stderr_task

    def kill_now(self) -> None:
        """SIGKILL the group at once, without waiting (the engine is going away)."""
        tree = descendants(self.pid)
        kill_group(self.pgid, signal.SIGKILL)
        kill_tree(tree, self.pgid)


def kill_group(pgid: int, sig: int) -> None:
    if pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# A process as /proc tells it: (pid, process group, start time).
Proc = tuple[int, int, str]


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(parent pid, process group, start time) of a running process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[2]), fields[19].decode()


def descendants(pid: int) -> list[Proc]:
    """Every live descendant of `pid`, wherever its group or session (Linux /proc;
    empty elsewhere)."""
    try:
        entries = [int(e) for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    children: dict[int, list[Proc]] = {}
    for entry in entries:
        stat = _stat(entry)
        if stat is not None:
            children.setdefault(stat[0], []).append((entry, stat[1], stat[2]))
    found: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def kill_tree(tree: list[Proc], pgid: int) -> None:
    """SIGKILL what is left of an agent's descendants outside its group: each one's own
    group too (a tool's children), unless its pid now belongs to another process."""
    for pid, group, started in tree:
        stat = _stat(pid)
        if stat is None or stat[2] != started:
            continue
        if group not in (pgid, os.getpgrp()):
            kill_group(group, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
