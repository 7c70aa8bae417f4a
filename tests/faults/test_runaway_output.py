"""A command that prints far more than anyone reads: the run's memory and the event log
stay bounded by `[tools] output_store_max_bytes`, the artifact file keeps every byte as
the command wrote it, and the log says where it was cut and where the rest is.

Each run is a real `harness-tui --exec` process on a real store, measured from outside
(its peak RSS as the kernel reports it to its parent)."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import kill_group
from tests.support.projects import cli_env, harness_cmd, init_repo, write_script

MIB = 1024 * 1024
DEFAULT_CAP = MIB  # [tools] output_store_max_bytes
# One task.output event carries at most this much text (UTF-8).
CHUNK_MAX = 64 * 1024
TWENTY_MB = 20_000_000
# The run's peak resident memory must stay under this, whatever the command prints.
RSS_LIMIT_KB = 150 * 1024
# What a short run writes to the store besides the command's output: its other events,
# SQLite's pages and the write-ahead log.
STORE_OVERHEAD = 512 * 1024


def bash_script(tmp_path: Path, command: str) -> Path:
    return write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = "running it"\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {command!r} }}\n\n"
        '[[turn]]\ntext = "waiting"\n\n'
        '[[turn]]\ntext = "it finished"\n',
    )


# Runs the command given and writes its peak RSS (KiB) to a file. The kernel counts into
# a process's peak the memory of whatever forked it, until it execs: a run forked from
# this test process would report the test runner's size. Forked from this small
# wrapper instead, it reports its own.
_MEASURE = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(tmp_path: Path, project: Path, script: Path, **env: str) -> tuple[int, int, str]:
    """`harness-tui --exec` to the end: its exit code, its peak RSS in KiB, its stderr."""
    rss_file = tmp_path / "rss"
    command = harness_cmd(
        "--exec", "go", "--provider", "scripted", "--model", str(script),
        "--project", str(project),
    )  # fmt: skip
    with (tmp_path / "stderr").open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURE, str(rss_file), *command],
            cwd=project,
            env=cli_env(tmp_path, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                kill_group(proc.pid)
                proc.wait()
    return code, int(rss_file.read_text()), (tmp_path / "stderr").read_text()


def store_events(project: Path) -> list[dict[str, Any]]:
    # Closed after reading: an open connection leaves the -wal and -shm files behind.
    with closing(sqlite3.connect(project / ".harness" / "harness.db")) as db:
        rows = db.execute("SELECT type, data FROM events ORDER BY position").fetchall()
    return [{"type": type_, "data": json.loads(data)} for type_, data in rows]


def store_bytes(project: Path) -> int:
    """The database and its write-ahead log (the -shm file is an index of the log)."""
    files = (project / ".harness").glob("harness.db*")
    return sum(path.stat().st_size for path in files if not path.name.endswith("-shm"))


def task_output(events: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["text"] for e in events if e["type"] == "task.output"]


def one_task(events: list[dict[str, Any]]) -> dict[str, Any]:
    [started] = [e["data"] for e in events if e["type"] == "task.started"]
    return started


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "p")


def test_a_task_printing_20_mb_keeps_memory_and_store_bounded_and_every_byte_on_disk(
    tmp_path, project
):
    # The same session with a task that prints one line: what the store holds anyway.
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    baseline = init_repo(quiet / "p")
    script = bash_script(quiet, "sleep 0.5; echo y")
    code, _, err = run_measured(quiet, baseline, script, HARNESS_TOOLS__INLINE_MS="200")
    assert code == 0, err

    # The command outlives inline_ms, so it runs as a background task.
    script = bash_script(tmp_path, f"sleep 0.5; yes | head -c {TWENTY_MB}")
    code, rss_kb, err = run_measured(tmp_path, project, script, HARNESS_TOOLS__INLINE_MS="200")
    assert code == 0, err

    events = store_events(project)
    task = one_task(events)
    chunks = task_output(events)
    # The log holds at most the cap of the output, in chunks of a bounded size...
    assert max(len(text.encode()) for text in chunks) <= CHUNK_MAX
    stored = "".join(chunks)
    assert len(stored.encode()) <= DEFAULT_CAP + 1024
    assert stored.startswith("y\ny\ny\n")
    # ...and says where it was cut and where the whole output is.
    note = stored.rsplit("\n[", 1)[1]
    assert "output_store_max_bytes" in note and task["output_path"] in note
    # The store grew by at most the cap for all of it.
    assert store_bytes(project) - store_bytes(baseline) <= DEFAULT_CAP

    # The artifact file has every byte the command wrote.
    saved = Path(task["output_path"]).read_bytes()
    assert len(saved) == TWENTY_MB and saved == b"y\n" * (TWENTY_MB // 2)
    [end] = [e["data"] for e in events if e["type"] == "task.completed"]
    assert end["exit_code"] == 0 and end["output_bytes"] == TWENTY_MB

    assert rss_kb < RSS_LIMIT_KB, f"peak RSS {rss_kb} KiB"


def test_a_configured_cap_bounds_what_a_task_leaves_in_the_log(tmp_path, project):
    cap = 64 * 1024
    script = bash_script(tmp_path, "sleep 0.5; seq 1 1000000")  # 6.9 MB
    code, _, err = run_measured(
        tmp_path,
        project,
        script,
        HARNESS_TOOLS__INLINE_MS="200",
        HARNESS_TOOLS__OUTPUT_STORE_MAX_BYTES=str(cap),
    )
    assert code == 0, err
    events = store_events(project)
    task = one_task(events)
    stored = "".join(task_output(events))
    kept, note = stored.rsplit("\n[", 1)
    assert len(kept.encode()) <= cap
    assert kept.startswith("1\n2\n3\n")
    assert task["output_path"] in note and f"at most {cap} bytes of the log" in note
    assert f"after {len(kept.encode())} bytes" in note
    assert Path(task["output_path"]).read_text() == "".join(f"{i}\n" for i in range(1, 1_000_001))


def test_binary_output_of_a_task_is_saved_byte_for_byte(tmp_path, project):
    blob = random.Random(13).randbytes(300_000)
    (project / "blob.bin").write_bytes(blob)
    script = bash_script(tmp_path, "sleep 0.5; cat blob.bin")
    code, _, err = run_measured(tmp_path, project, script, HARNESS_TOOLS__INLINE_MS="200")
    assert code == 0, err
    task = one_task(store_events(project))
    assert Path(task["output_path"]).read_bytes() == blob


def test_binary_output_of_an_inline_command_is_saved_byte_for_byte(tmp_path, project):
    blob = random.Random(14).randbytes(300_000)
    (project / "blob.bin").write_bytes(blob)
    script = bash_script(tmp_path, "cat blob.bin")
    code, _, err = run_measured(tmp_path, project, script, HARNESS_TOOLS__INLINE_MS="60000")
    assert code == 0, err
    events = store_events(project)
    assert not [e for e in events if e["type"] == "task.started"]
    [artifact] = [e["data"] for e in events if e["type"] == "artifact.created"]
    assert artifact["bytes"] == len(blob)
    assert Path(artifact["path"]).read_bytes() == blob


def test_an_inline_command_printing_20_mb_keeps_memory_and_store_bounded(tmp_path, project):
    script = bash_script(tmp_path, f"yes | head -c {TWENTY_MB}")
    code, rss_kb, err = run_measured(
        tmp_path,
        project,
        script,
        HARNESS_TOOLS__INLINE_MS="60000",
        HARNESS_TOOLS__OUTPUT_STORE_MAX_BYTES=str(256 * 1024),
    )
    assert code == 0, err
    events = store_events(project)
    [result] = [e["data"] for e in events if e["type"] == "tool.completed"]
    [artifact] = [e["data"] for e in events if e["type"] == "artifact.created"]
    # The model gets the head and the tail, and where the rest is.
    assert result["result"].startswith("y\ny\n")
    assert f"full output ({TWENTY_MB} bytes) saved to {artifact['path']}" in result["result"]
    assert len(result["result"].encode()) <= 30_000 + 100
    assert Path(artifact["path"]).read_bytes() == b"y\n" * (TWENTY_MB // 2)
    assert store_bytes(project) <= STORE_OVERHEAD
    assert rss_kb < RSS_LIMIT_KB, f"peak RSS {rss_kb} KiB"
