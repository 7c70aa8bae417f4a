"""The dashboard at every terminal size, and nothing on it cut off for good: the
layout at 80×24, the full event behind a log line, the task table's columns."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.factory import make_app
from harness_tui.tui.screens.dashboard import DashboardScreen
from harness_tui.tui.screens.event_detail import EventDetailScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.footer import KeyFooter
from harness_tui.tui.widgets.header import DashboardHeader
from harness_tui.tui.widgets.tasks import TasksTable
from tests.tui.conftest import RecordingApp, wait_until
from tests.tui.session_log import (
    REMOTE_HOLDER,
    REMOTE_LEASE_S,
    REMOTE_OWNER,
    SessionLog,
    created,
    end,
    reply,
    turn,
)
from tests.tui.showcase import FIXED_CLOCK, showcase_project

SMALL = (80, 24)

ANSWER = (
    "The failing test expected the mean of [1, 2, 3, 6] to be 4, but the function "
    "dropped the last element of every even-length list, so it returned 2. I fixed the "
    "slice in calc.mean, added a test for the empty list (it now raises ValueError with "
    "a message that names the argument) and ran the whole suite: 48 passed, 0 failed. "
    "THE-END-OF-THE-ANSWER"
)


async def _app_over(tmp_path: Path, *sessions: SessionLog) -> RecordingApp:
    project = showcase_project(tmp_path)
    db = project / ".harness" / "harness.db"
    db.parent.mkdir(parents=True)
    store = await open_store(sqlite_url(db))
    try:
        for session in sessions:
            await store.append(session.events)
            # The remote engine that runs a session holds its lease, as a live engine
            # on another host does: the dashboard's start-up leaves its work be.
            if any(event.data.get("owner") == REMOTE_OWNER for event in session.events):
                await store.acquire_lease(session.session_id, REMOTE_HOLDER, REMOTE_LEASE_S)
    finally:
        await store.close()
    config = load_config(project=project, flags={"provider.name": "scripted"})
    return make_app(config, app_class=RecordingApp, clock=FIXED_CLOCK, watch_theme_files=False)


def _text(widget) -> str:
    return str(widget.render())


async def test_80x24_stacks_the_panes_and_keeps_what_matters(showcase_app):
    """At 80×24 the log gets the whole width under the session list, the header keeps
    the pending approvals and the offline-demo notice, and the footer starts with quit
    and help."""
    app = showcase_app()
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.pause()
        screen = app.dashboard
        assert screen.has_class("-narrow")
        log = screen.query_one(EventLog)
        assert log.region.width == SMALL[0]
        header = screen.query_one(DashboardHeader)
        for item in ("#header-note", "#header-approvals"):
            widget = header.query_one(item)
            assert widget.region.right <= SMALL[0]
        assert "offline demo" in _text(header.query_one("#header-note"))
        assert "◆ 2 pending" in _text(header.query_one("#header-approvals"))
        footer = screen.query_one(KeyFooter)
        keys = [key for key in footer.children if hasattr(key, "action")]
        assert [key.action for key in keys[:2]] == ["quit", "help"]
        assert all(key.region.right <= SMALL[0] for key in keys[:2])


async def test_enter_on_a_log_line_shows_the_whole_event(tmp_path):
    """A final answer longer than the log is wide: up moves the cursor to it, Enter
    opens the whole event, wrapped, with its JSON data; Esc goes back to the log."""
    session = SessionLog("a1b2c3d4e5f6")
    created(session, 1, "Fix the failing mean() test")
    turn(session, 1, "fix it")
    reply(session, 2, ANSWER)
    end(session, 2, "no_tool_calls", "idle")
    app = await _app_over(tmp_path, session)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.pause()
        log = app.dashboard.query_one(EventLog)
        log.focus()
        await pilot.pause()
        # The answer is one line, wider than the log: its end is off screen.
        long = [line for line in log.lines if "THE-END" in line.text]
        assert long and len(long[0].text) > log.scrollable_content_region.width
        for _ in range(10):
            line = log.cursor_line
            if line is not None and line.type == ev.MODEL_COMPLETED:
                break
            await pilot.press("up")
        assert log.cursor_line is not None and log.cursor_line.type == ev.MODEL_COMPLETED
        assert not log.following
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, EventDetailScreen) and app.screen.event is not None,
        )
        detail = app.screen
        assert isinstance(detail, EventDetailScreen)
        console = Console(width=70, record=True, file=io.StringIO())
        console.print(detail._renderable())
        shown = re.sub(r"\s+", " ", console.export_text())
        # The whole answer as text, wrapped over several lines, then the JSON data.
        assert ANSWER in shown
        assert '"usage": {' in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen))


async def test_task_times_are_not_cut_off_when_the_list_scrolls(tmp_path):
    """More tasks than rows: the scrollbar takes room the columns were not sized for
    unless it is kept for it; every column, Time last, still fits."""
    session = SessionLog("a1b2c3d4e5f6")
    created(session, 1, "Run the checks")
    turn(session, 1, "run everything")
    for index in range(12):
        session.add(
            2,
            ev.TASK_STARTED,
            task_id=f"task-{index}",
            kind="shell",
            title=f"make check-{index}",
            owner=REMOTE_OWNER,
        )
    app = await _app_over(tmp_path, session)
    async with app.run_test(size=SMALL) as pilot:
        await app.ready.wait()
        await pilot.pause()
        tasks = app.dashboard.query_one(TasksTable)
        await wait_until(pilot, lambda: tasks.row_count == 12)
        assert tasks.show_vertical_scrollbar
        assert tasks.virtual_size.width <= tasks.scrollable_content_region.width
