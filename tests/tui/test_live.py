"""The dashboard driving the real engine with the scripted provider, as a person would:
keys in, the screen and the store checked afterwards."""

from __future__ import annotations

from harness_tui import events as ev
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.app import HarnessApp
from harness_tui.tui.screens.approval import ApprovalScreen
from harness_tui.tui.screens.confirm import ConfirmScreen
from harness_tui.tui.screens.inbox import InboxScreen
from harness_tui.tui.screens.mode import ApprovalModeScreen
from harness_tui.tui.screens.new_session import NewSessionScreen
from harness_tui.tui.screens.tail import TailScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.header import DashboardHeader
from harness_tui.tui.widgets.tasks import TasksTable
from tests.support.projects import write_script
from tests.tui.conftest import live_app, live_config, wait_until

SIZE = (160, 45)

CLEANUP_SCRIPT = """\
[[turn]]
text = "Removing the stray log file."
[[turn.tool_calls]]
name = "bash"
arguments = { command = "git clean -f stray.log" }

[[turn]]
text = "Removed it."
"""

SLOW_SCRIPT = """\
[[turn]]
text = "Thinking about it for a long while."
delay_ms = 60000
"""


async def _stored(project) -> list:
    store = await open_store(sqlite_url(project / ".harness" / "harness.db"))
    try:
        return await store.read_all(0, 100_000)
    finally:
        await store.close()


def _session(app: HarnessApp):
    roots = app.model.roots()
    assert roots, "no session on screen"
    return roots[0]


async def test_new_user_runs_the_demo(demo_project):
    """The README's path: ctrl+n starts a demo session; its approval pops up and is put
    off with Esc; text typed mid-turn (straight on the dashboard: it goes to the input
    bar) steers it; ctrl+y and y allow the command; the subagent shows under its
    parent; the background task is tailed live; ctrl+q quits and the store holds it
    all."""
    app = live_app(live_config(demo_project))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NewSessionScreen)
        await pilot.press(*"fix the failing test", "enter")

        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=60)
        assert app.screen.approval.summary and app.screen.approval.risk
        assert app.dashboard.query_one(DashboardHeader).pending == 1
        await pilot.press("escape")
        assert not isinstance(app.screen, ApprovalScreen)

        await pilot.press(*"keep the docstring as it is", "enter")
        await pilot.press("ctrl+y")
        assert isinstance(app.screen, ApprovalScreen)
        await pilot.press("y")

        session = _session(app)
        await wait_until(pilot, lambda: session.status == "done", timeout=60)
        log_text = "\n".join(line.text for line in app.dashboard.query_one(EventLog).lines)
        assert "keep the docstring as it is" in log_text
        assert "allow once" in log_text

        tree = [(view.session_id, depth) for view, depth, _ in app.model.tree()]
        assert any(depth == 1 for _, depth in tree), "the subagent is not under its parent"
        assert tree[0][0] == session.session_id

        app.dashboard.select_when_listed(session.session_id)
        await pilot.pause()
        tasks = app.dashboard.query_one(TasksTable)
        shell = [t for t in app.model.tasks_of(session.session_id) if t.kind == "shell"]
        assert shell, "no background task listed"
        tasks.focus()
        tasks.move_cursor(row=tasks._order.index(shell[0].task_id))
        await pilot.press("ctrl+t")
        assert isinstance(app.screen, TailScreen)
        tail_log = app.screen.query_one("#tail-log")
        await wait_until(pilot, lambda: tail_log.line_count > 0)
        await pilot.press("escape")

        await pilot.press("ctrl+q")
    assert app.return_code == 0

    stored = await _stored(demo_project)
    types = [event.type for event in stored]
    assert ev.APPROVAL_RESOLVED in types
    resolved = next(e for e in stored if e.type == ev.APPROVAL_RESOLVED)
    assert resolved.data["decision"] == "allow_once"
    steers = [e for e in stored if e.type == ev.INPUT_RECEIVED and e.data.get("mode") == "steer"]
    assert [e.data["text"] for e in steers] == ["keep the docstring as it is"]
    assert ev.SUBAGENT_SPAWNED in types and ev.TASK_OUTPUT in types


async def test_inbox_answers_every_approval_in_turn(demo_project, tmp_path):
    """Two sessions wait for approval; the inbox lists both oldest first, and Enter
    then `y` (on the prompt it opens) twice answers them in turn until it says
    nothing is pending."""
    script = write_script(tmp_path / "cleanup.toml", CLEANUP_SCRIPT)
    app = live_app(live_config(demo_project, script=script))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        for prompt in ("first clean-up", "second clean-up"):
            # With "all sessions" selected, the input bar starts a new session.
            await pilot.press("ctrl+a", *prompt, "enter")
            # Each new approval pops up over the idle dashboard; Esc puts it off.
            await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=60)
            await pilot.press("escape")
        assert len(app.approvals.pending()) == 2
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, InboxScreen)
        first, second = app.approvals.pending()
        assert first.position < second.position
        await pilot.press("enter", "y")
        await wait_until(pilot, lambda: len(app.model.approvals) == 1, timeout=30)
        assert isinstance(app.screen, InboxScreen)
        await pilot.press("enter", "y")
        await wait_until(pilot, lambda: not app.model.approvals, timeout=30)
        assert app.screen.has_class("-empty")
        await pilot.press("escape", "ctrl+q")

    stored = await _stored(demo_project)
    decisions = [e.data["decision"] for e in stored if e.type == ev.APPROVAL_RESOLVED]
    assert decisions == ["allow_once", "allow_once"]


async def test_cancel_asks_first_then_cancels(demo_project, tmp_path):
    """ctrl+x on a running session asks for confirmation; `y` cancels the turn, and the
    session's glyph turns to cancelled."""
    script = write_script(tmp_path / "slow.toml", SLOW_SCRIPT)
    app = live_app(live_config(demo_project, script=script))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press(*"take your time", "enter")
        await wait_until(pilot, lambda: bool(app.model.sessions))
        session = _session(app)
        await wait_until(pilot, lambda: session.turn_active)
        app.dashboard.select_when_listed(session.session_id)
        await pilot.pause()
        await pilot.press("ctrl+x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: session.status == "cancelled")
        assert app.dashboard.selected == session.session_id
        await pilot.press("ctrl+q")
    stored = await _stored(demo_project)
    reasons = [e.data["reason"] for e in stored if e.type == ev.TURN_COMPLETED]
    assert reasons == ["cancelled"]


async def test_follow_up_waits_for_the_turn(demo_project, tmp_path):
    """Ctrl+F in the input bar queues a follow-up: it is received only after the
    running turn has ended."""
    script = write_script(
        tmp_path / "two.toml",
        """\
        [[turn]]
        text = "First answer."
        delay_ms = 400

        [[turn]]
        text = "Second answer."
        """,
    )
    app = live_app(live_config(demo_project, script=script))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press(*"first question", "enter")
        await wait_until(pilot, lambda: bool(app.model.sessions))
        session = _session(app)
        app.dashboard.select_when_listed(session.session_id)
        await pilot.pause()
        await pilot.press(*"and then this", "ctrl+f")
        await wait_until(pilot, lambda: session.status == "done" and not session.turn_active)
        await wait_until(pilot, lambda: "Second answer." in _texts(app))
        await pilot.press("ctrl+q")
    stored = await _stored(demo_project)
    inputs = [(e.data["mode"], e.data["text"]) for e in stored if e.type == ev.INPUT_RECEIVED]
    assert inputs == [("prompt", "first question"), ("follow_up", "and then this")]
    first_end = next(e.position for e in stored if e.type == ev.TURN_COMPLETED)
    follow_up = next(e.position for e in stored if e.data.get("mode") == "follow_up")
    assert follow_up > first_end


def _texts(app: HarnessApp) -> str:
    return "\n".join(line.text for line in app.model.all_lines)


async def test_approval_mode_can_be_switched(demo_project, tmp_path):
    """ctrl+r on a session offers the four approval modes; choosing auto records it."""
    script = write_script(tmp_path / "slow.toml", SLOW_SCRIPT)
    app = live_app(live_config(demo_project, script=script))
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press(*"take your time", "enter")
        await wait_until(pilot, lambda: bool(app.model.sessions))
        session = _session(app)
        app.dashboard.select_when_listed(session.session_id)
        await pilot.pause()
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, ApprovalModeScreen)
        options = app.screen.query_one("#modes")
        options.highlighted = [o.id for o in options.options].index("auto")
        await pilot.press("enter")
        await wait_until(pilot, lambda: session.approval_mode == "auto")
        await pilot.press("ctrl+x", "y")
        await wait_until(pilot, lambda: not session.turn_active)
        await pilot.press("ctrl+q")
    stored = await _stored(demo_project)
    modes = [e.data["approval_mode"] for e in stored if e.type == ev.SESSION_APPROVAL_MODE]
    assert modes == ["auto"]
