"""The --exec runner: one prompt, no screen.

Text mode writes readable progress to stderr and the final answer to stdout; --json
writes every event of the run, in the store's envelope, as one line on stdout.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui import events as ev
from harness_tui import exitcodes
from harness_tui.engine.engine import Engine
from harness_tui.events import Event

if TYPE_CHECKING:
    from harness_tui.config import Config

_EXIT_FOR_REASON = {
    "no_tool_calls": exitcodes.OK,
    "failed": exitcodes.FAILURE,
    "max_steps": exitcodes.BUDGET,
    "budget": exitcodes.BUDGET,
    "cancelled": exitcodes.INTERRUPTED,
}


@dataclass(slots=True)
class ExecOptions:
    prompt: str
    session_id: str | None = None
    provider: str | None = None
    model: str | None = None
    json: bool = False


async def run_exec(
    config: Config, options: ExecOptions, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    engine = await Engine.open(config)
    try:
        return await _run(engine, options, stdout, stderr)
    finally:
        await engine.close()


async def _run(engine: Engine, options: ExecOptions, stdout: TextIO, stderr: TextIO) -> int:
    start = await engine.store.last_position()
    if options.session_id:
        session_id = options.session_id
        await engine.send(session_id, options.prompt, mode="prompt")
    else:
        session_id = await engine.start_session(
            options.prompt, provider=options.provider, model=options.model
        )
    render = JsonRenderer(stdout) if options.json else TextRenderer(stderr)
    printer = _Printer(engine, session_id, start, render)
    printer_task = asyncio.create_task(printer.run(), name="exec printer")

    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        interrupted.set()
        loop.create_task(engine.cancel(session_id))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        state = await engine.wait(session_id)
        # Everything the session wrote must be printed before we exit.
        await printer.until(state.last_position)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        printer_task.cancel()
        await asyncio.gather(printer_task, return_exceptions=True)

    if interrupted.is_set():
        return exitcodes.INTERRUPTED
    code = _EXIT_FOR_REASON.get(state.last_turn_reason or "failed", exitcodes.FAILURE)
    # A failed turn's reason was already rendered from its turn.completed event.
    if not options.json and code == exitcodes.OK:
        print(state.final_text, file=stdout)
    stdout.flush()
    return code


class _Printer:
    """Follows the store and renders the events of one session (and its children)."""

    def __init__(self, engine: Engine, session_id: str, start: int, render: Renderer) -> None:
        self.engine = engine
        self.family = {session_id}
        self.start = start
        self.render = render
        self.seen = start
        self._progress = asyncio.Condition()

    async def run(self) -> None:
        async for event in self.engine.subscribe(self.start):
            if event.session_id in self.family:
                if event.type == ev.SUBAGENT_SPAWNED:
                    self.family.add(event.data["child_session_id"])
                self.render(event)
            async with self._progress:
                self.seen = event.position or self.seen
                self._progress.notify_all()

    async def until(self, position: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.seen >= position)


class JsonRenderer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        self.out.write(event.to_json() + "\n")
        self.out.flush()


class TextRenderer:
    """Readable progress lines: model text, each tool call and its outcome."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.calls: dict[str, str] = {}

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def __call__(self, event: Event) -> None:
        data = event.data
        kind = event.type
        if kind == ev.SESSION_CREATED:
            self.line(
                f"● session {event.session_id} · {data['provider']}/{data['model']} · "
                f"{data['workspace']}"
            )
            if data.get("note"):
                self.line(f"  {data['note']}")
        elif kind == ev.MODEL_COMPLETED and data.get("text"):
            for text_line in data["text"].splitlines():
                self.line(f"  {text_line}")
        elif kind == ev.MODEL_FAILED:
            retry = " (will retry)" if data.get("retryable") else ""
            self.line(f"  ! model request failed (attempt {data['attempt']}): {data['error']}{retry}")
        elif kind == ev.TOOL_REQUESTED:
            summary = describe_call(data["tool"], data.get("args") or {})
            self.calls[data["call_id"]] = summary
            self.line(f"  → {summary}")
        elif kind == ev.TOOL_COMPLETED:
            self.line(f"  {'✗' if data.get('is_error') else '✓'} {outcome(data)}")
        elif kind == ev.TOOL_FAILED:
            self.line(f"  ✗ {data.get('error', 'failed')}")
        elif kind == ev.TURN_COMPLETED and data.get("reason") != "no_tool_calls":
            self.line(f"● turn ended: {data.get('error') or data.get('reason')}")


def describe_call(tool: str, args: dict[str, Any]) -> str:
    """One line that says what a tool call does, for people."""
    if tool == "bash":
        return f"bash: {args.get('command', '')}"
    for key in ("path", "pattern"):
        if key in args:
            return f"{tool} {args[key]}"
    return tool


def outcome(data: dict[str, Any]) -> str:
    meta = data.get("metadata") or {}
    if "exit_code" in meta:
        return f"exit {meta['exit_code']}"
    result = str(data.get("result", "")).strip()
    lines = result.count("\n") + 1 if result else 0
    first = result.splitlines()[0] if result else ""
    if len(first) > 80:
        first = first[:79] + "…"
    return f"{first}" + (f" (+{lines - 1} lines)" if lines > 1 else "")


Renderer = JsonRenderer | TextRenderer
