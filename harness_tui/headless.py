"""The --exec runner: one prompt, no screen.

Text mode writes readable progress to stderr and the final answer to stdout; --json
writes every event of the run, in the store's envelope, as one line on stdout.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui import events as ev
from harness_tui import exitcodes
from harness_tui.engine.engine import Engine, EngineError
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
    # "stdin": approval requests go to stderr as JSON lines, answers come on stdin.
    # "none": a needed approval ends the run with exit code 3.
    approvals: str = "none"
    # None: the project's [git] worktree setting.
    worktree: bool | None = None


async def run_exec(
    config: Config, options: ExecOptions, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
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
    needed = asyncio.Event()
    blocked: list[dict[str, Any]] = []

    def on_event(event: Event) -> None:
        render(event)
        if event.type == ev.APPROVAL_REQUESTED:
            if options.approvals == "stdin":
                _write_line(
                    stderr,
                    json.dumps({"type": event.type, "session_id": event.session_id, **event.data}),
                )
            else:
                blocked.append(event.data)
                needed.set()

    printer = _Printer(engine, session_id, start, on_event)
    background = [asyncio.create_task(printer.run(), name="exec printer")]
    if options.approvals == "stdin":
        background.append(asyncio.create_task(_answer_from_stdin(engine, stderr), name="approvals"))

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
                f"harness-tui: approval needed for `{approval.get('summary')}` "
                f"(rule {rule}, risk {approval.get('risk')}): nobody can answer it here; "
                "run with --approvals stdin, or answer it in the dashboard",
            )
            return exitcodes.APPROVAL_NEEDED
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
        return exitcodes.INTERRUPTED
    code = _EXIT_FOR_REASON.get(state.last_turn_reason or "failed", exitcodes.FAILURE)
    if state.status == "failed":
        # The turn may have ended well and the session failed after it: a worktree
        # session's validation, or its worktree that could not be made.
        code = exitcodes.FAILURE
    # A failed turn's reason was already rendered from its turn.completed event.
    if not options.json and code == exitcodes.OK:
        print(state.final_text, file=stdout)
    stdout.flush()
    return code


async def _answer_from_stdin(engine: Engine, stderr: TextIO) -> None:
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
            _write_line(stderr, f"harness-tui: approval answer {line.decode().strip()!r}: {exc}")


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
            self.line(
                f"  ! model request failed (attempt {data['attempt']}): {data['error']}{retry}"
            )
        elif kind == ev.TOOL_REQUESTED:
            summary = describe_call(data["tool"], data.get("args") or {})
            self.calls[data["call_id"]] = summary
            self.line(f"  → {summary}")
        elif kind == ev.TOOL_COMPLETED:
            self.line(f"  {'✗' if data.get('is_error') else '✓'} {outcome(data)}")
        elif kind == ev.TOOL_FAILED:
            self.line(f"  ✗ {data.get('error', 'failed')}")
        elif kind == ev.APPROVAL_REQUESTED:
            rule = f", rule {data['rule_id']}" if data.get("rule_id") else ""
            self.line(f"  ? approval {data['approval_id']} needed (risk {data['risk']}{rule})")
        elif kind == ev.APPROVAL_RESOLVED:
            self.line(f"  ✓ approval {data['approval_id']}: {data['decision']} by {data['by']}")
        elif kind == ev.TURN_COMPLETED and data.get("reason") != "no_tool_calls":
            self.line(f"● turn ended: {data.get('error') or data.get('reason')}")
        elif kind == ev.SESSION_STATUS:
            if data["status"] == "queued":
                self.line(f"● queued for a worktree slot (position {data.get('position')})")
            elif data.get("error"):
                self.line(f"● session {data['status']}: {data['error']}")
        elif kind == ev.WORKTREE_CREATED:
            self.line(f"● worktree {data['path']} on branch {data['branch']} (from {data['base']})")
        elif kind == ev.VALIDATION_COMPLETED:
            mark = "✓" if data.get("kind") == "passed" else "✗"
            how = "timed out" if data.get("timed_out") else f"exit {data.get('exit_code')}"
            self.line(f"  {mark} validation `{data['command']}`: {how}")
        elif kind == ev.WORKTREE_COMMITTED:
            commit = (data.get("commit") or "")[:12] or "nothing new to commit"
            self.line(
                f"● branch {data['branch']}: {commit}; {data.get('files', 0)} files changed, "
                f"+{data.get('insertions', 0)} -{data.get('deletions', 0)}"
            )
        elif kind == ev.WORKTREE_REMOVED:
            self.line(f"● worktree removed; the work stays on branch {data['branch']}")


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
