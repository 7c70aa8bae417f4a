"""The dashboard supervises a run in another process: a headless `--exec --approvals
wait` run, and a dashboard (Pilot, in the test's process) on the same store, on SQLite
and on PostgreSQL. The dashboard shows which process runs the session; its answer,
steer and cancel go to that process through the store, and it says what came of each.
Once the run is killed with SIGKILL, its row shows it orphaned, and the dashboard
adopts it when a command waits for it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

from harness_tui import events as ev
from harness_tui.tui.app import HarnessApp
from harness_tui.tui.runners import ELSEWHERE, HERE, ORPHANED
from harness_tui.tui.screens.approval import ApprovalScreen
from harness_tui.tui.screens.confirm import ConfirmScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.sessions import SessionsTable
from tests.control.test_commands_across_processes import (
    PROMPTING,
    env_for,
    face,
    log_of,
    script_of,
    start_waiting,
    wait_line,
)
from tests.support.projects import ended
from tests.tui.conftest import RecordingApp, live_app, live_config, wait_until

SIZE = (160, 45)
# Short enough for the orphan test to see a lease run out in a second or two.
LEASE_S = "1.5"


def dashboard(repo: Path, store_url: str, **flags: object) -> RecordingApp:
    config = live_config(repo, **{"store.url": store_url, "control.command_timeout_s": 60, **flags})
    return live_app(config)


def runner_kind(app: HarnessApp, session_id: str) -> str | None:
    runner = app.model.runners.of(session_id)
    return None if runner is None else runner.kind


def row_runner(app: HarnessApp, session_id: str) -> str:
    """What the session's row shows in its runner cell."""
    table = app.dashboard.query_one(SessionsTable)
    return str(table.get_cell(session_id, "runner"))


def noticed(app: RecordingApp, *parts: str) -> bool:
    return any(all(part in notice for part in parts) for notice in app.notices)


async def wait_exit(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(proc.communicate, timeout=90)
    return proc.returncode, out, err


async def test_the_dashboard_answers_an_approval_another_process_waits_for(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, approval_id = await asyncio.to_thread(wait_line, proc)
        app = dashboard(repo, store_url)
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            # The row names the process that runs the session, and so does the log.
            await wait_until(pilot, lambda: runner_kind(app, session_id) == ELSEWHERE)
            assert app.dashboard.query_one(SessionsTable).select(session_id)
            await pilot.pause()
            # Beside the log, the list is narrow: the row has a mark; wider, the pid.
            assert row_runner(app, session_id) == "⇄"
            await pilot.resize_terminal(120, 40)
            await wait_until(pilot, lambda: row_runner(app, session_id) == f"pid {proc.pid}")
            title = str(app.dashboard.query_one(EventLog).border_title)
            assert f"run by {app.engine.host} pid {proc.pid}" in title  # type: ignore[union-attr]

            await pilot.press("ctrl+y")
            assert isinstance(app.screen, ApprovalScreen)
            assert app.screen.approval.approval_id == approval_id
            await pilot.press("y")
            await wait_until(pilot, lambda: noticed(app, "Allow once", "applied by engine"))
            code, out, err = await wait_exit(proc)
            await pilot.press("ctrl+q")

    assert code == 0, err
    assert out.strip() == "wrote it"
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    events = await log_of(store_url, session_id)
    resolved = [e.data for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert [r["decision"] for r in resolved] == ["allow_once"]


async def test_the_dashboard_steers_a_run_in_another_process(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, _ = await asyncio.to_thread(wait_line, proc)
        app = dashboard(repo, store_url)
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            await wait_until(pilot, lambda: session_id in app.model.sessions)
            assert app.dashboard.query_one(SessionsTable).select(session_id)
            await pilot.pause()
            # Its turn runs (waiting for the answer) in the other process: typed text
            # steers it, applied there once the turn goes on.
            await pilot.press(*"mind the README", "enter")
            await pilot.press("ctrl+y", "y")
            await wait_until(pilot, lambda: noticed(app, "Steering", "applied by engine"))
            code, _, err = await wait_exit(proc)
            await pilot.press("ctrl+q")

    assert code == 0, err
    events = await log_of(store_url, session_id)
    inputs = [e.data for e in events if e.type == ev.INPUT_RECEIVED]
    assert {"text": "mind the README", "mode": "steer"} in inputs


async def test_the_dashboard_cancels_a_run_in_another_process(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, _ = await asyncio.to_thread(wait_line, proc)
        app = dashboard(repo, store_url)
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            await wait_until(pilot, lambda: session_id in app.model.sessions)
            assert app.dashboard.query_one(SessionsTable).select(session_id)
            await pilot.press("ctrl+x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: noticed(app, "Cancel", "applied by engine"))
            code, _, err = await wait_exit(proc)
            await wait_until(pilot, lambda: app.model.sessions[session_id].status == "cancelled")
            await pilot.press("ctrl+q")

    # The run says the session was cancelled, as it does for Ctrl-C.
    assert code == 130, err
    assert not (tmp_path / "outside.txt").exists()


async def test_a_killed_run_shows_orphaned_and_the_dashboard_adopts_it(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    # Named as another machine: its pid cannot be checked from here, only its lease
    # can say it is gone, as across hosts on PostgreSQL.
    env = env_for(
        tmp_path, store_url, HARNESS_CONTROL__LEASE_S=LEASE_S, HARNESS_CONTROL__HOST="ci-runner-2"
    )
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, approval_id = await asyncio.to_thread(wait_line, proc)
        app = dashboard(repo, store_url, **{"control.lease_s": float(LEASE_S)})
        async with app.run_test(size=SIZE) as pilot:
            await app.ready.wait()
            await wait_until(pilot, lambda: runner_kind(app, session_id) == ELSEWHERE)
            assert app.model.runners.of(session_id).short == "ci-runner-2"  # type: ignore[union-attr]
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 30)
            await wait_until(pilot, lambda: runner_kind(app, session_id) == ORPHANED)
            assert app.dashboard.query_one(SessionsTable).select(session_id)
            await pilot.pause()
            assert row_runner(app, session_id) == "!"
            title = str(app.dashboard.query_one(EventLog).border_title)
            assert f"orphaned: ci-runner-2 pid {proc.pid}, lease expired" in title

            # An answer from the command line, which never runs sessions itself: it
            # waits in the store until an engine takes the session over. The
            # dashboard's periodic adoption does, and applies it.
            approved = await asyncio.to_thread(
                face, repo, env, "approve", approval_id, "--timeout", "60"
            )
            await wait_until(pilot, lambda: noticed(app, "orphaned with commands waiting"))
            await wait_until(
                pilot, lambda: app.model.sessions[session_id].status == "done", timeout=60
            )
            assert runner_kind(app, session_id) in (HERE, None)
            engine_id = app.engine.id  # type: ignore[union-attr]
            await pilot.press("ctrl+q")

    assert approved.returncode == 0, approved.stderr
    assert f"by engine {engine_id}" in approved.stdout
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    events = await log_of(store_url, session_id)
    resolved = [e.data for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert [r["decision"] for r in resolved] == ["allow_once"]
