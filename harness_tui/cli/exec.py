"""`harness-tui --exec PROMPT`: the headless runner, one prompt and no screen.

Text mode writes readable progress to stderr and the final answer to stdout; --json
writes every event of the run, in the store's envelope, as one line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui import events as ev
from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.render import DEMO_MARK, JsonRenderer, TextRenderer, recovery_line
from harness_tui.engine.engine import Engine, EngineError
from harness_tui.events import Event
from harness_tui.providers.select import resolve_provider

if TYPE_CHECKING:
    from harness_tui.config import Config

_EXIT_FOR_REASON = {
    "no_tool_calls": ExitCode.OK,
    "failed": ExitCode.FAILURE,
    "max_steps": ExitCode.BUDGET,
    "budget": ExitCode.BUDGET,
    "cancelled": ExitCode.INTERRUPTED,
}


@dataclass(slots=True)
class ExecOptions:
    prompt: str
    session_id: str | None = None
    provider: str | None = None
    model: str | None = None
    json: bool = False
    # "stdin": approval requests go to stderr as JSON lines, answers come on stdin.
    # "wait": requests are said on stderr, answers come from any face (a command).
    # "none": a needed approval ends the run with exit code 3.
    approvals: str = "none"
    # With "wait": seconds a request may wait unanswered before exit code 3 (None: no
    # limit).
    approval_timeout: float | None = None
    # None: the project's [git] worktree setting.
    worktree: bool | None = None
    # The external agent ([agents.NAME]) a new session runs on; None: our own loop.
    agent: str | None = None


# After a signal or a closed output, the orderly shutdown (turn cancelled, tasks
# stopped, each end recorded) gets this long; then the process kills what its tasks run
# and exits at once, keeping what the store committed.
SHUTDOWN_S = 1.5


def run(args: argparse.Namespace, config: Config) -> int:
    options = ExecOptions(
        prompt=args.exec_prompt,
        session_id=args.session,
        provider=args.provider,
        model=args.model,
        json=args.json,
        approvals=args.approvals,
        approval_timeout=args.approval_timeout,
        worktree=args.worktree,
        agent=args.agent,
    )
    return asyncio.run(run_exec(config, options))


async def run_exec(
    config: Config, options: ExecOptions, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    if options.agent is not None:
        # An agent with no entry is refused before the store is opened.
        from harness_tui.backends.agent import AgentError
        from harness_tui.backends.runtimes import agent_entry

        try:
            agent_entry(config, options.agent)
        except AgentError as exc:
            raise EngineError(str(exc)) from None
    elif options.session_id is None:
        # A new session that cannot start (no provider configured, a cost budget without
        # a price) is refused before the store is opened: nothing is left behind.
        resolve_provider(config, options.provider, options.model).check_cost_budget()
    loop = asyncio.get_running_loop()
    stop = _Stop()
    # Installed before anything starts and kept until everything is closed: a signal at
    # any moment ends the run the same way.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.request)
    try:
        engine = await Engine.open(config)
        stop.engine = engine
        engine.auto_gc = False
        try:
            # What dead processes left of other sessions does not stop this run; what
            # could not be cleaned up is said once, and is on those sessions' records.
            for failure in engine.recovery_failures:
                stop.line(stderr, recovery_line(failure))
            if stop.requested.is_set():
                return ExitCode.INTERRUPTED
            return await _run(engine, options, stdout, stderr, stop)
        finally:
            await engine.close()
    finally:
        stop.disarm()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _run(
    engine: Engine, options: ExecOptions, stdout: TextIO, stderr: TextIO, stop: _Stop
) -> int:
    start = await engine.last_position()
    if options.session_id is not None:
        session_id = options.session_id
        await engine.send(session_id, options.prompt, mode="prompt")
    else:
        session_id = await engine.start_session(
            options.prompt,
            provider=options.provider,
            model=options.model,
            worktree=options.worktree,
            agent=options.agent,
        )
    render = JsonRenderer(stdout) if options.json else TextRenderer(stderr)
    # The offline demo's lines say so: none of it happened in the user's project.
    demo = engine.state(session_id).offline_demo
    mark = DEMO_MARK if demo else ""
    # Commands that run unconfined are said once, first, whatever else is printed.
    notice = engine.sandbox_notice(session_id)
    if notice is not None:
        stop.line(stderr, notice)
    render_out = stdout if options.json else stderr
    approvals = _Approvals(
        answerable=options.approvals in ("stdin", "wait"),
        timeout=options.approval_timeout if options.approvals == "wait" else None,
    )

    def on_event(event: Event) -> None:
        stop.write(render_out, lambda: render(event))
        if event.type == ev.APPROVAL_REQUESTED and approvals.requested(event.data):
            if options.approvals == "wait":
                stop.line(stderr, _waiting_line(event.session_id, event.data, mark))
                return
            request = {"type": event.type, "session_id": event.session_id, **event.data}
            if demo:
                request["offline_demo"] = True
            stop.line(stderr, json.dumps(request))
        elif event.type == ev.APPROVAL_RESOLVED:
            approvals.resolved(event.data["approval_id"])

    printer = _Printer(engine, session_id, start, on_event)
    printing = asyncio.create_task(printer.run(), name="exec printer")
    background = [printing]
    if options.approvals == "stdin":
        background.append(
            asyncio.create_task(
                _answer_from_stdin(engine, approvals, stderr, stop, mark), name="approvals"
            )
        )
    finished = asyncio.create_task(engine.wait(session_id), name="exec session")
    stuck = asyncio.create_task(approvals.needed.wait())
    stopping = asyncio.create_task(stop.requested.wait())
    try:
        await asyncio.wait(
            [finished, stuck, stopping, printing], return_when=asyncio.FIRST_COMPLETED
        )
        if stop.requested.is_set():
            # As Ctrl-C: the turn is cancelled, its tasks and subagents stopped, each
            # end recorded; then the last events are shown to whoever still reads.
            await engine.cancel(session_id)
            state = await finished
            await _caught_up(printer, printing, state.last_position, stop, SHUTDOWN_S / 3)
            return ExitCode.INTERRUPTED
        if stuck.done() and not finished.done():
            approval = approvals.blocking
            rule = approval.get("rule_id") or "no rule"
            if approvals.timed_out:
                stop.line(
                    stderr,
                    f"harness-tui: {mark}nobody answered approval {approval.get('approval_id')} "
                    f"for `{approval.get('summary')}` within {options.approval_timeout:g} s "
                    "(--approval-timeout); it stays pending in the store",
                )
                return ExitCode.APPROVAL_NEEDED
            stop.line(
                stderr,
                f"harness-tui: {mark}approval needed for `{approval.get('summary')}` "
                f"(rule {rule}, risk {approval.get('risk')}): nobody can answer it here; "
                "run with --approvals stdin, or answer it in the dashboard",
            )
            return ExitCode.APPROVAL_NEEDED
        if printing.done():
            printing.result()  # the store failed under the printer: the boundary reports it
        state = await finished
        # Everything the session wrote must be printed before we exit.
        await _caught_up(printer, printing, state.last_position, stop, None)
        if stop.requested.is_set():
            return ExitCode.INTERRUPTED
    finally:
        for task in (finished, stuck, stopping, *background):
            task.cancel()
        await asyncio.gather(finished, stuck, stopping, *background, return_exceptions=True)

    code = _EXIT_FOR_REASON.get(state.last_turn_reason or "failed", ExitCode.FAILURE)
    if state.status == "failed":
        # The turn may have ended well and the session failed after it: a worktree
        # session's validation, or its worktree that could not be made.
        code = ExitCode.FAILURE
    # A failed turn's reason was already rendered from its turn.completed event.
    if not options.json and code == ExitCode.OK:
        answer = state.final_text
        if demo:
            answer = "\n".join(mark + line for line in answer.splitlines() or [""])
        print(answer, file=stdout)
    stdout.flush()
    return code


async def _caught_up(
    printer: _Printer,
    printing: asyncio.Task[None],
    position: int,
    stop: _Stop,
    timeout: float | None,
) -> None:
    """Until the printer has shown everything up to `position`, unless nobody reads the
    output any more, the printer failed, or a stop asks to be quick."""
    if stop.output_closed:
        return
    until = asyncio.create_task(printer.until(position))
    waits: list[asyncio.Future[Any]] = [until, printing]
    stopping = None
    if timeout is None:
        stopping = asyncio.create_task(stop.requested.wait())
        waits.append(stopping)
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        until.cancel()
        if stopping is not None:
            stopping.cancel()


class _Stop:
    """Why a run must end early: SIGINT or SIGTERM, or nobody reading its output any
    more (`| head`). Either ends it as Ctrl-C does, with exit code 130; if the orderly
    shutdown overruns SHUTDOWN_S, the process exits at once."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.output_closed = False
        self.engine: Engine | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def request(self) -> None:
        if self.requested.is_set():
            return
        self.requested.set()
        self._deadline = asyncio.get_running_loop().call_later(SHUTDOWN_S, self._exit_now)

    def write(self, out: TextIO, write: Callable[[], None]) -> None:
        """Write to stdout or stderr; a reader that went away stops the run, quietly."""
        if self.output_closed:
            return
        try:
            write()
        except BrokenPipeError:
            self.output_closed = True
            _discard(out)
            self.request()

    def line(self, out: TextIO, text: str) -> None:
        self.write(out, lambda: _write_line(out, text))

    def disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()

    def _exit_now(self) -> None:
        # The store or a child did not let the shutdown finish (a store busy for
        # seconds, a command ignoring SIGTERM): waiting longer would make the run hang
        # as it was told to end. Committed events are safe in the store; the tasks'
        # process groups are killed so none outlives the run.
        if self.engine is not None:
            self.engine.kill_processes()
        os._exit(ExitCode.INTERRUPTED)


def _discard(out: TextIO) -> None:
    """Point a stream whose reader went away at /dev/null, so what is still buffered for
    it (and the interpreter's flush at exit) goes nowhere instead of failing again."""
    try:
        fd = out.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


class _Approvals:
    """The approvals of the run nobody has answered yet, and whether anybody can: with
    --approvals stdin until stdin ends, with none never."""

    def __init__(self, *, answerable: bool, timeout: float | None = None) -> None:
        self.answerable = answerable
        # Seconds a request may wait for its answer (--approvals wait), then it blocks.
        self.timeout = timeout
        self.timed_out = False
        self.needed = asyncio.Event()
        # The request that nobody can answer, once there is one.
        self.blocking: dict[str, Any] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._answered: set[str] = set()

    def requested(self, data: dict[str, Any]) -> bool:
        """Note a request; True when it should be shown to whoever answers on stdin."""
        approval_id = data["approval_id"]
        if approval_id not in self._answered:
            self._pending[approval_id] = data
            if self.timeout is not None:
                asyncio.get_running_loop().call_later(self.timeout, self._expire, approval_id)
        self._check()
        return self.answerable

    def _expire(self, approval_id: str) -> None:
        data = self._pending.get(approval_id)
        if data is not None and not self.needed.is_set():
            self.timed_out = True
            self.blocking = data
            self.needed.set()

    def resolved(self, approval_id: str) -> None:
        self._answered.add(approval_id)
        self._pending.pop(approval_id, None)

    def no_more_answers(self) -> None:
        self.answerable = False
        self._check()

    def _check(self) -> None:
        if self._pending and not self.answerable and not self.needed.is_set():
            self.blocking = next(iter(self._pending.values()))
            self.needed.set()


async def _answer_from_stdin(
    engine: Engine, approvals: _Approvals, stderr: TextIO, stop: _Stop, mark: str
) -> None:
    """Answers as JSON lines: {"approval_id", "decision", "reason"?, "edited_args"?}.
    At the end of stdin nobody is left to answer: a pending or later request ends the
    run with exit code 3."""
    async for line in _stdin_lines():
        if not line.strip():
            continue
        try:
            answer = json.loads(line)
            await engine.resolve_approval(
                answer["approval_id"],
                answer["decision"],
                reason=answer.get("reason"),
                edited_args=answer.get("edited_args"),
                by="stdin",
            )
            approvals.resolved(answer["approval_id"])
        except (ValueError, KeyError, TypeError, EngineError) as exc:
            text = f"harness-tui: {mark}approval answer {line.decode().strip()!r}: {exc}"
            stop.line(stderr, text)
    approvals.no_more_answers()


async def _stdin_lines() -> AsyncIterator[bytes]:
    if sys.stdin is None:
        return  # closed before we started: nothing will come
    if not _pollable(sys.stdin.fileno()):
        # A regular file or /dev/null: the event loop cannot watch them, and reading
        # them never blocks.
        for line in sys.stdin.buffer:
            yield line
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line


def _pollable(fd: int) -> bool:
    with selectors.DefaultSelector() as selector:
        try:
            selector.register(fd, selectors.EVENT_READ)
        except (OSError, ValueError):
            return False
    return True


def _waiting_line(session_id: str, data: dict[str, Any], mark: str) -> str:
    """What --approvals wait says of a request: what to run to answer it."""
    approval_id = data["approval_id"]
    rule = data.get("rule_id") or "no rule"
    return (
        f"harness-tui: {mark}session {session_id}: approval {approval_id} needed for "
        f"`{data.get('summary')}` "
        f"(rule {rule}, risk {data.get('risk')}); waiting for an answer: "
        f"`harness-tui approve {approval_id}` (or --deny, --always) from any terminal on "
        "this store, or the dashboard"
    )


def _write_line(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


class _Printer:
    """Follows the store and renders the events of one session (and its children) that
    this run wrote: whatever another process writes to the session before or after this
    run's turn (a run that continued it when this one ended) is not this run's."""

    def __init__(
        self, engine: Engine, session_id: str, start: int, render: Callable[[Event], None]
    ) -> None:
        self.engine = engine
        self.family = {session_id}
        self.start = start
        self.render = render
        self.seen = start
        self._progress = asyncio.Condition()

    async def run(self) -> None:
        async for event in self.engine.subscribe(self.start):
            # A subagent's session is created before its parent records the spawn.
            if event.type == ev.SESSION_CREATED and event.data.get("parent_id") in self.family:
                self.family.add(event.session_id)
            if event.session_id in self.family and await self.engine.wrote(event):
                self.render(event)
            async with self._progress:
                self.seen = event.position or self.seen
                self._progress.notify_all()

    async def until(self, position: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.seen >= position)
