"""A session on an external agent, supervised from the dashboard like our own: started
from the new-session form beside an in-process session, its permission request
answered with `y`, steered by typing, cancelled with ctrl+x — and nothing of it left
running. The agent is tests/support/agents/fake_claude.py, a real process speaking
Claude Code's stream-json control protocol."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.widgets import Select

from harness_tui import events as ev
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.screens.approval import ApprovalScreen
from harness_tui.tui.screens.confirm import ConfirmScreen
from harness_tui.tui.screens.new_session import NewSessionScreen
from harness_tui.tui.widgets.header import DashboardHeader
from harness_tui.tui.widgets.sessions import SessionsTable
from tests.support.processes import group_alive, running
from tests.support.projects import agent_entry, init_repo, write_script
from tests.tui.conftest import live_app, live_config, stored_app, wait_until
from tests.tui.session_log import SessionLog, created, end, reply, turn

FAKE = Path(__file__).resolve().parents[1] / "support" / "agents" / "fake_claude.py"
# Inline interpreter code: our policy asks a person first (interpreter-inline-code).
SLOW = (
    "python3 -c \"import os, time; open('started.txt', 'w').write(str(os.getpid())); "
    'time.sleep(120)"'
)


def _project(tmp_path: Path) -> tuple[Path, Path]:
    project = init_repo(tmp_path / "project")
    log = tmp_path / "fake-claude.log"
    config = project / ".harness" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    env = {"FAKE_CLAUDE_STATE": str(tmp_path / "state"), "FAKE_CLAUDE_LOG": str(log)}
    config.write_text(agent_entry("fake", "claude", sys.executable, [FAKE], env))
    return project, log


async def test_an_agent_session_is_approved_steered_and_cancelled_by_keyboard(tmp_path):
    project, agent_log = _project(tmp_path)
    script = write_script(tmp_path / "hello.toml", '[[turn]]\ntext = "Hello from our loop."\n')
    app = live_app(live_config(project, script=script))
    async with app.run_test(size=(160, 45)) as pilot:
        await app.ready.wait()
        # Our own loop first.
        await pilot.press("ctrl+n", *"say hello", "enter")
        await wait_until(pilot, lambda: len(app.model.roots()) == 1)
        ours = app.model.roots()[0]
        await wait_until(pilot, lambda: ours.status == "done", timeout=60)

        # Then the agent, chosen in the form.
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NewSessionScreen)
        app.screen.query_one("#agent", Select).value = "fake"
        app.screen.query_one("#prompt").value = f"run: {SLOW}"
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(app.model.roots()) == 2)
        agent = next(v for v in app.model.roots() if v.session_id != ours.session_id)
        assert agent.backend == "fake"

        # Its permission request, judged by our policy, pops up; `y` allows it.
        await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=60)
        assert "python3 -c" in app.screen.approval.summary
        await pilot.press("y")
        await wait_until(pilot, lambda: (project / "started.txt").exists(), timeout=60)

        # Both sessions are listed, the agent named where the model is.
        table = app.dashboard.query_one(SessionsTable)
        assert {ours.session_id, agent.session_id} <= set(table._order)
        assert "fake" in str(table.get_cell(agent.session_id, "model"))
        app.dashboard.select_when_listed(agent.session_id)
        await wait_until(pilot, lambda: app.dashboard.selected == agent.session_id)
        header = app.dashboard.query_one(DashboardHeader).query_one("#header-sandbox")
        assert "agent fake" in str(header.render())

        # Typed text steers the running turn: it reaches the agent mid-turn.
        await pilot.press(*"use the other fixture", "enter")
        await wait_until(
            pilot,
            lambda: agent_log.exists() and "use the other fixture" in agent_log.read_text(),
            timeout=30,
        )

        # ctrl+x asks, `y` cancels: the turn ends cancelled and the agent is gone.
        await pilot.press("ctrl+x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: agent.status == "cancelled", timeout=30)
        await pilot.press("ctrl+q")

    store = await open_store(sqlite_url(project / ".harness" / "harness.db"))
    try:
        events = await store.read(agent.session_id)
    finally:
        await store.close()
    types = [e.type for e in events]
    (started,) = [e.data for e in events if e.type == ev.AGENT_STARTED]
    resolved = [e.data for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert [(r["decision"], r["by"]) for r in resolved] == [("allow_once", "user")]
    steers = [e.data["text"] for e in events if e.type == ev.INPUT_RECEIVED]
    assert steers == [f"run: {SLOW}", "use the other fixture"]
    assert [e.data["reason"] for e in events if e.type == ev.TURN_COMPLETED] == ["cancelled"]
    assert ev.AGENT_EXITED in types
    # The agent's whole process group is gone, and the command it was running with it.
    assert not group_alive(started["pgid"])
    assert not running(int((project / "started.txt").read_text()))


def _agent_session(sid: str, at: float, *, asks: bool) -> SessionLog:
    log = SessionLog(sid)
    created(log, at, f"{sid} work", provider="claude", model="", backend="claude")
    turn(log, at, "tidy the imports")
    log.add(
        at,
        ev.AGENT_STARTED,
        agent="claude",
        protocol="claude",
        agent_session_id="c-1",
        asks_permission=asks,
        can_steer=True,
    )
    reply(log, at + 1, "Done.")
    end(log, at + 1, "no_tool_calls", "done")
    return log


async def test_an_agent_that_never_asks_is_said_loudly(tmp_path):
    """The header names the agent that asks our policy first, and turns loud for one
    whose mode never asks; that session's row carries the mark too, read from its log or
    from its summary alone."""
    asking = _agent_session("s-asking", 0, asks=True)
    never = _agent_session("s-never", 2, asks=False)
    app = await stored_app(tmp_path, asking, never)
    async with app.run_test(size=(160, 40)) as pilot:
        await app.ready.wait()
        table = app.dashboard.query_one(SessionsTable)
        await wait_until(pilot, lambda: "s-never" in table._order)
        header = app.dashboard.query_one(DashboardHeader).query_one("#header-sandbox")

        table.select("s-asking")
        await wait_until(pilot, lambda: app.dashboard.selected == "s-asking")
        await wait_until(pilot, lambda: "agent claude" in str(header.render()))
        assert not header.has_class("-danger")
        assert "⚠" not in str(table.get_cell("s-asking", "title"))
        assert str(table.get_cell("s-asking", "model")).strip() == "claude"

        table.select("s-never")
        await wait_until(pilot, lambda: app.dashboard.selected == "s-never")
        await wait_until(pilot, lambda: "without asking" in str(header.render()))
        assert header.has_class("-danger")
        assert "⚠" in str(table.get_cell("s-never", "title"))
