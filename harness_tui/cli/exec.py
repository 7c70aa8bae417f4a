"""`harness-tui --exec PROMPT`: the headless runner, one prompt and no screen.

Text mode writes readable progress to stderr and the final answer to stdout; --json
writes every event of the run, in the store's envelope, as one line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui import events as ev
from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.render import DEMO_MARK, JsonRenderer, TextRenderer
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
    # "none": a needed approval ends the run with exit code 3.
    approvals: str = "none"
    # None: the project's [git] worktree setting.
    worktree: bool | None = None


def run(args: argparse.Namespace, config: Config) -> int:
    options = ExecOptions(
        prompt=args.exec_prompt,
        session_id=args.session,
        provider=args.provider,
        model=args.model,
        json=args.json,
        approvals=args.approvals,
        worktree=args.worktree,
    )
    return asyncio.run(run_exec(config, options))


async def run_exec(
    config: Config, options: ExecOptions, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    if options.session_id is None:
        # A new session that cannot start (no provider configured, a cost budget without
        # a price) is refused before the store is opened: nothing is left behind.
        resolve_provider(config, options.provider, options.model).check_cost_budget()
    engine = await Engine.open(config)
    engine.auto_gc = False
    try:
        return await _run(engine, options, stdout, stderr)
    finally:
        await engine.close()


async def _run(engine: Engine, options: ExecOptions, stdout: TextIO, stderr: TextIO) -> int:
    start = await engine.last_position()
    if options.session_id:
        session_id = options.session_id
        await engine.send(session_id, options.prompt, mode="prompt")
    else:
        session_id = await engine.start_session(
            options.prompt,
            provider=options.provider,
            model=options.model,
            worktree=options.worktree,
        )
    render = JsonRenderer(stdout) if options.json else TextRenderer(stderr)
    # The offline demo's lines say so: none of it happened in the user's project.
    demo = engine.state(session_id).offline_demo
    mark = DEMO_MARK if demo else ""
    needed = asyncio.Event()
    blocked: list[dict[str, Any]] = []

    def on_event(event: Event) -> None:
        render(event)
        if event.type == ev.APPROVAL_REQUESTED:
            if options.approvals == "stdin":
                request = {"type": event.type, "session_id": event.session_id, **event.data}
                if demo:
                    request["offline_demo"] = True
                _write_line(stderr, json.dumps(request))
            else:
                blocked.append(event.data)
                needed.set()

    printer = _Printer(engine, session_id, start, on_event)
    background = [asyncio.create_task(printer.run(), name="exec printer")]
    if options.approvals == "stdin":
        background.append(
            asyncio.create_task(_answer_from_stdin(engine, stderr, mark), name="approvals")
        )

    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        interrupted.set()
        loop.create_task(engine.cancel(session_id))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        finished = asyncio.create_task(engine.wait(session_id))
        stuck = asyncio.create_task(needed.wait())
        await asyncio.wait([finished, stuck], return_when=asyncio.FIRST_COMPLETED)
        if not finished.done():
            finished.cancel()
            approval = blocked[0]
            rule = approval.get("rule_id") or "no rule"
            _write_line(
                stderr,
                f"harness-tui: {mark}approval needed for `{approval.get('summary')}` "
                f"(rule {rule}, risk {approval.get('risk')}): nobody can answer it here; "
                "run with --approvals stdin, or answer it in the dashboard",
            )
            return ExitCode.APPROVAL_NEEDED
        stuck.cancel()
        state = finished.result()
        # Everything the session wrote must be printed before we exit.
        await printer.until(state.last_position)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)

    if interrupted.is_set():
        return ExitCode.INTERRUPTED
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


async def _answer_from_stdin(engine: Engine, stderr: TextIO, mark: str) -> None:
    """Answers as JSON lines: {"approval_id", "decision", "reason"?, "edited_args"?}."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
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
        except (ValueError, KeyError, TypeError, EngineError) as exc:
            _write_line(
                stderr, f"harness-tui: {mark}approval answer {line.decode().strip()!r}: {exc}"
            )


def _write_line(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


class _Printer:
    """Follows the store and renders the events of one session (and its children)."""

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
            if event.session_id in self.family:
                self.render(event)
            async with self._progress:
                self.seen = event.position or self.seen
                self._progress.notify_all()

    async def until(self, position: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.seen >= position)
