"""The GC screen over real stores and the real engine: signals found in the log, drafts
made by the offline provider, adopted and rejected with keys; and GC's own log kept
out of the sessions list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.gc.drafts import DEFAULT_TARGETS
from harness_tui.gc.service import gc_session_id
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.screens.confirm import ConfirmScreen
from harness_tui.tui.screens.gc import GCScreen, RejectDraftScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.gc import DraftsTable, SignalsTable
from harness_tui.tui.widgets.sessions import ALL_SESSIONS, SessionsTable
from tests.gc.eventlog import Log
from tests.support.projects import init_repo
from tests.tui.conftest import RecordingApp, live_config, wait_until
from tests.tui.gc_showcase import (
    DRAFT_EXPIRED,
    DRAFT_FORCE_PUSH,
    GC_CART,
    GC_DOCS,
    GC_LINT,
    GC_RELEASE,
)

SIZE = (160, 45)


def recurring_trouble() -> Log:
    """Three sessions each blocked by the same rule, and one that ran the same failing
    command three times: two signals at the default thresholds."""
    log = Log()
    for session in ("s1", "s2", "s3"):
        log.add(
            session,
            ev.SESSION_CREATED,
            title=f"session {session}",
            project="p",
            provider="scripted",
            model="demo",
        )
        log.turn(session)
        log.call(
            session,
            "bash",
            decision="forbid",
            rule_id="git-force-push",
            reason="Force-pushing rewrites history",
            command="git push -f",
        )
        log.end_turn(session)
        log.add(session, ev.SESSION_STATUS, status="done")
    log.turn("s1", "again")
    for _ in range(3):
        log.call("s1", "bash", exit_code=1, command="make lint")
    log.end_turn("s1")
    return log


async def plant(project: Path, events: list[Event], *, age_days: float = 0) -> None:
    """Write `events` as if the last had happened `age_days` ago: GC prunes sessions
    older than [gc] retention_days."""
    db = project / ".harness" / "harness.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    shift = datetime.now(UTC) - events[-1].ts - timedelta(days=age_days)
    store = await open_store(sqlite_url(db))
    try:
        await store.append(
            [Event(e.session_id, e.seq, e.type, e.data, e.ts + shift) for e in events]
        )
    finally:
        await store.close()


def _gc_screen(app: RecordingApp) -> GCScreen:
    screen = app.screen
    assert isinstance(screen, GCScreen), screen
    return screen


def _status_of(screen: GCScreen, draft_id: str) -> str | None:
    if screen.status is None or draft_id not in screen.status.drafts.drafts:
        return None
    drafts = screen.status.drafts
    return drafts.status(drafts.get(draft_id))


async def test_run_gc_then_adopt_and_reject_drafts(tmp_path):
    """ctrl+g opens GC: both signals, no drafts yet. R runs GC; the offline provider drafts
    a note for each signal. a adopts the selected one: it turns adopted and its text
    is in AGENTS.md. a again is refused with a notification. r on the other asks why,
    refuses an empty reason, and rejects it with the one typed. The GC log stays out
    of the sessions list."""
    project = init_repo(tmp_path / "p")
    await plant(project, recurring_trouble().events)
    app = RecordingApp(live_config(project), watch_theme_files=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+g")
        screen = _gc_screen(app)
        await wait_until(pilot, lambda: screen.status is not None)
        assert {s.kind for s in screen.status.signals} == {
            "chronic_block",
            "repeated_failing_command",
        }
        assert not screen.status.drafts.drafts
        signals = screen.query_one(SignalsTable)
        assert str(signals.get_cell("chronic_block:git-force-push", "draft")) == "—"

        await pilot.press("R")
        await wait_until(
            pilot, lambda: screen.status is not None and len(screen.status.drafts.drafts) == 2
        )
        assert any(notice.startswith("2 signals · 2 drafted") for notice in app.notices)
        drafts = screen.query_one(DraftsTable)
        first = drafts.selected_draft
        assert first is not None and first.kind == "note"
        assert first.target == DEFAULT_TARGETS["note"]
        assert "pending" in str(drafts.get_cell(first.draft_id, "status"))
        assert first.draft_id in str(signals.get_cell(first.signal_id, "draft"))

        await pilot.press("a")
        await wait_until(pilot, lambda: _status_of(screen, first.draft_id) == "adopted")
        assert "adopted" in str(drafts.get_cell(first.draft_id, "status"))
        assert str(first.content).strip() in (project / "AGENTS.md").read_text()

        await pilot.press("a")
        await wait_until(pilot, lambda: any("not pending" in n for n in app.notices))
        assert isinstance(app.screen, GCScreen)

        other = next(d for d in screen.status.drafts.listed() if d.draft_id != first.draft_id)
        assert drafts.select(other.draft_id)
        await pilot.press("r")
        assert isinstance(app.screen, RejectDraftScreen)
        await pilot.press("enter")
        assert isinstance(app.screen, RejectDraftScreen), "an empty reason is not taken"
        await pilot.press(*"a rule would say it better", "enter")
        await wait_until(pilot, lambda: _status_of(screen, other.draft_id) == "rejected")
        assert screen.status.drafts.get(other.draft_id).reason == "a rule would say it better"

        await pilot.press("escape")
        table = app.dashboard.query_one(SessionsTable)
        gc_log = gc_session_id(project.resolve())
        assert gc_log in app.model.sessions
        assert gc_log not in table._order
        assert str(table.get_cell(ALL_SESSIONS, "title")) == "All sessions · 3"


async def test_gc_log_is_not_a_session_and_draft_errors_are_notices(gc_showcase_app):
    """Over a store with GC's log: the sessions list and the all-sessions log show only
    the four agent sessions. On the GC screen, the newest pending draft is selected;
    adopting the expired one, or one whose target is outside the project, is refused
    with a notification and writes nothing."""
    app = gc_showcase_app()
    project = app.config.project
    gc_log = gc_session_id(project)
    store = await open_store(sqlite_url(project / ".harness" / "harness.db"))
    try:
        seq = len(await store.read(gc_log)) + 1
        await store.append(
            [
                Event(
                    gc_log,
                    seq,
                    ev.GC_DRAFT_CREATED,
                    {
                        "draft_id": "d-0000outside",
                        "signal": {"kind": "hot_file", "key": "x", "count": 5, "evidence": []},
                        "kind": "note",
                        "target": "../elsewhere.md",
                        "title": "escape",
                        "content": "- hi",
                    },
                    ts=datetime.now(UTC),
                )
            ]
        )
    finally:
        await store.close()

    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.pause()
        table = app.dashboard.query_one(SessionsTable)
        assert table._order == [ALL_SESSIONS, GC_DOCS, GC_LINT, GC_RELEASE, GC_CART]
        assert str(table.get_cell(ALL_SESSIONS, "title")) == "All sessions · 4"
        lines = app.dashboard.query_one(EventLog).lines
        assert lines and gc_log not in {line.session_id for line in lines}

        await pilot.press("ctrl+g")
        screen = _gc_screen(app)
        await wait_until(pilot, lambda: screen.status is not None)
        await pilot.pause()
        drafts = screen.query_one(DraftsTable)
        assert drafts.current_key == "d-0000outside"  # the newest pending draft

        await pilot.press("a")
        await wait_until(pilot, lambda: any("outside the project" in n for n in app.notices))
        assert not (project.parent / "elsewhere.md").exists()

        assert drafts.select(DRAFT_EXPIRED)
        await pilot.press("a")
        await wait_until(pilot, lambda: any("is expired, not pending" in n for n in app.notices))
        await pilot.press("r")
        assert not isinstance(app.screen, RejectDraftScreen)
        assert _status_of(screen, DRAFT_FORCE_PUSH) == "pending"
        assert not (project / "AGENTS.md").exists()


async def test_run_gc_asks_before_pruning_old_sessions(tmp_path):
    """Sessions older than retention_days: R asks first. n leaves everything as it was;
    y runs GC, which drafts and prunes the three sessions from the store."""
    project = init_repo(tmp_path / "p")
    await plant(project, recurring_trouble().events, age_days=40)
    app = RecordingApp(live_config(project), watch_theme_files=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+g")
        screen = _gc_screen(app)
        await wait_until(pilot, lambda: screen.status is not None)

        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_until(pilot, lambda: any(n.startswith("GC not run") for n in app.notices))
        assert {e.session_id for e in await _stored(project)} == {"s1", "s2", "s3"}

        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: any("3 sessions pruned" in n for n in app.notices))
        assert {e.session_id for e in await _stored(project)} == {gc_session_id(project.resolve())}


async def _stored(project: Path) -> list[Event]:
    store = await open_store(sqlite_url(project / ".harness" / "harness.db"))
    try:
        return await store.read_all(0, 100_000)
    finally:
        await store.close()


def test_a_session_created_as_system_is_not_listed():
    """The session.created flag hides a system session whatever its id; one named like
    GC's log is hidden from the first event, before its session.created is seen."""
    model = DashboardModel()
    model.apply(
        [
            Event("work", 1, ev.SESSION_CREATED, {"title": "work"}, position=1),
            Event("housekeeping", 1, ev.SESSION_CREATED, {"system": True}, position=2),
            Event("gc-0123456789", 2, ev.GC_COMPLETED, {"signals": 0}, position=3),
        ]
    )
    assert [view.session_id for view in model.listed()] == ["work"]
    assert [view.session_id for view, _depth, _last in model.tree()] == ["work"]
    assert {line.session_id for line in model.all_lines} == {"work"}
