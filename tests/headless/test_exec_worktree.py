"""`harness-tui --exec --worktree` and `harness-tui worktrees` as a user runs them: real
subprocesses, real git repositories and worktrees, a loopback model server, kill -9."""

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
    demo_repo,
    git,
    harness_cmd,
    init_repo,
    snapshot,
    start_exec,
    worktree_paths,
    write_script,
)
from tests.support.waiting import wait_until

FIX = {
    "path": "calc.py",
    "old_string": "return total(values) / (len(values) - 1)",
    "new_string": "return total(values) / len(values)",
}


@pytest.fixture(autouse=True)
def _no_user_gitconfig(tmp_path_factory, monkeypatch):
    """A HOME without ~/.gitconfig for the subprocesses, too (cli_env copies it)."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


def store_flag(tmp_path: Path) -> list[str]:
    # The store outside the checkout, so `git status` there shows only what sessions did.
    (tmp_path / "store").mkdir(exist_ok=True)
    return ["--store", f"sqlite:///{tmp_path / 'store' / 'harness.db'}"]


def harness(project: Path, *args: str, tmp_path: Path, env=None, timeout=120):
    return subprocess.run(
        harness_cmd(*args, "--project", str(project), *store_flag(tmp_path)),
        cwd=project,
        env=env or cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stored(tmp_path: Path, session_id: str) -> list[tuple[str, dict]]:
    with sqlite3.connect(tmp_path / "store" / "harness.db") as db:
        rows = db.execute(
            "SELECT type, data FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        return [(kind, json.loads(data)) for kind, data in rows]


def test_exec_worktree_against_a_loopback_server_lands_the_fix_on_a_branch(tmp_path):
    repo = demo_repo(tmp_path / "repo")
    before = snapshot(repo)
    replies = [
        Reply("Fixing mean().", tool_calls=[("edit_file", FIX)]),
        Reply("Fixed mean() in calc.py.\nIt divided by the wrong count."),
    ]
    with LoopbackAnthropic(replies) as server:
        env = cli_env(
            tmp_path,
            HARNESS_VALIDATION__COMMANDS='["python3 -m unittest -q"]',
            **server.env(),
        )
        done = harness(
            repo,
            "--exec",
            "fix the failing test",
            "--worktree",
            "--provider",
            "anthropic",
            tmp_path=tmp_path,
            env=env,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Fixed mean() in calc.py.\nIt divided by the wrong count."
    session_id = done.stderr.split("● session ", 1)[1].split()[0]
    branch = f"harness/{session_id}"
    assert f"on branch {branch} (from main)" in done.stderr
    assert "✓ validation `python3 -m unittest -q`: exit 0" in done.stderr
    assert f"● branch {branch}: " in done.stderr and "1 files changed, +1 -1" in done.stderr

    # The model worked in the worktree: the tools' workspace was there, not the checkout.
    system = server.requests[0].body["system"]
    system_text = system if isinstance(system, str) else " ".join(b["text"] for b in system)
    assert "worktrees" in system_text and str(repo) not in system_text

    assert snapshot(repo) == before
    assert worktree_paths(repo) == [str(repo)]
    assert git(repo, "log", "-1", "--format=%s", branch).strip() == "Fixed mean() in calc.py."
    assert "return total(values) / len(values)" in git(repo, "show", f"{branch}:calc.py")
    assert "len(values) - 1" in (repo / "calc.py").read_text()

    # `harness-tui worktrees` lists it from the log and git.
    listed = harness(repo, "worktrees", "--json", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    [record] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert record["session_id"] == session_id and record["branch"] == branch
    assert (record["status"], record["worktree"]) == ("done", "removed")
    assert (record["files"], record["insertions"], record["deletions"]) == (1, 1, 1)
    table = harness(repo, "worktrees", tmp_path=tmp_path)
    assert table.stdout.splitlines()[0].split() == [
        "SESSION",
        "BRANCH",
        "STATUS",
        "WORKTREE",
        "CHANGES",
        "TITLE",
    ]
    assert f"{session_id}  {branch}" in table.stdout and "1 files +1 -1" in table.stdout


def test_validation_that_keeps_failing_exits_1_with_the_reason(tmp_path):
    project = init_repo(tmp_path / "p")
    (project / "README.md").write_text("hi\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "initial")
    script = write_script(tmp_path / "s.toml", '[[turn]]\ntext = "Done."\n')
    env = cli_env(
        tmp_path,
        HARNESS_VALIDATION__COMMANDS='["false"]',
        HARNESS_VALIDATION__MAX_RETRIES="1",
        HARNESS_VALIDATION__RETRY_BACKOFF_S="0",
    )
    done = harness(
        project,
        "--exec",
        "go",
        "--worktree",
        "--provider",
        "scripted",
        "--model",
        str(script),
        tmp_path=tmp_path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert (
        "● session failed: validation failed after 1 retry: `false` exited with code 1"
        in done.stderr
    )
    assert worktree_paths(project) == [str(project)]


def test_a_missing_base_branch_exits_1_with_one_line(tmp_path):
    project = demo_repo(tmp_path / "repo")
    env = cli_env(tmp_path, HARNESS_GIT__BASE_BRANCH="release/9")
    done = harness(
        project,
        "--exec",
        "go",
        "--worktree",
        "--provider",
        "scripted",
        "--model",
        "echo",
        tmp_path=tmp_path,
        env=env,
    )
    assert done.returncode == 1
    assert f"● session failed: base ref 'release/9' not found in {project}" in done.stderr
    assert worktree_paths(project) == [str(project)]


def test_worktree_outside_a_git_repository_is_a_usage_error(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    done = harness(
        project,
        "--exec",
        "go",
        "--worktree",
        "--provider",
        "scripted",
        "--model",
        "echo",
        tmp_path=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("harness-tui: a worktree session needs a git repository: ")
    assert "is not a git repository" in done.stderr


def test_kill_9_mid_session_then_restart_fails_it_and_leaves_no_worktree(tmp_path):
    project = init_repo(tmp_path / "p")
    (project / "README.md").write_text("hi\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "initial")
    before = snapshot(project)
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "Drafting."
        [[turn.tool_calls]]
        name = "write_file"
        arguments = { path = "draft.txt", content = "half of it\\n" }

        [[turn]]
        text = "Now the long build."
        [[turn.tool_calls]]
        name = "bash"
        arguments = { command = "sleep 93.71 && echo built" }

        [[turn]]
        text = "Waiting for it."
        [[turn.tool_calls]]
        name = "wait_task"
        arguments = { task_id = "t1", timeout = 300 }

        [[turn]]
        text = "Built."
        """,
    )
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="300")
    run = start_exec(
        project,
        tmp_path,
        "build it",
        "--worktree",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        *store_flag(tmp_path),
        env=env,
    )
    try:
        assert run.stdout is not None
        for line in run.stdout:
            event = json.loads(line)
            if event["type"] == "task.started":
                pgid = event["data"]["pgid"]
            if event["type"] == "tool.requested" and event["data"]["tool"] == "wait_task":
                break  # mid-turn, with the long command running as a task
        session_id = event["session_id"]
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    [left] = [p for p in worktree_paths(project) if p.endswith(session_id)]

    # Any later run in the project recovers it.
    hello = write_script(tmp_path / "hello.toml", '[[turn]]\ntext = "hello"\n')
    again = harness(
        project,
        "--exec",
        "hi",
        "--provider",
        "scripted",
        "--model",
        str(hello),
        tmp_path=tmp_path,
        env=env,
    )
    assert again.returncode == 0, again.stderr

    events = stored(tmp_path, session_id)
    kinds = [kind for kind, _ in events]
    data = dict(events)  # the last of each kind
    assert data["turn.completed"] == {
        "reason": "failed",
        "error": "interrupted: the process running it exited",
    }
    assert data["task.cancelled"]["reason"] == "process_exited"
    assert data["worktree.removed"]["reason"] == "interrupted"
    assert kinds[-3:] == ["worktree.committed", "worktree.removed", "session.status"]
    branch = f"harness/{session_id}"
    assert data["session.status"] == {
        "status": "failed",
        "error": "interrupted: the process running it exited; its work so far is "
        f"committed on branch {branch}",
    }

    # No orphan: git knows only the checkout, the folder is gone, and nothing runs.
    assert worktree_paths(project) == [str(project)]
    assert not Path(left).exists()
    wait_until(lambda: not group_alive(pgid), message="the build to be stopped")
    # The work so far is on the branch, as a WIP commit; the checkout is untouched.
    assert git(project, "show", f"{branch}:draft.txt") == "half of it\n"
    message = git(project, "log", "-1", "--format=%B", branch)
    assert message.startswith("WIP (interrupted): build it")
    assert f"Harness-Session: {session_id}" in message
    assert snapshot(project) == before

    listed = harness(project, "worktrees", "--json", tmp_path=tmp_path)
    records = {r["session_id"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert (records[session_id]["status"], records[session_id]["worktree"]) == (
        "failed",
        "removed",
    )


def test_worktrees_prune_removes_kept_and_stray_worktrees(tmp_path):
    project = demo_repo(tmp_path / "repo")
    env = cli_env(tmp_path, HARNESS_GIT__CLEANUP="false")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "fixing"
        [[turn.tool_calls]]
        name = "edit_file"
        arguments = { path = "calc.py", old_string = "return total(values) / (len(values) - 1)", new_string = "return total(values) / len(values)" }

        [[turn]]
        text = "Fixed."
        """,
    )
    done = harness(
        project,
        "--exec",
        "fix",
        "--worktree",
        "--provider",
        "scripted",
        "--model",
        str(script),
        tmp_path=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    session_id = done.stderr.split("● session ", 1)[1].split()[0]
    kept = next(p for p in worktree_paths(project) if p.endswith(session_id))
    assert Path(kept, "calc.py").exists()

    nothing = harness(project, "worktrees", tmp_path=tmp_path, env=env)
    assert f"{session_id}  harness/{session_id}  done    present" in nothing.stdout

    pruned = harness(project, "worktrees", "prune", tmp_path=tmp_path, env=env)
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout == (
        f"removed {kept} (session {session_id}, done); branch harness/{session_id} kept\n"
    )
    assert worktree_paths(project) == [str(project)]
    assert not Path(kept).exists()
    again = harness(project, "worktrees", "prune", tmp_path=tmp_path, env=env)
    assert again.stdout == "nothing to prune\n"


def test_kill_9_mid_validation_then_restart_stops_the_validation_command(tmp_path):
    """A validation command runs in the session's worktree when its run is killed: the
    next run stops it, with what it started, before it removes the worktree. (Unconfined:
    a sandboxed one would die with its run, and its `$$` is the sandbox's own pid.)"""
    project = init_repo(tmp_path / "p")
    (project / "README.md").write_text("hi\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "initial")
    pids = tmp_path / "pids"
    check = f"echo $$ >> {pids}; sleep 61 & while [ ! -e {tmp_path / 'go'} ]; do sleep 0.05; done"
    env = cli_env(
        tmp_path,
        HARNESS_VALIDATION__COMMANDS=json.dumps([check]),
        HARNESS_SANDBOX__MODE="danger-full-access",
    )
    script = write_script(tmp_path / "s.toml", '[[turn]]\ntext = "Done."\n')
    run = start_exec(
        project,
        tmp_path,
        "go",
        "--worktree",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        *store_flag(tmp_path),
        env=env,
    )
    try:
        wait_until(lambda: recorded_groups(pids), message="the validation command to start")
        [pgid] = recorded_groups(pids)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        first = json.loads(run.stdout.readline())  # type: ignore[union-attr]
        session_id = first["session_id"]
        assert group_alive(pgid)

        hello = write_script(tmp_path / "hello.toml", '[[turn]]\ntext = "hello"\n')
        again = harness(
            project,
            "--exec",
            "hi",
            "--provider",
            "scripted",
            "--model",
            str(hello),
            tmp_path=tmp_path,
            env=cli_env(tmp_path),
        )
        assert again.returncode == 0, again.stderr
        wait_until(lambda: not group_alive(pgid), timeout=10, message="the check to be stopped")
        kinds = [kind for kind, _ in stored(tmp_path, session_id)]
        assert "validation.started" in kinds
        assert kinds[-3:] == ["worktree.committed", "worktree.removed", "session.status"]
        assert worktree_paths(project) == [str(project)]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pgid in recorded_groups(pids):
            kill_group(pgid)
