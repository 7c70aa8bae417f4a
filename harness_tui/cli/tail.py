"""`harness-tui tail ID`: follow a task's output or a session's events from the store,
including those of a run in another process, until it ends."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, TextIO

from harness_tui import events as ev
from harness_tui.cli.errors import UsageError
from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.render import TextRenderer
from harness_tui.engine.engine import Engine
from harness_tui.events import Event

if TYPE_CHECKING:
    from harness_tui.config import Config

_TASK_ID = re.compile(r"^(?P<session>[0-9a-f]+)-t\d+$")


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(run_tail(config, args.target, follow=not args.no_follow, as_json=args.json))


async def run_tail(
    config: Config, target: str, *, follow: bool, as_json: bool, out: TextIO = sys.stdout
) -> int:
    """Print the task's output or the session's events; following, until the task ends
    or the session stops running. The exit code says how it ended (EXIT_CODES)."""
    engine = await Engine.open(config, recover=False)
    try:
        match = _TASK_ID.match(target)
        session_id = match.group("session") if match else target
        if await engine.summary(session_id) is None:
            # The person may have given a task: the message names both.
            raise UsageError(f"no session or task {target!r} in {engine.store_url}")
        if match and not await _has_task(engine, session_id, target):
            raise UsageError(f"session {session_id} has no task {target!r}")
        view: _TaskView | _SessionView = (
            _TaskView(target, out, as_json) if match else _SessionView(session_id, out, as_json)
        )
        after = 0
        async for event in _pages(engine, session_id):
            view.show(event)
            after = event.position or after
        if not follow:
            return ExitCode.OK
        if view.ended:
            return view.finish()
        async for followed in _follow(engine, after, session_id):
            if followed is None:
                view.abandoned()
                return ExitCode.FAILURE
            view.show(followed)
            if view.ended:
                return view.finish()
        return ExitCode.OK
    finally:
        await engine.close()


# Events read at a time: however long the session, a tail holds one page of it.
PAGE = 1000


async def _pages(engine: Engine, session_id: str) -> AsyncIterator[Event]:
    """The session's events so far, oldest first, read a page at a time."""
    after_seq = 0
    while True:
        page = await engine.history(session_id, after_seq, PAGE)
        for event in page:
            yield event
        if len(page) < PAGE:
            return
        after_seq = page[-1].seq


async def _has_task(engine: Engine, session_id: str, task_id: str) -> bool:
    async for event in _pages(engine, session_id):
        if event.type == ev.TASK_STARTED and event.data.get("task_id") == task_id:
            return True
    return False


async def _follow(engine: Engine, after: int, session_id: str) -> AsyncIterator[Event | None]:
    """The session's events after `after` as they come; None, and the end, once a quiet
    spell shows that no process runs it any more (the one that did was killed)."""
    events: asyncio.Queue[Event | None] = asyncio.Queue()

    async def pump() -> None:
        async for event in engine.subscribe(after):
            if event.session_id == session_id:
                events.put_nowait(event)
        events.put_nowait(None)  # the store closed: nothing more will come

    pumping = asyncio.create_task(pump(), name="tail subscription")
    try:
        while True:
            waiting = asyncio.ensure_future(events.get())
            await asyncio.wait([waiting, pumping], timeout=ABANDONED_CHECK_S)
            if waiting.done():
                got = waiting.result()
                if got is None:
                    pumping.result()  # a store failure is reported, not taken for an end
                    return
                yield got
                continue
            waiting.cancel()
            if pumping.done():
                pumping.result()
                return
            if await engine.abandoned(session_id):
                yield None
                return
    finally:
        pumping.cancel()
        await asyncio.gather(pumping, return_exceptions=True)


ABANDONED = "the process running it exited; the next run in this project recovers it"
# How often a quiet tail asks whether the session's process still lives.
ABANDONED_CHECK_S = 1.0


# How a followed task or session ended, as `--exec` says it for its own session.
EXIT_CODES = {
    "done": ExitCode.OK,
    "completed": ExitCode.OK,
    "failed": ExitCode.FAILURE,
    "waiting": ExitCode.APPROVAL_NEEDED,
    "idle": ExitCode.BUDGET,
    "cancelled": ExitCode.INTERRUPTED,
}


class _TaskView:
    """Prints a task's output as it arrives, like `tail -f`."""

    def __init__(self, task_id: str, out: TextIO, as_json: bool) -> None:
        self.task_id, self.out, self.as_json = task_id, out, as_json
        self.ended = False
        self.status = ""

    def show(self, event: Event) -> None:
        if event.data.get("task_id") != self.task_id:
            return
        if self.as_json:
            self.out.write(event.to_json() + "\n")
        elif event.type == ev.TASK_OUTPUT:
            self.out.write(event.data.get("text", ""))
        elif event.type in ev.TASK_TERMINAL_TYPES:
            code = event.data.get("exit_code")
            status = event.type.removeprefix("task.")
            suffix = f" (exit code {code})" if code is not None else ""
            self.out.write(f"\n[task {self.task_id} {status}{suffix}]\n")
        self.out.flush()
        if event.type in ev.TASK_TERMINAL_TYPES:
            self.ended = True
            self.status = event.type.removeprefix("task.")

    def finish(self) -> int:
        return EXIT_CODES.get(self.status, ExitCode.FAILURE)

    def abandoned(self) -> None:
        if not self.as_json:
            self.out.write(f"\n[task {self.task_id} interrupted: {ABANDONED}]\n")
            self.out.flush()


class _SessionView:
    """Prints a session's events until it stops running: it ended (done, failed,
    cancelled), waits for an approval, or sits idle after a turn that stopped at
    max_steps or a budget. A session not yet given its first turn is about to run."""

    def __init__(self, session_id: str, out: TextIO, as_json: bool) -> None:
        self.session_id, self.out, self.as_json = session_id, out, as_json
        self.text = TextRenderer(out)
        self.status = ""
        self.turns = 0
        self.turn_active = False
        self.error = ""
        self.approvals: dict[str, str] = {}

    def show(self, event: Event) -> None:
        if self.as_json:
            self.out.write(event.to_json() + "\n")
            self.out.flush()
        else:
            self.text(event)
        data = event.data
        if event.type == ev.SESSION_STATUS:
            self.status = data["status"]
            self.error = data.get("error") or self.error
        elif event.type == ev.TURN_STARTED:
            self.turns += 1
            self.turn_active = True
            self.error = ""
        elif event.type == ev.TURN_COMPLETED:
            self.turn_active = False
            self.error = data.get("error") or ""
        elif event.type == ev.APPROVAL_REQUESTED:
            self.approvals[data["approval_id"]] = str(data.get("summary", ""))
        elif event.type == ev.APPROVAL_RESOLVED:
            self.approvals.pop(data["approval_id"], None)

    @property
    def ended(self) -> bool:
        if self.status in ev.TERMINAL_STATUSES or self.status == "waiting":
            return True
        return self.status == "idle" and self.turns > 0 and not self.turn_active

    def finish(self) -> int:
        """Say how the session stopped (text mode: --json has it in its events) and
        return the exit code for it."""
        if not self.as_json:
            detail = ""
            if self.status == "waiting" and self.approvals:
                detail = " for an approval: " + "; ".join(self.approvals.values())
            elif self.status != "done" and self.error:
                detail = f": {self.error}"
            self.out.write(f"[session {self.session_id} {self.status}{detail}]\n")
            self.out.flush()
        return EXIT_CODES.get(self.status, ExitCode.FAILURE)

    def abandoned(self) -> None:
        if not self.as_json:
            self.out.write(f"[session {self.session_id} interrupted: {ABANDONED}]\n")
            self.out.flush()
