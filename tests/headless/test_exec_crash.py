"""A headless run killed with SIGKILL, and the run that comes after it: nothing the dead
run started keeps running, and recovery never stops the next run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.loopback import LoopbackAnthropic, Reply
from tests.support.processes import group_alive, kill_group, recorded_groups
from tests.support.projects import (
    cli_env,
    ended,
    events_until,
    harness_cmd,
    init_repo,
    start_exec,
    write_script,
)
from tests.support.waiting import wait_until

# The shell writes its pid (its process group) down, starts a grandchild that would
# run for a minute, and waits until the test lets it go (a file named `go`): the test
# decides whether the shell is still there when the next run recovers.
COMMAND = "echo $$ >> pids; sleep 61 & while [ ! -e go ]; do sleep 0.05; done; wait"
SHELL_EXITS = "echo $$ >> pids; sleep 61 & while [ ! -e go ]; do sleep 0.05; done"
# Only an unconfined command can outlive its run: a sandboxed one dies with it (bubblewrap
# runs with --die-with-parent; see test_exec_sandbox), and its `$$` is a pid of the
# sandbox's own namespace. These runs test recovery, so their commands run unconfined.
UNCONFINED = {"HARNESS_SANDBOX__MODE": "danger-full-access"}


def _script(tmp_path: Path, command: str) -> Path:
    return write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = "running it"\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {command!r} }}\n\n"
        '[[turn]]\ntext = "carrying on"\n',
    )


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _events(project: Path, session_id: str) -> list[tuple[str, dict]]:
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute(
            "SELECT type, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        ).fetchall()
    return [(type_, json.loads(data)) for type_, data in rows]


def _start_mid_command(
    project: Path, tmp_path: Path, env: dict[str, str], running: int = 0
) -> tuple[subprocess.Popen, str, int]:
    """Start a run and wait until its command runs (`running` commands of other runs
    have written to `pids` before it): the run, its session id and the command's group."""
    run = start_exec(
        project,
        tmp_path,
        "run it",
        "--provider",
        "scripted",
        "--model",
        str(tmp_path / "s.toml"),
        "--json",
        env=env,
    )
    session_id = events_until(run, "tool.requested")[-1]["session_id"]
    pids = project / "pids"
    wait_until(lambda: len(recorded_groups(pids)) > running, message="the command to start")
    return run, session_id, recorded_groups(pids)[running]


def _kill(run: subprocess.Popen) -> None:
    with ended(run):
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)


def _kill_mid_command(project: Path, tmp_path: Path, env: dict[str, str]) -> tuple[str, int]:
    """Start a run, kill -9 it while its command runs; the session id and the group."""
    run, session_id, pgid = _start_mid_command(project, tmp_path, env)
    _kill(run)
    return session_id, pgid


def _continue(project: Path, env: dict[str, str], session_id: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        harness_cmd("--exec", "what happened?", "--session", session_id, "--project", str(project)),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("inline_ms", "shell_exits"),
    [
        pytest.param("60000", False, id="inline"),
        pytest.param("60000", True, id="inline-shell-gone"),
        pytest.param("300", True, id="task-shell-gone"),
    ],
)
def test_a_killed_runs_command_and_its_grandchildren_are_stopped_by_the_next_run(
    tmp_path, inline_ms, shell_exits
):
    """An inline command (before inline_ms) or a task, killed with its run: the next run
    stops its whole process group, grandchildren included, even when the shell that
    led it has exited since."""
    project = init_repo(tmp_path / "p")
    _script(tmp_path, SHELL_EXITS if shell_exits else COMMAND)
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS=inline_ms, **UNCONFINED)
    session_id, pgid = _kill_mid_command(project, tmp_path, env)
    try:
        assert group_alive(pgid), "the command should have outlived the killed run"
        if shell_exits:
            (project / "go").touch()
            wait_until(lambda: not _running(pgid), message="the shell to exit")
            assert group_alive(pgid), "its grandchild should still run"

        resumed = _continue(project, env, session_id)
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == "carrying on"
        wait_until(
            lambda: not group_alive(pgid),
            timeout=10,
            message=f"the next run to stop process group {pgid} the killed run left",
        )
        if inline_ms == "60000":
            failed = [
                data for type_, data in _events(project, session_id) if type_ == "tool.failed"
            ]
            assert failed and failed[0]["error"].startswith("interrupted")
    finally:
        kill_group(pgid)


def test_recovery_without_the_killed_sessions_api_key_neither_hangs_nor_fails(tmp_path):
    """A session of provider anthropic, killed mid-command; the next run in the project
    has no ANTHROPIC_API_KEY (it uses another provider): it recovers the session, stops
    its command, and does its own work. (On main it printed "ANTHROPIC_API_KEY is not
    set" and never exited.)"""
    project = init_repo(tmp_path / "p")
    replies = [Reply("running it", tool_calls=[("bash", {"command": COMMAND})])]
    with LoopbackAnthropic(replies) as server:
        env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="60000", **UNCONFINED, **server.env())
        run = start_exec(project, tmp_path, "run it", "--provider", "anthropic", "--json", env=env)
        with ended(run):
            session_id = events_until(run, "tool.requested")[-1]["session_id"]
            wait_until(lambda: recorded_groups(project / "pids"), message="the command to start")
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
    [pgid] = recorded_groups(project / "pids")
    try:
        script = write_script(tmp_path / "other.toml", '[[turn]]\ntext = "other work done"\n')
        other = subprocess.run(
            harness_cmd(
                "--exec",
                "other work",
                "--provider",
                "scripted",
                "--model",
                str(script),
                "--project",
                str(project),
            ),
            cwd=project,
            env=cli_env(tmp_path),  # no ANTHROPIC_API_KEY
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == "other work done"
        events = _events(project, session_id)
        assert events[-1] == ("session.status", {"status": "failed"})
        assert ("turn.completed", "interrupted") in [
            (type_, data.get("error", "")[:11]) for type_, data in events
        ]
        wait_until(lambda: not group_alive(pgid), timeout=10, message="the command to stop")

        # Continuing that session needs its key: refused in one line without it, and
        # carried on with it.
        refused = _continue(project, cli_env(tmp_path), session_id)
        assert refused.returncode == 2
        assert refused.stderr.strip() == (
            "harness-tui: provider anthropic: ANTHROPIC_API_KEY is not set"
        )
        with LoopbackAnthropic([Reply("it was interrupted; carrying on")]) as server:
            resumed = _continue(project, cli_env(tmp_path, **server.env()), session_id)
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == "it was interrupted; carrying on"
    finally:
        kill_group(pgid)


def test_a_session_that_cannot_be_recovered_is_reported_and_the_others_are(tmp_path):
    """Two runs killed; the log of one holds an event this version cannot fold (a
    damaged row, or one a newer version wrote). The next run says so in one line,
    records it on that session, recovers the other, and does its own work."""
    project = init_repo(tmp_path / "p")
    _script(tmp_path, COMMAND)
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="60000", **UNCONFINED)
    # Both at once: a run recovers only sessions whose process is gone.
    run, damaged, first = _start_mid_command(project, tmp_path, env)
    try:
        other_run, healthy, second = _start_mid_command(project, tmp_path, env, running=1)
    finally:
        _kill(run)
    _kill(other_run)
    try:
        with sqlite3.connect(project / ".harness" / "harness.db") as db:
            [(seq,)] = db.execute(
                "SELECT max(seq) FROM events WHERE session_id = ?", (damaged,)
            ).fetchall()
            db.execute(
                "INSERT INTO events (session_id, seq, ts, type, data) VALUES (?, ?, ?, ?, ?)",
                (damaged, seq + 1, "2025-01-01T00:00:00.000000Z", "tool.completed", "{}"),
            )
        script = write_script(tmp_path / "other.toml", '[[turn]]\ntext = "other work done"\n')
        other = subprocess.run(
            harness_cmd(
                "--exec",
                "other work",
                "--provider",
                "scripted",
                "--model",
                str(script),
                "--project",
                str(project),
            ),
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert other.returncode == 0, other.stderr
        assert other.stdout.strip() == "other work done"
        lines = [line for line in other.stderr.splitlines() if "could not be recovered" in line]
        assert len(lines) == 1, other.stderr
        assert lines[0].startswith(f"harness-tui: session {damaged} ")
        type_, data = _events(project, damaged)[-1]
        assert type_ == "recovery.failed" and "call_id" in data["error"]
        assert _events(project, healthy)[-1] == ("session.status", {"status": "failed"})
        wait_until(lambda: not group_alive(second), timeout=10, message="the command to stop")
    finally:
        kill_group(first)
        kill_group(second)
