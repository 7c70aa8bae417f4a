"""The dashboard opened after a run was killed: it recovers what the run left, whatever
provider keys it has, and opens."""

from __future__ import annotations

import os
import signal

from tests.support.loopback import LoopbackAnthropic, Reply
from tests.support.processes import group_alive, kill_group, recorded_groups
from tests.support.projects import cli_env, ended, events_until, init_repo, start_exec
from tests.support.waiting import wait_until as wait_until_plain
from tests.tui.conftest import live_app, live_config, wait_until

SIZE = (160, 45)
COMMAND = "echo $$ >> pids; sleep 61 & while [ ! -e go ]; do sleep 0.05; done; wait"
# Unconfined, so that the command outlives the killed run for recovery to stop (a
# sandboxed one dies with its run), and `$$` is the group on record.
UNCONFINED = {"HARNESS_SANDBOX__MODE": "danger-full-access"}


async def test_the_dashboard_recovers_a_killed_anthropic_session_without_its_key(tmp_path):
    project = init_repo(tmp_path / "p")
    replies = [Reply("running it", tool_calls=[("bash", {"command": COMMAND})])]
    with LoopbackAnthropic(replies) as server:
        env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="60000", **UNCONFINED, **server.env())
        run = start_exec(project, tmp_path, "run it", "--provider", "anthropic", "--json", env=env)
        with ended(run):
            session_id = events_until(run, "tool.started")[-1]["session_id"]
            wait_until_plain(
                lambda: recorded_groups(project / "pids"), message="the command to start"
            )
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
    [pgid] = recorded_groups(project / "pids")
    try:
        # This process has no ANTHROPIC_API_KEY (the suite's conftest removes it).
        app = live_app(live_config(project))
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.ready.is_set() or app.open_error is not None)
            assert app.open_error is None
            await wait_until(
                pilot,
                lambda: (
                    session_id in app.model.sessions
                    and app.model.sessions[session_id].status == "failed"
                ),
            )
            await pilot.press("ctrl+q")
        assert app.return_code == 0
        wait_until_plain(lambda: not group_alive(pgid), timeout=10, message="the command to stop")
    finally:
        kill_group(pgid)


async def test_the_dashboard_says_when_a_session_stops_because_its_store_is_gone(tmp_path):
    """No event can say the store took no more of a session's events: the dashboard
    tells the user in a notice naming the store, instead of the session looking as if
    it still ran."""
    project = init_repo(tmp_path / "p")
    script = tmp_path / "s.toml"
    script.write_text(
        '[[turn]]\ntext = "waiting for the go"\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "while [ ! -e go ]; do sleep 0.05; done; echo went" }\n\n'
        '[[turn]]\ntext = "all done"\n'
    )
    config = live_config(project, script=script, **{"tools.inline_ms": 60_000})
    app = live_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.ready.is_set())
        assert app.engine is not None
        session_id = await app.engine.start_session("go")
        await wait_until(
            pilot,
            lambda: (
                session_id in app.model.sessions
                and app.model.sessions[session_id].status == "running"
            ),
        )
        store = project / ".harness" / "harness.db"
        for path in store.parent.glob("harness.db*"):
            path.unlink()
        (project / "go").touch()
        await wait_until(pilot, lambda: any("stopped" in n for n in app.notices))
        [notice] = [n for n in app.notices if "stopped" in n]
        assert notice.startswith(f"session {session_id} stopped: ")
        assert str(store) in notice
