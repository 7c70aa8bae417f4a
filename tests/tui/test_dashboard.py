"""The dashboard over a real store: what a user sees and what the keys do."""

from __future__ import annotations

from datetime import timedelta

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.config.keymap import BINDING_IDS
from harness_tui.events import Event
from harness_tui.store import StoreError, open_store, sqlite_url
from harness_tui.tui import keys
from harness_tui.tui.adapter import EngineBatch
from harness_tui.tui.app import HarnessApp
from harness_tui.tui.factory import make_app
from harness_tui.tui.model import ALL_WINDOW
from harness_tui.tui.screens.help import HelpScreen
from harness_tui.tui.screens.new_session import NewSessionScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.header import DashboardHeader
from harness_tui.tui.widgets.sessions import SessionsTable
from tests.support.projects import init_repo
from tests.tui.conftest import RecordingApp, wait_until
from tests.tui.showcase import FIX_TEST, NOW

SIZE = (160, 45)
FIREHOSE = "f0f0f0f0f0f0"


def _log(app: HarnessApp) -> EventLog:
    return app.dashboard.query_one(EventLog)


def _visible(app: HarnessApp) -> list[str]:
    log = _log(app)
    first = int(log.scroll_y)
    return [line.text for line in log.lines[first : first + log.size.height]]


async def _append_session(project, count: int, *, first_seq: int = 1) -> int:
    """Another process's session writing `count` task output events to the store."""
    store = await open_store(sqlite_url(project / ".harness" / "harness.db"))
    try:
        out = []
        seq = first_seq
        if seq == 1:
            out.append(
                Event(FIREHOSE, 1, ev.SESSION_CREATED, {"title": "busy", "provider": "x"}, ts=NOW)
            )
            seq = 2
        for n in range(count):
            out.append(
                Event(
                    FIREHOSE,
                    seq,
                    ev.TASK_OUTPUT,
                    {"task_id": "t", "stream": "stdout", "text": f"line {n}\n"},
                    ts=NOW + timedelta(milliseconds=n),
                )
            )
            seq += 1
        positions = await store.append(out)
        return positions[-1]
    finally:
        await store.close()


async def test_header_says_offline_demo_without_an_api_key(tmp_path):
    """No API key: the header and a notification say the offline demo provider is used."""
    from harness_tui.config import load_config

    project = tmp_path / "p"
    (project / ".git").mkdir(parents=True)
    app = RecordingApp(load_config(project=project), watch_theme_files=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.pause()
        header = app.dashboard.query_one(DashboardHeader)
        assert header.provider == "scripted/demo"
        assert header.note == "offline demo, no API key set"
        assert any("offline demo provider" in notice for notice in app.notices)


async def test_sessions_pane_shows_the_tree_and_states(showcase_app):
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.pause()
        table = app.dashboard.query_one(SessionsTable)
        rows = [(str(row[0]), str(row[1])) for row in map(table.get_row_at, range(table.row_count))]

        def glyph_of(title: str) -> str:
            return next(glyph for glyph, text in rows if text.startswith(title))

        assert glyph_of("Publish the docs") == "◆"
        assert glyph_of("Rename load()") == "◆"
        assert glyph_of("Summarise") == "○"
        assert glyph_of("Upgrade dependenc") == "◌"
        assert glyph_of("Add retries") == "✓"
        assert glyph_of("Refactor the query") == "✗"
        assert glyph_of("Find out why") == "⊘"
        assert glyph_of("Fix the failing") == "▶"
        titles = [text for _glyph, text in rows]
        parent = next(i for i, t in enumerate(titles) if t.startswith("Fix the failing"))
        assert titles[parent + 1].startswith("├ [review]")
        assert titles[parent + 2].startswith("└ [explore]")
        assert app.dashboard.query_one(DashboardHeader).pending == 2


async def test_selecting_a_session_shows_only_its_events(showcase_app):
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        app.dashboard.select_when_listed(FIX_TEST)
        await pilot.pause()
        lines = _log(app).lines
        assert lines and {line.session_id for line in lines} == {FIX_TEST}
        await pilot.press("ctrl+a")
        assert len({line.session_id for line in _log(app).lines}) > 1


async def test_text_filter_and_clear(showcase_app):
    """ctrl+l then text keeps only matching events (whole, with their continuation
    lines); Esc clears the filter and shows everything again."""
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        total = _log(app).line_count
        await pilot.press("ctrl+l", *"pytest")
        lines = _log(app).lines
        assert lines and all("pytest" in line.text.lower() or not line.label for line in lines), [
            line.text for line in lines
        ]
        await pilot.press("escape")
        assert _log(app).line_count == total


async def test_type_filter_cycles(showcase_app):
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+k", "ctrl+k")  # conversation, then tools
        kinds = {line.kind for line in _log(app).lines}
        assert kinds <= {"tool", "result", "policy"}
        assert "type: tools" in _log(app).border_title


async def test_log_follows_the_tail_unless_scrolled_up(showcase_config):
    """New events scroll the log while it follows; after scrolling up the view stays
    put and counts what is new below; ctrl+e follows again."""
    project = showcase_config().project
    app = HarnessApp(showcase_config(), watch_theme_files=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        log = _log(app)
        top = await _append_session(project, 200)
        await wait_until(pilot, lambda: log.last_position >= top)
        await pilot.pause()
        assert log.following and "line 199" in _visible(app)[-1]

        log.focus()
        await pilot.press("pageup", "pageup")
        await pilot.wait_for_scheduled_animations()
        assert not log.following
        held = log.scroll_y
        top = await _append_session(project, 50, first_seq=202)
        await wait_until(pilot, lambda: log.last_position >= top)
        await pilot.pause()
        assert log.scroll_y == held
        assert "50 new below" in log.border_subtitle

        await pilot.press("ctrl+e")
        await pilot.pause()
        assert log.following and "line 49" in _visible(app)[-1]


async def test_engine_events_arrive_in_batches(showcase_config):
    """Thousands of events reach the screen in a handful of batches, never one
    widget update per event, and the log holds a bounded window of them."""
    project = showcase_config().project
    counts = {"batches": 0, "events": 0}

    class CountingApp(HarnessApp):
        def on_engine_batch(self, batch: EngineBatch) -> None:
            counts["batches"] += 1
            counts["events"] += len(batch.events)

    app = CountingApp(showcase_config(), watch_theme_files=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        before = dict(counts)
        top = await _append_session(project, 30_000)
        log = _log(app)
        await wait_until(pilot, lambda: log.last_position >= top, timeout=60)
        batches = counts["batches"] - before["batches"]
        events = counts["events"] - before["events"]
        assert events == 30_001
        assert batches <= events / 100
        assert log.line_count <= ALL_WINDOW + ALL_WINDOW // 10
        assert len(app.model.all_lines) <= ALL_WINDOW


async def test_keymap_from_config_remaps(showcase_app):
    """[keys] new_session = "f2" moves the binding. (An unknown id never gets this
    far: the config refuses it, tests/config/test_check.py.)"""
    app = showcase_app(**{"keys.new_session": "f2"})
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+n")
        assert not isinstance(app.screen, NewSessionScreen)
        await pilot.press("f2")
        assert isinstance(app.screen, NewSessionScreen)


async def test_a_remapped_key_is_matched_as_textual_names_it(showcase_app):
    """Modifiers in any order, spaces after commas: the key works as written."""
    app = showcase_app(**{"keys.new_session": "f3, shift+ctrl+f5"})
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+shift+f5")
        assert isinstance(app.screen, NewSessionScreen)


async def test_help_lists_every_binding_and_its_id(showcase_app):
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen._table()
        ids = {str(cell) for column in table.columns for cell in column.cells}
        assert set(BINDING_IDS) <= ids


def test_every_binding_has_an_id_a_description_and_a_tooltip():
    for _context, bindings in keys.CONTEXTS:
        for binding in bindings:
            assert binding.id and binding.description and binding.tooltip, binding


async def test_palette_offers_the_dashboard_commands(showcase_app):
    from harness_tui.tui.commands import DashboardCommands

    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.pause()
        provider = DashboardCommands(app.dashboard)
        texts = [text for text, _callback, _help in provider._commands()]
        assert "Start a new session" in texts
        assert any(t.startswith("Signals GC found") for t in texts)
        assert any(t.startswith("Show session: Fix the failing") for t in texts)
        assert any(t.startswith("Answer approval: git push") for t in texts)
        assert {"Theme: harness-dark", "Theme: harness-light", "Theme: harness-nord"} <= set(texts)


async def test_quit_leaves_cleanly(showcase_config):
    """ctrl+q with nothing running in this process closes the engine and exits with 0;
    the store opens again with everything in it."""
    app = HarnessApp(showcase_config(), watch_theme_files=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        count = app.model.event_count
        await pilot.press("ctrl+q")
    assert app.return_code == 0
    store = await open_store(sqlite_url(showcase_config().project / ".harness" / "harness.db"))
    try:
        assert len(await store.read_all(0, 10_000)) >= count
    finally:
        await store.close()


async def test_a_store_that_cannot_be_opened_closes_the_dashboard(tmp_path):
    """Without an engine there is nothing to show: the app closes with a non-zero code
    and keeps the error, which the command line reports as one line."""
    project = init_repo(tmp_path / "p")
    flags = {"provider.name": "scripted", "store.url": "postgresql://127.0.0.1:1/x"}
    app = make_app(load_config(project=project, flags=flags), watch_theme_files=False)
    async with app.run_test(size=SIZE):
        await app.workers.wait_for_complete()
    assert isinstance(app.open_error, StoreError)
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in str(app.open_error)
    assert app.return_code == 1
