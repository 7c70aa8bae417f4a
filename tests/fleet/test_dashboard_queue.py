"""The dashboard's new-session form queues a session for a worker instead of running it
in the dashboard's own process: it is listed as queued, nothing runs until a
`harness-tui worker` sharing the store claims it, and the dashboard then shows the
worker's run."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from textual.widgets import Switch

from harness_tui.store import open_store, sqlite_url
from harness_tui.store.queue import QUEUED
from harness_tui.tui.runners import WAITING
from harness_tui.tui.screens.new_session import NewSessionScreen
from tests.support.projects import cli_env, ended, harness_cmd, write_script
from tests.support.waiting import async_settle, wait_for
from tests.tui.conftest import live_app, live_config, wait_until

SCRIPT = """
[[turn]]
text = "queued and done"
"""


async def queued_ids(store_url: str) -> list[str]:
    store = await open_store(store_url)
    try:
        return [q.session_id for q in await store.queued_sessions((QUEUED,))]
    finally:
        await store.close()


async def test_the_new_session_form_queues_for_a_worker(repo: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.toml", SCRIPT)
    (tmp_path / "state").mkdir()
    store_url = sqlite_url(tmp_path / "state" / "harness.db")
    config = live_config(repo, script=script, **{"store.url": store_url})
    app = live_app(config)
    async with app.run_test(size=(160, 45)) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+n")
        assert isinstance(app.screen, NewSessionScreen)
        app.screen.query_one("#queue", Switch).value = True
        await pilot.press(*"queue me", "enter")
        queued: list[str] = []

        async def is_queued() -> bool:
            queued[:] = await queued_ids(store_url)
            return bool(queued)

        await wait_until(pilot, lambda: not isinstance(app.screen, NewSessionScreen))
        await wait_for(is_queued, message="the session is queued in the store")
        # Queued, not run here: listed as queued, waiting for a worker, on the tick
        # after it was submitted; nothing runs until a worker claims it.
        await wait_until(
            pilot,
            lambda: (
                [(s.session_id, s.status) for s in app.model.roots()] == [(queued[0], "queued")]
            ),
        )
        runner = app.model.runners.of(queued[0])
        assert runner is not None and runner.kind == WAITING
        assert runner.long == "queued for a worker, priority 0"
        await async_settle()
        assert app.model.sessions[queued[0]].status == "queued"
        env = cli_env(
            tmp_path,
            HARNESS_STORE__URL=store_url,
            HARNESS_PROVIDER__NAME="scripted",
            HARNESS_SCRIPTED__SCRIPT=str(script),
        )
        worker = await asyncio.to_thread(
            subprocess.Popen,
            harness_cmd("worker", "--project", str(repo)),
            cwd=repo,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with ended(worker):
            await wait_until(
                pilot,
                lambda: (
                    [(s.session_id, s.status) for s in app.model.roots()] == [(queued[0], "done")]
                ),
                timeout=60,
            )
            worker.terminate()
            assert await asyncio.to_thread(worker.wait, 30) == 0
        await pilot.press("ctrl+q")
