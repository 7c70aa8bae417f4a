"""A long history: the dashboard starts from the summaries and reads a session's log,
and pages of older events, when the user asks for them by choosing and scrolling."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Log

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.events import Event, utcnow
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.model import HISTORY_PAGE, SESSION_WINDOW
from harness_tui.tui.screens.tail import TailScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.sessions import SessionsTable
from harness_tui.tui.widgets.tasks import TasksTable
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


@pytest.fixture
def busy_history(tmp_path: Path) -> Path:
    """Many finished sessions (more than start-up reads the summaries of), then one
    idle session whose background task still runs
    (on another host, so no recovery touches it) and one waiting for an approval."""
    project = demo_repo(tmp_path / "demo")
    db = project / ".harness" / "harness.db"
    db.parent.mkdir(exist_ok=True)
    start = utcnow() - timedelta(days=3)
    elsewhere = {"host": "another-host", "pid": 1, "engine": "e"}

    async def write() -> None:
        store = await open_store(sqlite_url(db))
        try:
            for index in range(600):
                await store.append(
                    _session(f"old{index:03d}", f"Old {index}", 3, start + timedelta(minutes=index))
                )
            at = start + timedelta(days=1)
            risky = _session("risky", "Risky", 2, at)
            risky[0] = Event(
                "risky",
                1,
                ev.SESSION_CREATED,
                {"title": "Risky", "sandbox": {"mode": "danger-full-access"}},
                at,
            )
            await store.append(risky)
            await store.append(
                [
                    Event("bg", 1, ev.SESSION_CREATED, {"title": "Dev server"}, at),
                    Event("bg", 2, ev.TURN_STARTED, {"owner": elsewhere}, at),
                    Event(
                        "bg",
                        3,
                        ev.TASK_STARTED,
                        {"task_id": "t-bg", "kind": "shell", "title": "npm run dev"},
                        at,
                    ),
                    Event(
                        "bg",
                        4,
                        ev.TASK_OUTPUT,
                        {"task_id": "t-bg", "stream": "stdout", "text": "listening on 5173\n"},
                        at,
                    ),
                    Event("bg", 5, ev.TURN_COMPLETED, {"reason": "no_tool_calls"}, at),
                    Event("bg", 6, ev.SESSION_STATUS, {"status": "idle"}, at),
                ]
            )
            await store.append(
                [
                    Event("ask", 1, ev.SESSION_CREATED, {"title": "Publish"}, at),
                    Event("ask", 2, ev.TURN_STARTED, {"owner": elsewhere}, at),
                    Event(
                        "ask",
                        3,
                        ev.APPROVAL_REQUESTED,
                        {"approval_id": "a1", "call_id": "c1", "summary": "git push"},
                        at,
                    ),
                    Event("ask", 4, ev.SESSION_STATUS, {"status": "waiting"}, at),
                ]
            )
        finally:
            await store.close()

    asyncio.run(write())
    return project


async def test_what_is_live_at_start_is_whole_and_what_comes_later_appears(
    busy_history: Path,
) -> None:
    app = live_app(load_config(project=busy_history, flags={"provider.name": "scripted"}))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.ready.wait()
        model = app.model
        # Read whole because something in them goes on; the finished ones are not.
        assert model.sessions["bg"].loaded and model.sessions["ask"].loaded
        assert not model.sessions["old599"].loaded
        assert "old000" not in model.sessions
        # What only its log said is in its summary: its commands ran unconfined.
        table = app.dashboard.query_one(SessionsTable)
        assert not model.sessions["risky"].loaded
        assert str(table.get_row("risky")[1]).startswith("⚠ Risky")
        assert [a.approval_id for a in app.approvals.pending()] == ["a1"]
        assert any("1 approval is pending" in notice for notice in app.notices)
        # The task still running in the idle session: listed, and its tail opens.
        tasks = app.dashboard.query_one(TasksTable)
        await wait_until(pilot, lambda: "t-bg" in tasks._order)
        app.open_tail("t-bg")
        await wait_until(
            pilot, lambda: isinstance(app.screen, TailScreen) and bool(app.screen.query(Log))
        )
        tail = app.screen.query_one(Log)
        await wait_until(pilot, lambda: "listening on 5173" in "\n".join(tail.lines))
        await pilot.press("escape")

        # Another writer: a new session, and an old one taken up again.
        store = await open_store(sqlite_url(busy_history / ".harness" / "harness.db"))
        try:
            now = utcnow()
            await store.append(
                [
                    Event("new", 1, ev.SESSION_CREATED, {"title": "Brand new"}, now),
                    Event("new", 2, ev.SESSION_STATUS, {"status": "running"}, now),
                    Event("old599", 6, ev.SESSION_STATUS, {"status": "running"}, now),
                    # Older than any summary start-up read.
                    Event("old000", 6, ev.SESSION_STATUS, {"status": "running"}, now),
                ]
            )
        finally:
            await store.close()
        table = app.dashboard.query_one(SessionsTable)
        await wait_until(pilot, lambda: "new" in table._order)
        await wait_until(pilot, lambda: model.sessions["old599"].status == "running")
        assert str(table.get_row("old599")[0]) == "▶"
        await wait_until(
            pilot, lambda: "old000" in model.sessions and model.sessions["old000"].title == "Old 0"
        )
        assert model.sessions["old000"].status == "running"
        # Every session counted once: 600 old ones, risky, bg, ask and the new one.
        await wait_until(pilot, lambda: str(table.get_row("*")[1]) == "All sessions · 604")
