"""kill -9 of a real `harness-tui --exec` at random points, each followed by a
continuation of the session it ran: nothing committed is lost, no seq is skipped or
repeated, and no command the killed run started keeps running.

Each cycle runs a scripted session whose commands are inline bash calls (one with a
grandchild in its process group) and a background task, kills the run after a random
delay, and continues the session in a new run, which recovers what the killed one
left. The events the killed run printed with --json are the ones it saw committed (its
printer follows the store); the store must still hold each of them, unchanged.

The kill points come from a seeded random generator: HARNESS_FAULT_SEED (default
below); a failure names the seed and the cycle. `-s` shows how the kills fell.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

from tests.support.processes import (
    kill_group,
    recorded_group_alive,
    recorded_groups,
    running_groups,
)
from tests.support.projects import cli_env, harness_cmd, init_repo, write_script
from tests.support.waiting import wait_until

CYCLES = 30
SEED = int(os.environ.get("HARNESS_FAULT_SEED", "1313"))
# A random point of a run: once it has printed a random number of its events (a whole
# run prints 28, the first ~0.3 s after it starts; a continuation 6 to 20), a random
# moment later; or, before its first event, while it starts, opens the store and
# recovers what the last one left.
RUN_EVENTS = 28
CONTINUATION_EVENTS = 6
KILL_AFTER_S = (0.0, 0.12)
KILL_EARLY_S = (0.1, 0.45)
# How often a continuation is killed too.
KILL_CONTINUATION = 0.4

# Every command writes its shell's pid (its process group) to `pids` first: a command
# that ran at all is on that list, whether or not the log recorded it. Each leaves a
# grandchild (`sleep 30 &`) in its group, which only the end of the group stops.
SCRIPT = """\
[[turn]]
text = "starting"
[[turn.tool_calls]]
name = "bash"
arguments = { command = "echo $$ >> pids; echo inline" }
[[turn.tool_calls]]
name = "bash"
arguments = { command = "echo $$ >> pids; sleep 30 & sleep {slow_step_s}" }

[[turn]]
text = "checking"
[[turn.tool_calls]]
name = "bash"
arguments = { command = "echo $$ >> pids; sleep 30 & sleep 0.1" }

[[turn]]
text = "done for now"
"""


class Run:
    """A `--exec --json` run whose stdout lines are collected as they come."""

    def __init__(self, project: Path, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            harness_cmd("--exec", *args, "--json", "--project", str(project)),
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict] = []
        self.stderr = ""
        self._reader = threading.Thread(target=self._read)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for line in self.proc.stdout:
            self.events.append(json.loads(line))
        self.stderr = self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.finish(10)

    def finish(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        # What it printed before it died was committed before it was printed.
        self._reader.join(timeout=10)
        return code

    @property
    def session_id(self) -> str | None:
        return self.events[0]["session_id"] if self.events else None


def stored(db_path: Path) -> dict[tuple[str, int], dict]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT position, session_id, seq, ts, type, data FROM events")
        return {
            (sid, seq): {"position": pos, "ts": ts, "type": type_, "data": json.loads(data)}
            for pos, sid, seq, ts, type_, data in rows
        }


def statuses(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT session_id, status FROM sessions").fetchall())


def kill_at_random_point(run: Run, rng: random.Random, events: int, where: str) -> bool:
    """Kill `run` once it printed a random number (up to `events`) of its events, a
    random moment later; with none to wait for, early on: while it opens the store and
    recovers. True when it was still running."""
    count = rng.randint(0, events)
    delay = rng.uniform(*KILL_AFTER_S) if count else rng.uniform(*KILL_EARLY_S)
    wait_until(
        lambda: len(run.events) >= count or run.proc.poll() is not None,
        message=f"{where}: {count} events",
    )
    time.sleep(delay)  # the random point: a kill, not a wait for something
    running = run.proc.poll() is None
    run.kill()
    return running


def test_kill_9_at_random_points_loses_nothing_and_leaves_nothing_running(tmp_path):
    rng = random.Random(SEED)
    project = init_repo(tmp_path / "p")
    write_script(tmp_path / "s.toml", SCRIPT)
    db_path = project / ".harness" / "harness.db"
    env = cli_env(
        tmp_path,
        HARNESS_TOOLS__INLINE_MS="200",
        HARNESS_SCRIPTED__SLOW_STEP_S="0.4",
        # Unconfined: the commands write their `$$` down, which must be the group on
        # record, and must be able to outlive a killed run for recovery to stop them.
        # (Sandboxed commands die with their run: test_exec_sandbox.)
        HARNESS_SANDBOX__MODE="danger-full-access",
    )
    new_run = ("go", "--provider", "scripted", "--model", str(tmp_path / "s.toml"))
    seen: list[dict] = []
    killed_mid_run = killed_continuations = 0
    try:
        for cycle in range(1, CYCLES + 1):
            where = f"seed {SEED}, cycle {cycle}"
            run = Run(project, env, *new_run)
            killed_mid_run += kill_at_random_point(run, rng, RUN_EVENTS - 1, where)
            seen += run.events
            session_id = run.session_id

            # The continuation: the same session if the killed run got to show it,
            # else a new one; either way it first recovers what the killed run left.
            # Now and then it is killed too (in its recovery, or its turn), and
            # another continuation follows.
            while True:
                if session_id is not None:
                    after = Run(project, env, "go on", "--session", session_id)
                else:
                    after = Run(project, env, *new_run)
                if rng.random() < KILL_CONTINUATION:
                    killed_continuations += kill_at_random_point(
                        after, rng, CONTINUATION_EVENTS, f"{where}, continuation"
                    )
                    seen += after.events
                    session_id = session_id or after.session_id
                    continue
                code = after.finish(60)
                assert code == 0, f"{where}: the continuation exited {code}: {after.stderr}"
                seen += after.events
                break

            # Nothing committed is lost or changed, and no seq is skipped.
            events = stored(db_path)
            for event in seen:
                key = (event["session_id"], event["seq"])
                assert key in events, f"{where}: committed event {key} is gone"
                kept = events[key]
                assert (kept["position"], kept["type"], kept["data"]) == (
                    event["position"],
                    event["type"],
                    event["data"],
                ), f"{where}: event {key} changed"
            per_session: dict[str, list[int]] = {}
            for sid, seq in events:
                per_session.setdefault(sid, []).append(seq)
            for sid, seqs in per_session.items():
                assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"{where}: {sid} seqs"
            left = {sid: s for sid, s in statuses(db_path).items() if s in ("running", "waiting")}
            assert not left, f"{where}: sessions left {left}"

            # Every command that ran was on the record before it could run, and none of
            # them, nor anything they started, outlived the runs.
            records = {
                e["data"]["pgid"]: e["data"].get("pgid_start")
                for e in events.values()
                if e["type"] in ("tool.started", "task.started") and "pgid" in e["data"]
            }
            unrecorded = set(recorded_groups(project / "pids")) - set(records)
            assert not unrecorded, f"{where}: commands ran unrecorded: {unrecorded}"

            def survivors(records: dict[int, str | None] = records) -> list[int]:
                running = running_groups()
                return [
                    g for g, start in records.items() if recorded_group_alive(g, start, running)
                ]

            wait_until(
                lambda: not survivors(),
                timeout=10,
                message=lambda where=where: f"{where}: process groups still running: {survivors()}",
            )
    finally:
        for pgid in recorded_groups(project / "pids"):
            kill_group(pgid)
    # The random points fell where there was something to lose, not only after the end:
    # in the middle of inline commands and of background tasks.
    events = stored(db_path)
    started_calls = {
        (sid, e["data"]["call_id"]) for (sid, _), e in events.items() if e["type"] == "tool.started"
    }
    mid_command = sum(
        1
        for (sid, _), e in events.items()
        if e["type"] == "tool.failed"
        and e["data"]["error"].startswith("interrupted")
        and (sid, e["data"]["call_id"]) in started_calls
    )
    mid_task = sum(
        1
        for e in events.values()
        if e["type"] == "task.cancelled" and e["data"].get("reason") == "process_exited"
    )
    print(
        f"seed {SEED}: {killed_mid_run} kills of a running run, {killed_continuations} of a "
        f"running continuation; {mid_command} mid-command, {mid_task} mid-task"
    )
    assert killed_mid_run >= CYCLES // 2, f"only {killed_mid_run} kills hit a running run"
    assert mid_command and mid_task, f"kills mid-command: {mid_command}, mid-task: {mid_task}"
