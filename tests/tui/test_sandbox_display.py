"""The dashboard says where each session's commands run: its sandbox mode in the
header, and loudly, in the header, its row and its log, when nothing confines them."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Select

from harness_tui import events as ev
from harness_tui.tui.screens.new_session import NewSessionScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.header import DashboardHeader
from harness_tui.tui.widgets.sessions import SessionsTable
from tests.support.projects import demo_repo, write_script
from tests.tui.conftest import RecordingApp, live_app, live_config, stored_app, wait_until
from tests.tui.session_log import SessionLog, created, end, reply, turn


def _session(sid: str, title: str, at: float, sandbox: dict[str, Any] | None) -> SessionLog:
    log = SessionLog(sid)
    extra = {"sandbox": sandbox} if sandbox is not None else {}
    created(log, at, title, **extra)
    turn(log, at, "tidy the imports")
    if sandbox and sandbox["mode"] == "danger-full-access":
        log.add(
            at,
            ev.SANDBOX_DISABLED,
            mode="danger-full-access",
            reason="danger-full-access: commands run with the user's full access",
        )
    reply(log, at + 1, "Done.")
    end(log, at + 1, "no_tool_calls", "done")
    return log


def _header_sandbox(app: RecordingApp) -> tuple[str, bool]:
    widget = app.dashboard.query_one(DashboardHeader).query_one("#header-sandbox")
    return str(widget.render()), widget.has_class("-danger")


def _row_title(app: RecordingApp, sid: str) -> str:
    table = app.dashboard.query_one(SessionsTable)
    return str(table.get_cell(sid, "title"))


async def test_header_shows_the_selected_sessions_sandbox_and_is_loud_without_one(tmp_path):
    confined = _session("s-confined", "Confined refactor", 0, {"mode": "workspace-write"})
    reader = _session("s-reader", "Read-only audit", 2, {"mode": "read-only", "network": True})
    danger = _session("s-danger", "Unconfined migration", 4, {"mode": "danger-full-access"})
    app = await stored_app(tmp_path, confined, reader, danger)
    async with app.run_test(size=(160, 40)) as pilot:
        await app.ready.wait()
        table = app.dashboard.query_one(SessionsTable)
        await wait_until(pilot, lambda: "s-danger" in table._order)
        # "All sessions": where a session started now would run.
        assert _header_sandbox(app) == (" sandbox workspace-write ", False)

        table.select("s-reader")
        await wait_until(pilot, lambda: app.dashboard.selected == "s-reader")
        assert _header_sandbox(app) == (" sandbox read-only +network ", False)
        log_text = "\n".join(line.text for line in app.dashboard.query_one(EventLog).lines)
        assert "sandbox read-only · network allowed" in log_text

        table.select("s-danger")
        await wait_until(pilot, lambda: app.dashboard.selected == "s-danger")
        assert _header_sandbox(app) == (" ⚠ NO SANDBOX: danger-full-access ", True)
        log = app.dashboard.query_one(EventLog)
        errors = [line for line in log.lines if line.kind == "error"]
        assert any("⚠ no sandbox: danger-full-access" in line.text for line in errors)

        # Listed with a mark, whichever session is selected; the others without.
        assert _row_title(app, "s-danger").startswith("⚠ Unconfined migra")
        assert not _row_title(app, "s-confined").startswith("⚠")

        table.select("s-confined")
        await wait_until(pilot, lambda: app.dashboard.selected == "s-confined")
        assert _header_sandbox(app) == (" sandbox workspace-write ", False)


async def test_header_is_loud_when_the_sandbox_cannot_start_here(tmp_path):
    """No working bubblewrap: the engine falls back to the policy alone, and the
    dashboard says so before any session runs."""
    app = await stored_app(tmp_path, **{"sandbox.bwrap": str(tmp_path / "no-bwrap-here")})
    async with app.run_test(size=(160, 40)) as pilot:
        await app.ready.wait()
        await wait_until(pilot, lambda: _header_sandbox(app)[1])
        assert _header_sandbox(app) == (" ⚠ no sandbox here: policy only ", True)


async def test_80_columns_keep_the_short_form(tmp_path):
    danger = _session("s-danger", "Unconfined migration", 4, {"mode": "danger-full-access"})
    app = await stored_app(tmp_path, danger)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.ready.wait()
        table = app.dashboard.query_one(SessionsTable)
        await wait_until(pilot, lambda: "s-danger" in table._order)
        table.select("s-danger")
        await wait_until(pilot, lambda: app.dashboard.selected == "s-danger")
        text, loud = _header_sandbox(app)
        assert (text, loud) == (" ⚠ NO SANDBOX ", True)
        widget = app.dashboard.query_one(DashboardHeader).query_one("#header-sandbox")
        assert widget.region.right <= 80


TOUCH_SCRIPT = """\
[[turn]]
text = "Creating the marker file."
[[turn.tool_calls]]
name = "bash"
arguments = { command = "touch made-here.txt" }

[[turn]]
text = "Tried."
"""


@pytest.mark.parametrize(("chosen", "written"), [("read-only", False), ("workspace-write", True)])
async def test_a_session_started_from_the_dashboard_runs_in_the_sandbox_chosen(
    tmp_path, chosen, written
):
    """The new-session dialog chooses the sandbox: it is shown in the header and is what
    the session's commands get (read-only: the workspace stays unwritten)."""
    project = demo_repo(tmp_path / "demo")
    script = write_script(tmp_path / "touch.toml", TOUCH_SCRIPT)
    config = live_config(project, script=script, **{"policy.approval_mode": "auto"})
    app = live_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NewSessionScreen)
        mode = app.screen.query_one("#sandbox-mode", Select)
        assert mode.value == "workspace-write"  # the config's, until chosen
        mode.value = chosen
        await pilot.press(*"make the marker", "enter")
        await wait_until(pilot, lambda: bool(app.model.roots()))
        session = app.model.roots()[0]
        await wait_until(pilot, lambda: session.status == "done", timeout=60)
        await wait_until(pilot, lambda: app.dashboard.selected == session.session_id)
        assert session.sandbox_mode == chosen
        assert _header_sandbox(app) == (f" sandbox {chosen} ", False)
        await pilot.press("ctrl+q")
    assert (project / "made-here.txt").exists() == written
