"""Background tasks: shell commands that outlived `inline_ms`, and subagents.

A task has a durable handle (`task_id`, `task.started` in the log). Its output goes
live to subscribers, into an artifact file in full (every byte as the command wrote
it, streamed to disk by the shell), and into the log as coalesced `task.output`
chunks of a bounded size, up to `[tools] output_store_max_bytes` per task; there the
log says it was cut and names the file. Its end (`task.completed | task.failed |
task.cancelled`) is written by the session's loop, which then tells the agent: in its
running turn, or in a new one it wakes it for.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, Protocol

from harness_tui import events as ev
from harness_tui.engine.context import EngineContext
from harness_tui.engine.owner import current_owner
from harness_tui.engine.processes import process_record
from harness_tui.engine.session import SessionState
from harness_tui.events import Event, utcnow
from harness_tui.policy.redact import RedactingStream
from harness_tui.providers.scripted import subagent_script
from harness_tui.store import StoreError
from harness_tui.tools.base import TaskInfo, ToolError
from harness_tui.tools.bash import ShellProcess, stop_shell

# Output is written to the log at most this often, or sooner when this much piles up:
# readable live tails without an event per line.
FLUSH_INTERVAL_S = 0.5
FLUSH_BYTES = 16 * 1024
# One task.output event carries at most this much text (UTF-8): a burst of output is
# several events, none of them large to write, read or replay.
CHUNK_BYTES = 64 * 1024
# What the store spends on a task's output beyond its text (rows, index entries, the
# partly filled last page of each large row), held back from the cap so that the
# output's events together take at most [tools] output_store_max_bytes of the store;
# and room for the line that says where the output was cut.
STORE_OVERHEAD_SHARE = 1 / 32
CUT_NOTE_BYTES = 512
# The summary of a finished command: its last lines, within a size (one line can be
# any length).
SUMMARY_LINES = 15
SUMMARY_BYTES = 4096


class Subagents(Protocol):
    """How tasks start, wait for and stop child sessions (the Engine facade does)."""

    async def start_session(
        self,
        prompt: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        workspace: str | Path | None = None,
        parent_id: str | None = None,
        preset: str | None = None,
        approval_mode: str | None = None,
        sandbox_mode: str | None = None,
        sandbox_network: bool | None = None,
    ) -> str: ...

    async def wait(self, session_id: str) -> SessionState: ...

    async def cancel(self, session_id: str) -> object: ...


class TaskOwner(Protocol):
    """The session a task belongs to: it records the task's events and is woken by
    its end. `wake` queues the notice at once, whatever the session is doing, and the
    session hands it to the model exactly once: in its running turn or a new one."""

    @property
    def state(self) -> SessionState: ...

    async def emit(self, type_: str, data: dict[str, Any]) -> Event: ...

    def wake(self, text: str) -> None: ...

    async def settle(self) -> None: ...

    def store_failed(self, exc: StoreError) -> None:
        """The session's log cannot be written: the session stops."""
        ...


@dataclass(eq=False)
class BackgroundTask:
    task_id: str
    session_id: str
    kind: str  # shell | subagent
    title: str
    output_path: Path | None = None
    shell: ShellProcess | None = None
    child_session_id: str | None = None
    status: str = "running"
    exit_code: int | None = None
    summary: str = ""
    # Whether the agent should be woken by the end: not when it waited for it itself.
    notify: bool = True
    cancel_requested: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)
    pending: list[str] = field(default_factory=list)
    pending_bytes: int = 0
    # What the log holds of the output so far (as the store encodes it), and whether
    # it reached [tools] output_store_max_bytes and was cut.
    stored_bytes: int = 0
    kept_bytes: int = 0  # the same text's UTF-8 bytes: what the note says was kept
    cut: bool = False
    # Secrets never span a line end (but for key blocks, which it holds whole): the log
    # gets the output a whole line at a time, so no secret is stored cut in two
    # events, where the redaction of each would miss it.
    lines: RedactingStream | None = None
    decoder: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )
    supervisor: asyncio.Task[None] | None = None

    def info(self) -> TaskInfo:
        return TaskInfo(
            self.task_id, self.kind, self.title, self.status, self.exit_code, self.summary
        )


class TaskManager:
    """Every running background task of one engine."""

    def __init__(self, ctx: EngineContext, sessions: Subagents) -> None:
        self.ctx = ctx
        self.sessions = sessions
        self.tasks: dict[str, BackgroundTask] = {}

    def host_for(self, owner: TaskOwner) -> SessionTasks:
        return SessionTasks(self, owner)

    def running_for(self, session_id: str) -> list[BackgroundTask]:
        """The session's tasks whose end it has yet to hear: running, or ending (a task
        leaves only once its end is on the record and handed to the session)."""
        return [t for t in self.tasks.values() if t.session_id == session_id]

    async def cancel_session(self, session_id: str) -> None:
        """Stop every task of the session; their ends are recorded, nobody is woken."""
        running = self.running_for(session_id)
        for task in running:
            task.notify = False
            await self._stop(task)
        for task in running:
            await task.done.wait()

    async def close(self) -> None:
        for session_id in {t.session_id for t in self.tasks.values() if t.status == "running"}:
            await self.cancel_session(session_id)

    def kill_now(self) -> None:
        """SIGKILL the process group of every running shell task, recording nothing:
        for a process that must exit at once, with no time left to stop them in order."""
        for task in self.tasks.values():
            pgid = task.shell.pgid if task.shell is not None else None
            if pgid is not None:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    async def _stop(self, task: BackgroundTask) -> None:
        task.cancel_requested = True
        if task.shell is not None:
            await stop_shell(task.shell)
        elif task.child_session_id is not None:
            await self.sessions.cancel(task.child_session_id)


class SessionTasks:
    """The TaskHost the tools of one session use."""

    def __init__(self, manager: TaskManager, owner: TaskOwner) -> None:
        self.manager = manager
        self.owner = owner
        self.ctx = manager.ctx
        self.inline_ms = self.ctx.config.tools.inline_ms

    @property
    def session_id(self) -> str:
        return self.owner.state.session_id

    def _new_id(self) -> str:
        # Derived from the log, so ids stay unique across restarts of the session.
        return f"{self.session_id}-t{len(self.owner.state.tasks) + 1}"

    def _get(self, task_id: str) -> BackgroundTask:
        if task_id.startswith("t") and task_id[1:].isdigit():
            task_id = f"{self.session_id}-{task_id}"  # the short form, within a session
        task = self.manager.tasks.get(task_id)
        if task is not None and task.session_id == self.session_id:
            return task
        recorded = self.owner.state.tasks.get(task_id)
        if recorded is not None:
            raise ToolError(f"task {task_id} is {recorded.status}: {recorded.summary}".strip())
        raise ToolError(f"no task {task_id!r} in this session")

    # -- shell tasks ---------------------------------------------------------------

    async def adopt_shell(self, shell: ShellProcess, title: str, timeout_s: float) -> str:
        task = BackgroundTask(self._new_id(), self.session_id, "shell", title, shell=shell)
        task.output_path = self.ctx.artifacts_root / self.session_id / f"{task.task_id}.log"
        # The file has everything from the first byte on before anything awaits; the
        # shell writes the rest as it reads it.
        shell.spool_to(task.output_path)
        self.manager.tasks[task.task_id] = task
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "kind": "shell",
            "title": title,
            "owner": current_owner(self.ctx.engine_id),
            "output_path": str(task.output_path),
        }
        if shell.pgid is not None:
            data.update(process_record(self.ctx.engine_id, shell.pgid))
        if shell.started_at is not None:
            # The command ran inline for up to inline_ms before it became a task: its
            # elapsed time counts from when it really started, not from this event.
            ran_s = time.monotonic() - shell.started_at
            data["command_started"] = (utcnow() - timedelta(seconds=ran_s)).isoformat()
        await self.owner.emit(ev.TASK_STARTED, data)
        # What was read so far (the head the shell keeps; past it, the cap is reached
        # anyway), then from here on what arrives, before anything awaits again: output
        # that arrives meanwhile would otherwise miss the log.
        self._keep(task, shell.output)
        if shell.capture_truncated:
            self._cut(task)
        shell.on_output = lambda stream, text: self._collect(task, text)
        await self._flush(task)
        task.supervisor = self._supervise(task, self._supervise_shell(task, timeout_s))
        return task.task_id

    def _collect(self, task: BackgroundTask, text: str) -> None:
        self._keep(task, text)
        self.ctx.publish_delta(self.session_id, "task", text, call_id=task.task_id)

    def _keep(self, task: BackgroundTask, text: str) -> None:
        """Queue `text` for the log, as much of it as the task's cap still allows; what
        does not fit cuts the log's copy there."""
        if task.cut or not text:
            return
        cap = self.ctx.config.tools.output_store_max_bytes
        budget = cap - int(cap * STORE_OVERHEAD_SHARE) - CUT_NOTE_BYTES
        room = budget - task.stored_bytes
        size = stored_size(text)
        kept = text if size <= room else clip_to_stored_size(text, room)
        if kept:
            kept_size = size if kept is text else stored_size(kept)
            task.pending.append(kept)
            task.pending_bytes += kept_size
            task.stored_bytes += kept_size
            task.kept_bytes += len(kept.encode("utf-8"))
        if kept is not text:
            self._cut(task)

    def _cut(self, task: BackgroundTask) -> None:
        """Stop logging the task's output, and say so where it stops."""
        if task.cut:
            return
        task.cut = True
        cap = self.ctx.config.tools.output_store_max_bytes
        task.pending.append(
            f"\n[output cut here, after {task.kept_bytes} bytes: a task's output takes at "
            f"most {cap} bytes of the log ([tools] output_store_max_bytes); all of it is "
            f"in {task.output_path}]\n"
        )

    async def _flush(self, task: BackgroundTask, *, final: bool = False) -> None:
        """Log what is queued, in chunks: its whole lines, or all of it at the end."""
        if task.pending:
            if task.lines is None:
                task.lines = self.ctx.redactor.stream()
            text = "".join(task.pending)
            task.pending.clear()
            task.pending_bytes = 0
            data = task.lines.feed(text.encode("utf-8"))
        elif final and task.lines is not None:
            data = b""
        else:
            return
        if final:
            data += task.lines.flush()
        text = task.decoder.decode(data, final=final)
        for chunk in utf8_chunks(text, CHUNK_BYTES):
            await self.owner.emit(
                ev.TASK_OUTPUT, {"task_id": task.task_id, "stream": "stdout", "text": chunk}
            )

    def _supervise(
        self, task: BackgroundTask, work: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await work
            except StoreError as exc:
                # Its output or its end cannot be recorded. It is over for this engine
                # all the same: its process is stopped and it leaves, so nobody waits
                # for it forever, and its session stops, as nothing of that can be
                # recorded either. The next engine records the end (process_exited).
                if task.shell is not None:
                    await stop_shell(task.shell)
                self.manager.tasks.pop(task.task_id, None)
                self.owner.store_failed(exc)
                task.done.set()

        return asyncio.create_task(guarded(), name=f"task {task.task_id}")

    async def _supervise_shell(self, task: BackgroundTask, timeout_s: float) -> None:
        assert task.shell is not None
        shell = task.shell
        deadline = time.monotonic() + timeout_s
        timed_out = False
        exit_waiter = asyncio.ensure_future(shell.wait())
        try:
            while not exit_waiter.done():
                wait_for = min(FLUSH_INTERVAL_S, max(deadline - time.monotonic(), 0))
                await asyncio.wait([exit_waiter], timeout=wait_for)
                if task.pending_bytes >= FLUSH_BYTES or not exit_waiter.done():
                    await self._flush(task)
                if not exit_waiter.done() and time.monotonic() >= deadline:
                    timed_out = True
                    await stop_shell(shell)
            returncode = exit_waiter.result()
            await self._flush(task, final=True)
        except asyncio.CancelledError:
            await stop_shell(shell)
            raise
        tail = "\n".join(shell.tail_text(SUMMARY_BYTES).splitlines()[-SUMMARY_LINES:])
        output = {"output_bytes": shell.output_bytes}
        if task.cancel_requested:
            summary = f"cancelled\n{tail}".strip()
            await self._finish(task, "cancelled", returncode, summary, output)
        elif timed_out:
            summary = f"timed out after {timeout_s:g} s\n{tail}"
            await self._finish(task, "failed", returncode, summary, output)
        else:
            status = "completed" if returncode == 0 else "failed"
            await self._finish(task, status, returncode, tail, output)

    # -- subagents -----------------------------------------------------------------

    async def spawn_subagent(self, prompt: str, preset: str, background: bool) -> TaskInfo:
        presets = self.ctx.config.presets
        if preset not in presets:
            raise ToolError(f"no preset {preset!r}; presets: {', '.join(sorted(presets))}")
        parent = self.owner.state
        max_depth = self.ctx.config.subagents.max_depth
        if parent.depth >= max_depth:
            raise ToolError(
                f"subagents may nest {max_depth} deep ([subagents] max_depth); this session "
                "cannot spawn one"
            )
        chosen = presets[preset]
        task = BackgroundTask(
            self._new_id(), self.session_id, "subagent", f"{preset}: {_first_line(prompt)}"
        )
        task.notify = background
        self.manager.tasks[task.task_id] = task
        provider = chosen.provider or parent.provider
        model = chosen.model or parent.model
        if provider == "scripted" and not chosen.model:
            # A scripted parent's subagents play their own part of the script.
            model = subagent_script(parent.model, preset) or model
        child_id = await self.manager.sessions.start_session(
            prompt,
            provider=provider,
            model=model,
            workspace=parent.workspace,
            parent_id=self.session_id,
            preset=preset,
            approval_mode=parent.approval_mode,
            # A subagent's commands are confined as its parent's.
            sandbox_mode=parent.sandbox_mode,
            sandbox_network=parent.sandbox_network if parent.sandbox_mode else None,
        )
        task.child_session_id = child_id
        await self.owner.emit(
            ev.SUBAGENT_SPAWNED,
            {"child_session_id": child_id, "preset": preset, "prompt": prompt},
        )
        await self.owner.emit(
            ev.TASK_STARTED,
            {
                "task_id": task.task_id,
                "kind": "subagent",
                "title": task.title,
                "child_session_id": child_id,
                "owner": current_owner(self.ctx.engine_id),
            },
        )
        task.supervisor = self._supervise(task, self._supervise_child(task))
        if background:
            return task.info()
        try:
            await task.done.wait()
        except asyncio.CancelledError:
            task.notify = False
            await self.manager._stop(task)
            raise
        return task.info()

    async def _supervise_child(self, task: BackgroundTask) -> None:
        assert task.child_session_id is not None
        state = await self.manager.sessions.wait(task.child_session_id)
        if state.status == "done":
            await self._finish(task, "completed", None, state.final_text)
        elif state.status == "cancelled" or task.cancel_requested:
            await self._finish(task, "cancelled", None, "the subagent was cancelled")
        else:
            await self._finish(task, "failed", None, state.last_error or state.final_text)

    # -- the end of a task ---------------------------------------------------------

    async def _finish(
        self,
        task: BackgroundTask,
        status: str,
        exit_code: int | None,
        summary: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        task.status, task.exit_code, task.summary = status, exit_code, summary
        data: dict[str, Any] = {"task_id": task.task_id, "summary": summary}
        if exit_code is not None:
            data["exit_code"] = exit_code
        data.update(extra or {})
        await self.owner.emit(f"task.{status}", data)
        wake = task.notify and status != "cancelled"
        if wake:
            code = f", exit code {exit_code}" if exit_code is not None else ""
            self.owner.wake(
                f"Background task {task.task_id} ({task.title}) {status}{code}.\n{summary}".strip()
            )
        # The task leaves only now, its notice queued: until then nobody waiting on the
        # session (engine.wait, a closing turn) takes the session for finished.
        self.manager.tasks.pop(task.task_id, None)
        if not wake:
            await self.owner.settle()
        task.done.set()

    # -- what the tools call -------------------------------------------------------

    async def read(self, task_id: str, since: int) -> tuple[str, int, TaskInfo]:
        task = self._get(task_id)
        if task.output_path is None:
            return "(a subagent has no output stream; use wait_task)", since, task.info()
        limit = self.ctx.tool_limits.output_limit_bytes
        with task.output_path.open("rb") as out:
            out.seek(since)
            data = out.read(limit)
        return data.decode(errors="replace"), since + len(data), task.info()

    async def wait(self, task_id: str, timeout_s: float) -> TaskInfo:
        task = self._get(task_id)
        # An end that comes during the wait is this call's result, and no notice
        # besides: claimed before waiting, as the end decides on its notice first.
        notify, task.notify = task.notify, False
        try:
            await asyncio.wait_for(asyncio.shield(task.done.wait()), timeout_s)
        except TimeoutError:
            pass
        finally:
            if task.status == "running":
                task.notify = notify  # its end comes later, and wakes the agent after all
        return task.info()

    async def cancel(self, task_id: str) -> TaskInfo:
        task = self._get(task_id)
        task.notify = False
        await self.manager._stop(task)
        await task.done.wait()
        return task.info()


def stored_size(text: str) -> int:
    """Bytes `text` takes in the store: its JSON string, UTF-8 (control characters and
    quotes escaped), as the store encodes event data."""
    return len(encode_basestring(text).encode("utf-8")) - 2


def clip_to_stored_size(text: str, size: int) -> str:
    """A start of `text`, as long as it can be, whose stored size is at most `size`."""
    clipped = text.encode("utf-8")[: max(size, 0)].decode("utf-8", errors="ignore")
    while clipped and (stored := stored_size(clipped)) > size:
        # Escapes make some characters take more: shrink in proportion, at least by one.
        clipped = clipped[: min(len(clipped) - 1, len(clipped) * size // stored)]
    return clipped


def utf8_chunks(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` bytes of UTF-8 each, cut between characters."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return [text]
    chunks = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # not inside a character
        chunks.append(data[start:end].decode("utf-8"))
        start = end
    return chunks


def _first_line(text: str, width: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"
