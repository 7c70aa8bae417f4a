"""A worker serves the commands nobody else will: a headless run on another machine
(named so; its pid cannot be checked from here) is killed with SIGKILL while it waits
for an approval; once its lease runs out, the answer `approve` sends is applied by a
`harness-tui worker` sharing the store, which carries the run on to its end."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

from harness_tui import events as ev
from tests.control.test_commands_across_processes import (
    PROMPTING,
    env_for,
    face,
    log_of,
    script_of,
    start_waiting,
    wait_line,
)
from tests.fleet.test_workers import workers
from tests.support.projects import ended
from tests.support.waiting import wait_until

LEASE_S = "1.5"
TOOK_OVER = re.compile(r"(worker-\w+): took over session (\w+)")


def test_a_worker_adopts_an_orphan_an_answer_waits_for(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url, HARNESS_CONTROL__LEASE_S=LEASE_S)
    run_env = {**env, "HARNESS_CONTROL__HOST": "ci-runner-2"}
    proc = start_waiting(repo, tmp_path, run_env, script_of(tmp_path, PROMPTING))
    with ended(proc), workers(repo, env, tmp_path) as fleet:
        session_id, approval_id = wait_line(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        fleet.start()
        approved = face(repo, env, "approve", approval_id, "--timeout", "60")

        def settled() -> bool:
            events = asyncio.run(log_of(store_url, session_id))
            return any(
                e.type == ev.SESSION_STATUS and e.data.get("status") == "done" for e in events
            )

        wait_until(settled, timeout=60, message="the adopted session never completed")
        fleet.stop_all()
        log = fleet.everything()

    assert approved.returncode == 0, approved.stderr
    took = TOOK_OVER.search(log)
    assert took is not None and took.group(2) == session_id, log
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    events = asyncio.run(log_of(store_url, session_id))
    resolved = [e.data for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert [r["decision"] for r in resolved] == ["allow_once"]
