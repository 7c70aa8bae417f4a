"""Background tasks in headless runs, tailed from a second process; crash recovery."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading

import pytest

from tests.support.loopback import LoopbackOpenAI, Reply
from tests.support.processes import group_alive
from tests.support.projects import (
    cli_env,
    events_until,
    harness_cmd,
    init_repo,
    start_exec,
    write_script,
)
from tests.support.waiting import wait_until

# Twelve ticks, six seconds: long past inline_ms, and long enough for a second process
# to start and show the output while the run still goes on.
TICKS = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo tick $i; sleep 0.5; done"


def test_a_12_tick_command_runs_as_a_task_tailed_live_from_another_process(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = "starting the slow job"\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {TICKS!r} }}\n\n"
        '[[turn]]\ntext = "while it runs, listing files"\n[[turn.tool_calls]]\n'
        'name = "glob"\narguments = { pattern = "*" }\n\n'
        '[[turn]]\ntext = "waiting for the slow job"\n\n'
        '[[turn]]\ntext = "the slow job finished after 12 ticks"\n',
    )
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="1000")
    run = start_exec(
        project,
        tmp_path,
        "run the slow job",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        env=env,
    )
    events = events_until(run, "task.started")
    task_id = events[-1]["data"]["task_id"]

    tail = subprocess.Popen(
        harness_cmd("tail", task_id, "--project", str(project)),
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tailed: list[tuple[str, bool]] = []  # (line, was the exec run still going?)

    def read_tail():
        assert tail.stdout is not None
        for line in tail.stdout:
            tailed.append((line.rstrip("\n"), run.poll() is None))

    reader = threading.Thread(target=read_tail)
    reader.start()
    rest, err = run.communicate(timeout=90)
    tail.wait(timeout=30)
    reader.join(timeout=10)

    assert run.returncode == 0, err
    events += [json.loads(line) for line in rest.splitlines()]
    kinds = [e["type"] for e in events]
    # The agent went on while the command ran, and the end woke it.
    assert kinds.index("task.started") < kinds.index("tool.requested", kinds.index("task.started"))
    assert kinds.index("task.completed") < len(kinds) - 1
    woken = [e for e in events if e["type"] == "input.received" and e["data"]["mode"] == "auto"]
    assert woken and task_id in woken[0]["data"]["text"]
    assert events[-1]["data"]["status"] == "done"
    texts = [e["data"]["text"] for e in events if e["type"] == "model.completed"]
    assert texts[-1] == "the slow job finished after 12 ticks"
    # The second process showed the output while the job was still running.
    lines = [line for line, _ in tailed]
    assert [f"tick {i}" for i in range(1, 13)] == [x for x in lines if x.startswith("tick")]
    assert any(live for line, live in tailed if line == "tick 3"), tailed
    assert tail.returncode == 0
    assert lines[-1] == f"[task {task_id} completed (exit code 0)]"


def test_a_task_that_ends_while_the_model_answers_is_heard_before_the_run_ends(tmp_path):
    project = init_repo(tmp_path / "p")
    go = project / "go"  # where the sandboxed command can see it
    check = f"while [ ! -e {go} ]; do sleep 0.05; done; echo check passed"
    hold = threading.Event()
    replies = [
        Reply("Running the check.", tool_calls=[("bash", {"command": check})]),
        Reply("Waiting for the check.", gate=hold),
        Reply("The check passed."),
    ]
    with LoopbackOpenAI(replies) as server:
        env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="100", **server.env())
        run = start_exec(
            project, tmp_path, "run the check", "--provider", "openai", "--json", env=env
        )
        try:
            events = events_until(run, "task.started")
            # The model is answering; the check ends meanwhile, and only then the answer.
            wait_until(lambda: len(server.requests) == 2, message="the second request")
            go.touch()
            events += events_until(run, "task.completed")
            hold.set()
            rest, err = run.communicate(timeout=60)
        finally:
            hold.set()
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode == 0, err
    events += [json.loads(line) for line in rest.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds.count("task.completed") == 1
    task_id = events[kinds.index("task.started")]["data"]["task_id"]
    woken = [e for e in events if e["type"] == "input.received" and e["data"]["mode"] == "auto"]
    assert len(woken) == 1 and task_id in woken[0]["data"]["text"]
    texts = [e["data"]["text"] for e in events if e["type"] == "model.completed"]
    assert texts == ["Running the check.", "Waiting for the check.", "The check passed."]
    assert len(server.requests) == 3
    messages = server.requests[2].body["messages"]
    notices = [m for m in messages if str(m["content"]).startswith(f"Background task {task_id}")]
    assert notices == [messages[-1]] and messages[-1]["role"] == "user"
    assert events[-1]["data"]["status"] == "done"


@pytest.mark.parametrize("sandbox", ["danger-full-access", "workspace-write"])
def test_kill_9_while_a_task_runs_then_restart_cancels_it_and_the_session_goes_on(
    tmp_path, sandbox
):
    """Unconfined, the task's command outlives the killed run until the next run stops
    it; sandboxed, it dies with the run (bubblewrap's --die-with-parent): nothing of a
    dead run is left for anyone to find. Either way the next run records its end."""
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = "starting"\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "echo up; sleep 84.42" }\n\n'
        '[[turn]]\ntext = "waiting"\n\n'
        '[[turn]]\ntext = "the job was lost; carrying on"\n',
    )
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="300", HARNESS_SANDBOX__MODE=sandbox)
    run = start_exec(
        project, tmp_path, "go", "--provider", "scripted", "--model", str(script), "--json", env=env
    )
    # The turn ends while the task still runs.
    seen = events_until(run, "turn.completed")
    sid = seen[-1]["session_id"]
    [pgid] = [e["data"]["pgid"] for e in seen if e["type"] == "task.started"]
    assert group_alive(pgid)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    if sandbox == "danger-full-access":
        assert group_alive(pgid), "the task's command should have outlived its parent"
    else:
        wait_until(lambda: not group_alive(pgid), message="the sandbox to die with its run")

    resumed = subprocess.run(
        harness_cmd(
            "--exec", "what happened?", "--session", sid, "--json", "--project", str(project)
        ),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert resumed.returncode == 0, resumed.stderr
    events = [json.loads(line) for line in resumed.stdout.splitlines()]
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute("SELECT data FROM events WHERE type = 'task.cancelled'").fetchall()
    cancelled = [json.loads(data) for (data,) in rows]
    assert cancelled and cancelled[0]["reason"] == "process_exited"
    assert [e["data"]["text"] for e in events if e["type"] == "model.completed"] == [
        "the job was lost; carrying on"
    ]
    wait_until(lambda: not group_alive(pgid), message="recovery to stop the orphaned command")


def test_ctrl_c_stops_background_tasks_too(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "sleep 83.91" }\n\n[[turn]]\ntext = "waiting"\n',
    )
    run = start_exec(
        project,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        env=cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="200"),
    )
    seen = events_until(run, "turn.completed")
    [pgid] = [e["data"]["pgid"] for e in seen if e["type"] == "task.started"]
    run.send_signal(signal.SIGINT)
    rest, _ = run.communicate(timeout=30)
    assert run.returncode == 130
    assert '"task.cancelled"' in rest
    assert not group_alive(pgid), "the task's command is still running"
