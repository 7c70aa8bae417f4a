"""Switching the event log to all sessions: how long from the key until the log shows
them, next to a plain repaint of the same log.

    .venv/bin/python tests/bench/tui_switch.py [--sessions 6] [--turns 12] [--repeat 5]

A store (SQLite in a temporary folder) holds about 600 events over several sessions:
prompts, multi-line model replies, tool calls with long commands, results, task
output. The app (headless, 160×45 unless --size says otherwise) opens it, the first
session is selected, then the key bound to `all_sessions` is pressed. Measured:

- switch_ms: from the key until the log holds every session's lines and the screen
  has been painted (the median of --repeat switches, each from the first session).
- session_ms: the way back, from the session list's cursor move to that session's
  log painted.
- baseline_ms: a repaint of the log as it stands (the same lines, nothing switched):
  one frame's worth of work, what a switch should cost.
- lines: the lines the all-sessions log holds.

The last line is one JSON object with those fields.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual import events  # noqa: E402

from harness_tui import events as ev  # noqa: E402
from harness_tui.config import load_config  # noqa: E402
from harness_tui.config.keymap import DASHBOARD  # noqa: E402
from harness_tui.events import Event  # noqa: E402
from harness_tui.store import open_store, sqlite_url  # noqa: E402
from harness_tui.tui.app import HarnessApp  # noqa: E402
from harness_tui.tui.factory import make_app  # noqa: E402
from harness_tui.tui.widgets.event_log import EventLog  # noqa: E402
from harness_tui.tui.widgets.sessions import SessionsTable  # noqa: E402

REPLY = (
    "I looked at the failing test and the function it covers. The mean is computed "
    "over the wrong slice: the last element is dropped when the list has an even "
    "length, so the result is off by one element's share.\n"
    "The fix is a one-line change in calc.py; I will run the tests afterwards.\n"
    "If they pass I will also add a test for the empty list, which raises today."
)


def session_events(index: int, turns: int) -> list[Event]:
    """One session's log: about 8 events per turn, some of them several lines long."""
    sid = f"bench{index:07d}"
    out: list[Event] = []

    def add(type_: str, **data: object) -> None:
        out.append(Event(sid, len(out) + 1, type_, dict(data)))

    add(
        ev.SESSION_CREATED,
        title=f"Bench session {index}: fix the flaky upload test and tidy the config loader",
        provider="scripted",
        model="bench",
    )
    for turn in range(turns):
        call = f"c{turn}"
        add(ev.INPUT_RECEIVED, text=f"Step {turn}: run the tests and fix what fails", mode="prompt")
        add(ev.TURN_STARTED)
        add(ev.MODEL_COMPLETED, text=REPLY, tool_calls=[{"id": call, "name": "bash"}], usage={})
        command = f"python3 -m pytest tests/test_upload.py -k 'retry and not slow' -x -q --tb=short --maxfail=1 # step {turn}"
        add(ev.TOOL_REQUESTED, call_id=call, tool="bash", args={"command": command})
        add(ev.POLICY_DECIDED, call_id=call, decision="allow", risk="low", reason="tests")
        add(ev.TOOL_COMPLETED, call_id=call, result="3 passed\n" * 4, duration_ms=812)
        add(ev.MODEL_COMPLETED, text="All green.", tool_calls=[], usage={})
        add(ev.TURN_COMPLETED, reason="no_tool_calls")
    return out


def _painted(app: HarnessApp) -> asyncio.Future[None]:
    painted = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: painted.done() or painted.set_result(None))
    return painted


async def _until(changed: Callable[[], bool]) -> None:
    while not changed():
        await asyncio.sleep(0.0005)


async def press_and_wait(app: HarnessApp, key: str, changed: Callable[[], bool]) -> float:
    """From a key press until its effect is in the widgets and then on screen."""
    started = time.perf_counter()
    app.post_message(events.Key(key, None))
    await _until(changed)
    await _painted(app)
    return time.perf_counter() - started


async def run(sessions: int, turns: int, repeat: int, size: tuple[int, int]) -> dict:
    all_key = next(spec.key for spec in DASHBOARD if spec.id == "all_sessions").split(",")[0]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / ".git").mkdir(parents=True)
        db = project / ".harness" / "harness.db"
        db.parent.mkdir(parents=True)
        store = await open_store(sqlite_url(db))
        try:
            for index in range(sessions):
                await store.append(session_events(index, turns))
        finally:
            await store.close()
        config = load_config(project=project, flags={"provider.name": "scripted"})
        app = make_app(config, watch_theme_files=False)
        async with app.run_test(size=size) as pilot:
            await app.ready.wait()
            await pilot.pause()
            dashboard = app.dashboard
            log = dashboard.query_one(EventLog)
            table = dashboard.query_one(SessionsTable)
            table.focus()
            first = table._order[1]
            total = len(app.model.all_lines)
            switch, back, baseline = [], [], []
            for _ in range(repeat):
                started = time.perf_counter()
                table.select(first)
                await _until(lambda: dashboard.selected == first)
                await _painted(app)
                back.append(time.perf_counter() - started)
                await pilot.pause()

                def shows_all() -> bool:
                    return dashboard.selected is None and log.line_count == total

                switch.append(await press_and_wait(app, all_key, shows_all))
                await pilot.pause()
                started = time.perf_counter()
                log.refresh()
                await _painted(app)
                baseline.append(time.perf_counter() - started)
                await pilot.pause()
            await app.shutdown()
    return {
        "switch_ms": _ms(switch),
        "session_ms": _ms(back),
        "baseline_ms": _ms(baseline),
        "lines": total,
        "events": sessions * (1 + 8 * turns),
    }


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--turns", type=int, default=12, help="turns per session")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", default="160x45", help="terminal size, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    result = asyncio.run(run(args.sessions, args.turns, args.repeat, (width, height)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
