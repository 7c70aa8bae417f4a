"""`harness-tui --exec` as a user or a script runs it: a real subprocess, a real repo."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

from tests.support.processes import group_alive, kill_group, recorded_groups
from tests.support.projects import (
    QUICK_DEMO_ENV,
    cli_env,
    demo_repo,
    events_until,
    harness_cmd,
    init_repo,
    snapshot,
    start_exec,
    write_script,
)
from tests.support.waiting import wait_until


def run_exec(project, *args, tmp_path, timeout=120, **env):
    return subprocess.run(
        harness_cmd("--exec", *args, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stored_events(project):
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute("SELECT session_id, seq, type, data FROM events ORDER BY position")
        return [(sid, seq, kind, json.loads(data)) for sid, seq, kind, data in rows]


def test_fix_the_failing_test_with_the_scripted_provider(tmp_path):
    """The demo fixes its own copy of the project, even run in one just like it."""
    repo = demo_repo(tmp_path / "repo")
    before = snapshot(repo)
    done = run_exec(
        repo,
        "fix the failing test",
        "--provider",
        "scripted",
        "--approval-mode",
        "auto",
        tmp_path=tmp_path,
        **QUICK_DEMO_ENV,
    )
    assert done.returncode == 0, done.stderr
    # The final answer is on stdout, the progress on stderr.
    assert "Fixed the failing test" in done.stdout
    assert "→ bash: python3 -m unittest -v" in done.stderr
    assert "→ edit_file calc.py" in done.stderr
    copy = Path(done.stderr.split(" · scripted/demo · ", 1)[1].splitlines()[0])
    assert copy.is_relative_to(tmp_path / "xdg-data")
    assert snapshot(repo) == before
    assert "return total(values) / len(values)" in (copy / "calc.py").read_text()
    tests = subprocess.run(["python3", "-m", "unittest", "-q"], cwd=copy, capture_output=True)
    assert tests.returncode == 0


def test_json_output_is_one_event_per_line_in_the_store_envelope(tmp_path):
    repo = demo_repo(tmp_path / "repo")
    done = run_exec(
        repo,
        "fix it",
        "--provider",
        "scripted",
        "--json",
        "--approval-mode",
        "auto",
        tmp_path=tmp_path,
        **QUICK_DEMO_ENV,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines, "no events printed"
    for line in lines:
        assert set(line) == {"position", "session_id", "seq", "ts", "type", "data"}
        assert line["ts"].endswith("Z")
    positions = [line["position"] for line in lines]
    assert positions == sorted(positions)
    assert lines[0]["type"] == "session.created"
    assert lines[-1]["type"] == "session.status" and lines[-1]["data"]["status"] == "done"
    # Exactly what the store holds.
    assert [(line["session_id"], line["seq"], line["type"]) for line in lines] == [
        (sid, seq, kind) for sid, seq, kind, _ in stored_events(repo)
    ]


def test_max_steps_exits_4(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "loop.toml",
        '[[turn]]\ntext = "again"\n[[turn.tool_calls]]\nname = "glob"\narguments = { pattern = "*" }\n'
        * 4,
    )
    done = run_exec(
        project,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--max-steps",
        "2",
        tmp_path=tmp_path,
    )
    assert done.returncode == 4, done.stderr
    assert "max_steps" in done.stderr


def test_usage_errors_exit_2_with_one_line(tmp_path):
    project = init_repo(tmp_path / "p")
    unknown = run_exec(project, "go", "--session", "nosuchsession", tmp_path=tmp_path)
    assert unknown.returncode == 2
    assert "nosuchsession" in unknown.stderr and "Traceback" not in unknown.stderr
    no_key = run_exec(project, "go", "--provider", "anthropic", tmp_path=tmp_path)
    assert no_key.returncode == 2
    assert no_key.stderr.strip() == "harness-tui: provider anthropic: ANTHROPIC_API_KEY is not set"
    (project / ".harness").mkdir(exist_ok=True)
    (project / ".harness" / "config.toml").write_text("[engine]\nmax_steps = 0\n")
    bad = run_exec(project, "go", tmp_path=tmp_path)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "config.toml" in bad.stderr and "max_steps" in bad.stderr


def test_session_continues_with_a_new_prompt(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = "first"\n\n[[turn]]\ntext = "second"\n',
    )
    first = run_exec(
        project,
        "one",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        tmp_path=tmp_path,
    )
    sid = json.loads(first.stdout.splitlines()[0])["session_id"]
    second = run_exec(project, "two", "--session", sid, tmp_path=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "second"


def test_kill_9_mid_tool_loses_nothing_and_the_session_carries_on(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "running the long job"
        [[turn.tool_calls]]
        name = "bash"
        arguments = { command = "echo $$ >> groups; echo started; sleep 93.17" }

        [[turn]]
        text = "the job was interrupted; picking up from here"
        """,
    )
    groups = project / "groups"
    proc = start_exec(
        project, tmp_path, "run the job", "--provider", "scripted", "--model", str(script), "--json"
    )
    try:
        seen = events_until(proc, "tool.requested")
        wait_until(lambda: recorded_groups(groups), message="the command to start")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        for pgid in recorded_groups(groups):
            kill_group(pgid)
    sid = seen[0]["session_id"]
    before = [e for e in stored_events(project) if e[0] == sid]
    # Every event the killed process printed had been committed.
    assert [(e["seq"], e["type"]) for e in seen] == [(seq, kind) for _, seq, kind, _ in before][
        : len(seen)
    ]

    resumed = run_exec(project, "carry on", "--session", sid, tmp_path=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "picking up from here" in resumed.stdout
    after = [e for e in stored_events(project) if e[0] == sid]
    assert after[: len(before)] == before, "a committed event was lost or changed"
    interrupted = [d for _, _, kind, d in after if kind == "tool.failed"]
    assert interrupted and interrupted[0]["error"].startswith("interrupted")
    assert [d["reason"] for _, _, kind, d in after if kind == "turn.completed"] == [
        "failed",
        "no_tool_calls",
    ]
    assert [e[1] for e in after] == list(range(1, len(after) + 1))


def test_ctrl_c_cancels_the_turn_and_exits_130(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "echo $$ >> groups; sleep 91.23" }\n',
    )
    proc = start_exec(
        project, tmp_path, "go", "--provider", "scripted", "--model", str(script), "--json"
    )
    events_until(proc, "tool.requested")
    wait_until(lambda: recorded_groups(project / "groups"), message="the command to start")
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert '"reason":"cancelled"' in rest
    [pgid] = recorded_groups(project / "groups")
    assert not group_alive(pgid), "the interrupted command is still running"
