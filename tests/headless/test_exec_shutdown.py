"""A headless run always ends: SIGTERM or SIGINT at any moment, or a reader that goes
away (`| head`), cancels the turn, stops its tasks' processes and exits 130, keeping
what was committed."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.projects import (
    cli_env,
    commit_all,
    ended,
    events_until,
    init_repo,
    start_exec,
    write_script,
)
from tests.support.waiting import wait_until

# Generous: the run must end within 2 s; a loaded machine gets the rest.
BOUND_S = 10.0
TICKING = "while true; do echo tick-5531; sleep 0.2; done"


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (a zombie waiting to be reaped by
    whoever inherited it does not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


def stored(project: Path, session_id: str) -> list[tuple[str, dict]]:
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute(
            "SELECT type, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
    return [(kind, json.loads(data)) for kind, data in rows]


def sessions(project: Path) -> list[str]:
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        return [row[0] for row in db.execute("SELECT DISTINCT session_id FROM events")]


def task_running(tmp_path, *, json=True, inline_ms=200):
    """A run whose background task ticks on after the turn that started it ended."""
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        f'arguments = {{ command = {TICKING!r} }}\n\n[[turn]]\ntext = "waiting"\n',
    )
    run = start_exec(
        project,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        *(["--json"] if json else []),
        env=cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS=str(inline_ms)),
    )
    return project, run


def ends_within(run, bound: float) -> float:
    started = time.monotonic()
    run.wait(timeout=bound)
    elapsed = time.monotonic() - started
    print(f"ended {elapsed:.2f} s after the signal or the closed pipe")
    return elapsed


def assert_stopped_and_kept(project, session_id, pgid):
    wait_until(lambda: not group_alive(pgid), timeout=BOUND_S, message=f"group {pgid} to end")
    kinds = [kind for kind, _ in stored(project, session_id)]
    assert "task.started" in kinds and "task.cancelled" in kinds, kinds


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_a_task_runs_stops_it_and_exits_130(tmp_path, sig):
    project, run = task_running(tmp_path)
    with ended(run):
        started = events_until(run, "task.started")[-1]
        pgid = started["data"]["pgid"]
        events_until(run, "turn.completed")
        assert group_alive(pgid)
        run.send_signal(sig)
        elapsed = ends_within(run, BOUND_S)
        rest, err = run.communicate(timeout=BOUND_S)
    assert run.returncode == 130, err
    assert elapsed < BOUND_S
    assert '"task.cancelled"' in rest
    assert_stopped_and_kept(project, started["session_id"], pgid)


def test_sigterm_while_waiting_for_an_approval_exits_130(tmp_path):
    project = init_repo(tmp_path / "p")
    (project / "README.md").write_text("hi\n")
    commit_all(project)
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "echo outside > ../outside.txt" }\n',
    )
    run = start_exec(
        project,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--approvals",
        "stdin",
        "--json",
        stdin=subprocess.PIPE,
    )
    with ended(run):
        request = events_until(run, "approval.requested")[-1]
        run.send_signal(signal.SIGTERM)
        elapsed = ends_within(run, BOUND_S)
        _, err = run.communicate(timeout=BOUND_S)
    assert run.returncode == 130, err
    assert elapsed < BOUND_S
    events = stored(project, request["session_id"])
    resolved = [data for kind, data in events if kind == "approval.resolved"]
    assert resolved == [
        {
            "approval_id": request["data"]["approval_id"],
            "decision": "deny",
            "by": "engine",
            "reason": "the turn ended (cancelled)",
        }
    ]
    assert [data["reason"] for kind, data in events if kind == "turn.completed"] == ["cancelled"]
    assert not (tmp_path / "outside.txt").exists()


def test_a_reader_of_the_events_that_goes_away_ends_the_run_quietly(tmp_path):
    """`harness-tui --exec … --json | head -3`."""
    project, run = task_running(tmp_path)
    with ended(run):
        started = events_until(run, "task.started")[-1]
        pgid = started["data"]["pgid"]
        run.stdout.close()  # the task's output keeps coming: the next write fails
        elapsed = ends_within(run, BOUND_S)
        _, err = run.communicate(timeout=BOUND_S)
    assert run.returncode == 130
    assert elapsed < BOUND_S
    assert err == "", "a closed pipe is not an error worth a word"
    assert_stopped_and_kept(project, started["session_id"], pgid)


def test_a_reader_of_the_progress_that_goes_away_ends_the_run(tmp_path):
    """`harness-tui --exec … 2>&1 | head -3`: the progress lines go to stderr."""
    project, run = task_running(tmp_path, json=False, inline_ms=1000)
    with ended(run):
        assert run.stderr is not None
        for line in run.stderr:
            if line.startswith("  → bash:"):
                break
        # The command has a second to go before it becomes a task, which is reported.
        run.stderr.close()
        elapsed = ends_within(run, BOUND_S)
        run.communicate(timeout=BOUND_S)
    assert run.returncode == 130
    assert elapsed < BOUND_S
    session_id = next(iter(sessions(project)))
    started = [data for kind, data in stored(project, session_id) if kind == "task.started"]
    assert_stopped_and_kept(project, session_id, started[0]["pgid"])


def test_sigterm_while_the_store_is_busy_still_ends_the_run(tmp_path):
    """Another process holds the store's write lock: the shutdown cannot record the
    task's end, yet the run ends in time, its task's processes stopped."""
    project, run = task_running(tmp_path)
    with ended(run):
        started = events_until(run, "task.started")[-1]
        pgid = started["data"]["pgid"]
        events_until(run, "turn.completed")
        locker = sqlite3.connect(project / ".harness" / "harness.db", isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
            run.send_signal(signal.SIGTERM)
            elapsed = ends_within(run, BOUND_S)
        finally:
            locker.close()
    assert run.returncode == 130
    assert elapsed < BOUND_S
    wait_until(lambda: not group_alive(pgid), timeout=BOUND_S, message=f"group {pgid} to end")
    kinds = [kind for kind, _ in stored(project, started["session_id"])]
    assert "task.started" in kinds and "turn.completed" in kinds, "committed events were lost"
