"""`harness-tui tail ID`: follow a task's output or a session's events from the store,
including those of a run in another process, until it ends."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui import events as ev
from harness_tui.cli.errors import UsageError
from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.render import TextRenderer
from harness_tui.engine.engine import Engine, EngineError
from harness_tui.events import Event

if TYPE_CHECKING:
    from harness_tui.config import Config

_TASK_ID = re.compile(r"^(?P<session>[0-9a-f]+)-t\d+$")


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(run_tail(config, args.target, follow=not args.no_follow, as_json=args.json))


async def run_tail(
    config: Config, target: str, *, follow: bool, as_json: bool, out: TextIO = sys.stdout
) -> int:
    engine = await Engine.open(config, recover=False)
    try:
        match = _TASK_ID.match(target)
        session_id = match.group("session") if match else target
        try:
            state = await engine.load_state(session_id)
        except EngineError:
            # The engine's message names a session; the person may have given a task.
            raise UsageError(f"no session or task {target!r} in {engine.store_url}") from None
        if match and target not in state.tasks:
            raise UsageError(f"session {session_id} has no task {target!r}")
        view = _TaskView(target, out, as_json) if match else _SessionView(out, as_json)
        history = await engine.history(session_id)
        for event in history:
            view.show(event)
        if not follow or view.ended:
            return ExitCode.OK
        after = history[-1].position or 0
        async for event in engine.subscribe(after):
            if event.session_id == session_id:
                view.show(event)
                if view.ended:
                    break
        return ExitCode.OK
    finally:
        await engine.close()


class _TaskView:
    """Prints a task's output as it arrives, like `tail -f`."""

    def __init__(self, task_id: str, out: TextIO, as_json: bool) -> None:
        self.task_id, self.out, self.as_json = task_id, out, as_json
        self.ended = False

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


class _SessionView:
    """Prints a session's events until its status says it ended."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out, self.as_json = out, as_json
        self.text = TextRenderer(out)
        self.ended = False

    def show(self, event: Event) -> None:
        if self.as_json:
            self.out.write(event.to_json() + "\n")
            self.out.flush()
        else:
            self.text(event)
        if event.type == ev.SESSION_STATUS:
            self.ended = event.data["status"] in ev.TERMINAL_STATUSES
