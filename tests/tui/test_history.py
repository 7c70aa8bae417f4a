"""A long history: the dashboard starts from the summaries and reads a session's log,
and pages of older events, when the user asks for them by choosing and scrolling."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.events import Event, utcnow
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.model import HISTORY_PAGE, SESSION_WINDOW
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.sessions import SessionsTable
from tests.support.projects import demo_repo
from tests.tui.conftest import live_app, wait_until

# More events than a session's window of lines holds, and several pages of them.
LONG = SESSION_WINDOW + 3 * HISTORY_PAGE


def _session(session_id: str, title: str, steps: int, start) -> list[Event]:
    events = [
        Event(session_id, 1, ev.SESSION_CREATED, {"title": title, "provider": "scripted"}, start)
    ]
    for step in range(1, steps + 1):
        events.append(
            Event(
                session_id,
                step + 1,
                ev.INPUT_RECEIVED,
                {"text": f"{title} step {step}", "mode": "prompt"},
                start + timedelta(seconds=step),
            )
        )
    events.append(
        Event(session_id, steps + 2, ev.SESSION_STATUS, {"status": "done"}, start + timedelta(1))
    )
    return events


@pytest.fixture
def long_history(tmp_path: Path) -> Path:
    project = demo_repo(tmp_path / "demo")
    db = project / ".harness" / "harness.db"
    db.parent.mkdir(exist_ok=True)
    start = utcnow() - timedelta(days=30)

    async def write() -> None:
        store = await open_store(sqlite_url(db))
        try:
            await store.append(_session("long", "Long", LONG, start))
            await store.append(_session("recent", "Recent", 10, start + timedelta(days=2)))
        finally:
            await store.close()

    asyncio.run(write())
    return project


def _step_of(log: EventLog, index: int) -> str:
    return log.lines[index].text


async def test_a_session_chosen_after_start_shows_its_whole_history_by_scrolling_up(
    long_history: Path,
) -> None:
    app = live_app(load_config(project=long_history, flags={"provider.name": "scripted"}))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.ready.wait()
        # Neither session is live: start-up read their summaries, not their logs.
        assert not app.model.sessions["long"].loaded
        assert not app.model.sessions["recent"].loaded
        table = app.dashboard.query_one(SessionsTable)
        assert table.select("long")
        log = app.dashboard.query_one(EventLog)
        # Chosen, the session's log is read: the newest lines, as many as its window holds.
        await wait_until(
            pilot,
            lambda: (
                app.model.sessions["long"].loaded
                and bool(log.lines)
                and log.lines[0].session_id == "long"
            ),
        )
        assert log.line_count == SESSION_WINDOW
        assert log.lines[-1].type == ev.SESSION_STATUS
        log.focus()
        pages = 0
        while log.lines[0].seq != 1:
            oldest = log.lines[0]
            # To the top of what is loaded: the page before it is read.
            await pilot.press("home")
            await wait_until(pilot, lambda oldest=oldest: log.lines[0] != oldest)
            # The line that was at the top of the screen stays there, the page above it.
            assert log.lines[int(log.scroll_y)] == oldest
            pages += 1
        assert pages >= 2
        steps = [line.text for line in log.lines if line.type == ev.INPUT_RECEIVED]
        assert steps == [f"Long step {n}" for n in range(1, LONG + 1)]


async def test_all_sessions_starts_with_the_newest_events_and_pages_back(
    long_history: Path,
) -> None:
    app = live_app(load_config(project=long_history, flags={"provider.name": "scripted"}))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.ready.wait()
        log = app.dashboard.query_one(EventLog)
        await wait_until(pilot, lambda: log.line_count > 0)
        assert len(app.model.all_lines) <= HISTORY_PAGE
        assert log.lines[-1].session_id == "recent"
        log.focus()
        await pilot.press("home")
        await wait_until(pilot, lambda: log.line_count > HISTORY_PAGE)
        lines = [(line.position, line.text) for line in log.lines]
        # The page before joins on without a gap or a repeat.
        assert len(lines) == len(set(lines))
        positions = sorted({position for position, _text in lines})
        assert positions == list(range(positions[0], positions[-1] + 1))
