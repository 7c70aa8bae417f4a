"""Store faults under a real headless run: the store file deleted under it, a disk that
fills up, PostgreSQL going away or terminating the engine's connections, and stores that
cannot be opened at all. Each ends with what a user can act on: one `harness-tui:` line
naming the file or host and exit code 1 (2 for a usage error), or, for a passing fault,
a run that carries on; a session cut short is recovered by the next run."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from harness_tui.store import sqlite_url
from tests.store.conftest import terminate_backends
from tests.support.processes import group_alive
from tests.support.projects import (
    cli_env,
    ended,
    events_until,
    harness_cmd,
    init_repo,
    start_exec,
    write_script,
)
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import wait_for, wait_until

# A bash step that waits for the test to say go (a file named `go` in the project), so
# the test acts on the store while the run is in the middle of its turn.
WAIT_FOR_GO = """
[[turn]]
text = "waiting for the go"
[[turn.tool_calls]]
name = "bash"
arguments = { command = "while [ ! -e go ]; do sleep 0.05; done; echo went" }
"""
THEN_DONE = """
[[turn]]
text = "all done"
"""


def error_lines(stderr: str) -> list[str]:
    """The `harness-tui:` lines of a run's stderr, after asserting that nothing else went
    wrong there: no traceback, no unretrieved task exception."""
    assert "Traceback" not in stderr, stderr
    assert "never retrieved" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("harness-tui:")]


def one_error(stderr: str) -> str:
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    return lines[0]


def exec_args(script: Path, *extra: str) -> list[str]:
    return [
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--approval-mode",
        "auto",
        "--json",
        *extra,
    ]


def session_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return list(conn.execute("SELECT session_id, status FROM sessions"))


def session_events(db: Path, session_id: str) -> list[tuple[str, dict]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT type, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        return [(kind, json.loads(data)) for kind, data in rows]


# -- the store file deleted under a running engine -----------------------------------


def test_store_deleted_under_a_running_engine_stops_the_run(tmp_path):
    """`rm .harness/harness.db*` mid-run: the run must not go on writing into a file
    nobody can see and call it a success."""
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", WAIT_FOR_GO + THEN_DONE)
    store = project / ".harness" / "harness.db"
    with ended(start_exec(project, tmp_path, *exec_args(script))) as proc:
        events_until(proc, "tool.requested")  # committed, so the store is in use
        for path in store.parent.glob("harness.db*"):
            path.unlink()
        (project / "go").touch()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    line = one_error(stderr)
    assert str(store) in line and "deleted" in line, line


def test_store_deleted_while_a_background_task_writes_its_output(tmp_path):
    """The loss is noticed by the task's next output chunk: the run stops with the same
    one line, and the task's processes do not outlive it."""
    project = init_repo(tmp_path / "p")
    ticking = "echo $$ > task.pid; while true; do echo tick; sleep 0.05; done"
    script = write_script(
        tmp_path / "s.toml",
        f"""
        [[turn]]
        text = "start it"
        [[turn.tool_calls]]
        name = "bash"
        arguments = {{ command = "{ticking}" }}
        """
        + THEN_DONE,
    )
    store = project / ".harness" / "harness.db"
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="200")
    with ended(start_exec(project, tmp_path, *exec_args(script), env=env)) as proc:
        events_until(proc, "task.output")  # a background task, writing to the log
        for path in store.parent.glob("harness.db*"):
            path.unlink()
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert str(store) in one_error(stderr)
    pgid = int((project / "task.pid").read_text())
    wait_until(lambda: not group_alive(pgid), message=f"task process group {pgid} to end")


# -- a full disk ------------------------------------------------------------------------


def test_a_full_disk_ends_the_run_with_one_line_and_the_session_recovers(tmp_path, tmpfs):
    mount = tmpfs("384k")
    project = init_repo(tmp_path / "p")
    # Each step stores ~30 kB of output (the transcript's cap) in the log and its WAL.
    big = "yes 0123456789abcdef | head -c 60000"
    step = f'[[turn]]\ntext = "more"\n[[turn.tool_calls]]\nname = "bash"\narguments = {{ command = "{big}" }}\n'
    script = write_script(tmp_path / "s.toml", step * 40 + THEN_DONE)
    db = mount / "harness.db"
    env = cli_env(tmp_path, HARNESS_STORE__URL=sqlite_url(db), HARNESS_STORE__RETRY_S="0.5")
    done = subprocess.run(
        harness_cmd("--exec", *exec_args(script, "--max-steps", "60"), "--project", str(project)),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    line = one_error(done.stderr)
    assert str(db) in line and "full" in line, line
    [(session_id, status)] = session_rows(db)
    # Nothing more could be written: the turn is left open, for the next run to close.
    assert status == "running"

    # While the disk is still full, the next run cannot recover it either: it says so
    # and exits (its open store must not keep it alive).
    still_full = subprocess.run(
        harness_cmd(
            "--exec",
            "next",
            "--provider",
            "scripted",
            "--model",
            "echo",
            "--project",
            str(project),
        ),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert still_full.returncode == 1, still_full.stderr
    assert "full" in one_error(still_full.stderr)

    subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
    again = subprocess.run(
        harness_cmd(
            "--exec",
            "carry on",
            "--session",
            session_id,
            "--max-steps",
            "1",
            "--project",
            str(project),
        ),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # It takes the session on: its next scripted step runs a command, and the one
    # model request allowed ends the turn at max_steps (exit 4).
    assert again.returncode == 4, again.stderr
    error_lines(again.stderr)
    events = session_events(db, session_id)
    closed = [data for kind, data in events if kind == "turn.completed"]
    assert closed[0]["reason"] == "failed" and "interrupted" in closed[0]["error"]
    assert closed[1]["reason"] == "max_steps"
    assert ("input.received", {"text": "carry on", "mode": "prompt"}) in events
    assert dict(session_rows(db))[session_id] == "idle"


# -- PostgreSQL -------------------------------------------------------------------------


async def start_exec_async(project: Path, tmp_path: Path, *args: str, **env: str):
    return await asyncio.create_subprocess_exec(
        *harness_cmd("--exec", *args, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path, **env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def next_event(proc, event_type: str) -> dict:
    assert proc.stdout is not None
    while line := await proc.stdout.readline():
        event = json.loads(line)
        if event["type"] == event_type:
            return event
    assert proc.stderr is not None
    stderr = (await proc.stderr.read()).decode()
    code = await proc.wait()
    raise AssertionError(f"the run ended ({code}) without a {event_type} event:\n{stderr}")


async def finish(proc, timeout: float = 60) -> tuple[bytes, str]:
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return stdout, stderr.decode()


async def stored_sessions(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return dict(await conn.fetch("SELECT session_id, status FROM sessions"))
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_turns_go_on_while_postgres_terminates_the_engines_backends(
    tmp_path, postgres_store_url
):
    """After every tool call the server drops every connection of the run; each next
    write and read must reconnect, and no turn may fail for it."""
    project = init_repo(tmp_path / "p")
    steps = 12
    step = '[[turn]]\ntext = "step"\n[[turn.tool_calls]]\nname = "bash"\narguments = { command = "echo hi" }\n'
    script = write_script(tmp_path / "s.toml", step * steps + THEN_DONE)
    proc = await start_exec_async(
        project,
        tmp_path,
        *exec_args(script, "--max-steps", "30"),
        HARNESS_STORE__URL=postgres_store_url,
    )
    terminated = 0
    try:
        for _ in range(steps):
            await next_event(proc, "tool.completed")
            terminated += await terminate_backends(postgres_store_url)
    finally:
        stdout, stderr = await finish(proc)
    assert terminated >= steps, "the run's connections were not terminated"
    assert proc.returncode == 0, stderr
    assert error_lines(stderr) == []
    assert list((await stored_sessions(postgres_store_url)).values()) == ["done"]


@pytest.mark.postgres
async def test_postgres_back_within_the_retry_time_the_run_carries_on(tmp_path, postgres_store_url):
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", WAIT_FOR_GO + THEN_DONE)
    server = urlsplit(postgres_store_url)
    with TcpProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
        proc = await start_exec_async(
            project,
            tmp_path,
            *exec_args(script),
            HARNESS_STORE__URL=proxy.route(postgres_store_url),
        )
        try:
            await next_event(proc, "tool.requested")
            proxy.down()
            (project / "go").touch()
            # The run tried again, twice, while the server was away; then it is back.
            await wait_for(lambda: proxy.refused >= 2)
            proxy.up()
        finally:
            stdout, stderr = await finish(proc)
    assert proc.returncode == 0, stderr
    assert error_lines(stderr) == []
    assert list((await stored_sessions(postgres_store_url)).values()) == ["done"]


@pytest.mark.postgres
async def test_postgres_gone_for_good_ends_the_run_with_one_line_and_it_recovers(
    tmp_path, postgres_store_url
):
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", WAIT_FOR_GO + THEN_DONE)
    server = urlsplit(postgres_store_url)
    with TcpProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
        url = proxy.route(postgres_store_url)
        proc = await start_exec_async(
            project,
            tmp_path,
            *exec_args(script),
            HARNESS_STORE__URL=url,
            HARNESS_STORE__RETRY_S="0.5",
        )
        try:
            await next_event(proc, "tool.requested")
            proxy.down()
            (project / "go").touch()
        finally:
            stdout, stderr = await finish(proc)
        assert proc.returncode == 1, stderr
        line = one_error(stderr)
        assert f"127.0.0.1:{proxy.port}" in line, line
        [(session_id, status)] = (await stored_sessions(postgres_store_url)).items()
        assert status == "running"  # left for the next run to recover

        proxy.up()
        again = await start_exec_async(
            project,
            tmp_path,
            "next",
            "--provider",
            "scripted",
            "--model",
            "echo",
            HARNESS_STORE__URL=url,
        )
        _, stderr = await finish(again)
    assert again.returncode == 0, stderr
    assert (await stored_sessions(postgres_store_url))[session_id] == "failed"


# -- stores that cannot be opened, and a missing script -------------------------------


READ_COMMANDS = (("gc", "status"), ("gc", "run"), ("gc", "drafts"), ("rules", "check"))


def unopenable_stores(tmp_path: Path, tmpfs: Callable[[str], Path]) -> dict[str, str]:
    """Store URLs that cannot be opened, by what is wrong with them."""
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not an SQLite database, whatever its name says\n" * 100)
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    readonly = tmpfs("64k")
    subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
    return {
        "postgres down": "postgresql://postgres@127.0.0.1:1/test",
        "corrupt file": sqlite_url(corrupt),
        "a directory": sqlite_url(directory),
        "read-only mount": sqlite_url(readonly / "harness.db"),
    }


def test_commands_on_a_store_that_cannot_be_opened_say_so_in_one_line(tmp_path, tmpfs):
    project = init_repo(tmp_path / "p")
    runs = {}
    for what, url in unopenable_stores(tmp_path, tmpfs).items():
        for command in READ_COMMANDS:
            runs[what, command] = subprocess.Popen(
                harness_cmd("--store", url, "--project", str(project), *command),
                cwd=project,
                env=cli_env(tmp_path),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
    for (what, command), proc in runs.items():
        with ended(proc):
            _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 1, (what, command, stderr)
        assert stderr.count("\n") == 1, (what, command, stderr)
        one_error(stderr)


def test_a_missing_script_is_a_usage_error_in_one_line(tmp_path):
    project = init_repo(tmp_path / "p")
    missing = tmp_path / "missing.toml"
    done = subprocess.run(
        harness_cmd(
            "--exec",
            "go",
            "--provider",
            "scripted",
            "--model",
            str(missing),
            "--project",
            str(project),
        ),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert str(missing) in one_error(done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
