"""`harness-tui tail SESSION` ends when the session stops running, whatever it stopped
at, and says how in its last line and its exit code."""

from __future__ import annotations

import json
import subprocess

from tests.support.loopback import ErrorReply, LoopbackAnthropic
from tests.support.processes import kill_group
from tests.support.projects import (
    cli_env,
    ended,
    events_until,
    harness_cmd,
    init_repo,
    start_exec,
    write_script,
)

LOOKING = '[[turn]]\ntext = "looking"\n[[turn.tool_calls]]\nname = "glob"\n'
LOOKING += 'arguments = { pattern = "*" }\n\n'
PROMPTING = "echo outside > ../outside.txt"


def tail(project, env, session_id, *args):
    return subprocess.run(
        harness_cmd("tail", session_id, *args, "--project", str(project)),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def run_exec(project, env, script, *args):
    return subprocess.run(
        harness_cmd(
            "--exec",
            "go",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--json",
            *args,
            "--project",
            str(project),
        ),
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_tail_of_a_session_stopped_at_max_steps_exits_4_with_its_status(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", LOOKING * 3)
    env = cli_env(tmp_path, HARNESS_ENGINE__MAX_STEPS="1")
    done = run_exec(project, env, script)
    assert done.returncode == 4, done.stderr
    session_id = json.loads(done.stdout.splitlines()[0])["session_id"]

    followed = tail(project, env, session_id)
    assert followed.returncode == 4, followed.stderr
    assert followed.stdout.splitlines()[-1] == (
        f"[session {session_id} idle: stopped after 1 model requests (max_steps)]"
    )


def test_tail_of_a_session_that_waits_for_an_approval_exits_3_naming_it(tmp_path):
    """The run that asked is still there, waiting for an answer on its stdin: the
    session no longer runs, and tail says what it waits for."""
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        LOOKING + f'[[turn]]\ntext = "writing"\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {PROMPTING!r} }}\n",
    )
    env = cli_env(tmp_path)
    run = start_exec(
        project,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        "--approvals",
        "stdin",
        env=env,
        stdin=subprocess.PIPE,
    )
    with ended(run):
        session_id = events_until(run, "session.created")[-1]["session_id"]
        followed = tail(project, env, session_id)
        assert run.poll() is None, "the run should still wait for its answer"
    assert followed.returncode == 3, followed.stderr
    assert followed.stdout.splitlines()[-1] == (
        f"[session {session_id} waiting for an approval: {PROMPTING}]"
    )


def test_tail_of_a_finished_session_exits_0_saying_so(tmp_path):
    project = init_repo(tmp_path / "p")
    env = cli_env(tmp_path)
    script = write_script(tmp_path / "s.toml", LOOKING + '[[turn]]\ntext = "all done"\n')
    done = run_exec(project, env, script)
    assert done.returncode == 0, done.stderr
    session_id = json.loads(done.stdout.splitlines()[0])["session_id"]
    followed = tail(project, env, session_id)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.splitlines()[-1] == f"[session {session_id} done]"
    # --json prints the events only; the exit code still says how it ended.
    as_json = tail(project, env, session_id, "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout.splitlines()[-1])["data"] == {"status": "done"}


def test_tail_of_a_failed_session_exits_1_with_the_error(tmp_path):
    project = init_repo(tmp_path / "p")
    with LoopbackAnthropic([ErrorReply(400, "this request is malformed")]) as server:
        env = cli_env(tmp_path, **server.env())
        failed = subprocess.run(
            harness_cmd(
                "--exec", "go", "--provider", "anthropic", "--json", "--project", str(project)
            ),
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert failed.returncode == 1, failed.stderr
    session_id = json.loads(failed.stdout.splitlines()[0])["session_id"]
    followed = tail(project, env, session_id)
    assert followed.returncode == 1, followed.stderr
    last = followed.stdout.splitlines()[-1]
    assert last.startswith(f"[session {session_id} failed: ") and "malformed" in last


def test_tail_of_a_session_whose_run_was_killed_exits_1_saying_so(tmp_path):
    project = init_repo(tmp_path / "p")
    hold = "while [ ! -e go ]; do sleep 0.05; done"
    script = write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = "waiting"\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {hold!r} }}\n",
    )
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="60000")
    run = start_exec(
        project,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        env=env,
    )
    with ended(run):
        started = events_until(run, "tool.started")[-1]
        run.kill()
        run.wait(timeout=10)
    try:
        followed = tail(project, env, started["session_id"])
    finally:
        kill_group(started["data"]["pgid"])
    assert followed.returncode == 1, followed.stderr
    assert followed.stdout.splitlines()[-1] == (
        f"[session {started['session_id']} interrupted: the process running it exited; "
        "the next run in this project recovers it]"
    )
