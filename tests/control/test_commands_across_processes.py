"""One store, many engines: a headless run waits for an approval (`--approvals wait`)
and another process answers it, steers it or cancels it with `harness-tui approve`,
`send --steer` and `cancel`, on SQLite and on PostgreSQL. The engine that runs the
session applies each command once and says what came of it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.commands import wait_for_outcome
from harness_tui.engine.engine import Engine
from harness_tui.engine.errors import CommandRejected
from harness_tui.store import open_store
from tests.support.projects import (
    cli_env,
    ended,
    harness_cmd,
    start_exec,
    write_script,
)

PROMPTING = "echo outside > ../outside.txt"
OTHER = "echo again > ../again.txt"
WAITING = re.compile(r"session (\w+): approval (ap_\w+) needed")


def env_for(tmp_path: Path, store_url: str, **extra: str) -> dict[str, str]:
    return cli_env(tmp_path, HARNESS_STORE__URL=store_url, **extra)


def script_of(tmp_path: Path, *commands: str, last: str = "wrote it") -> Path:
    body = ""
    for command in commands:
        body += '[[turn]]\ntext = "running"\n[[turn.tool_calls]]\nname = "bash"\n'
        body += f"arguments = {{ command = {command!r} }}\n\n"
    body += f'[[turn]]\ntext = "{last}"\n'
    return write_script(tmp_path / "s.toml", body)


def start_waiting(repo: Path, tmp_path: Path, env: dict[str, str], script: Path):
    return start_exec(
        repo,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--approvals",
        "wait",
        env=env,
    )


def wait_line(proc: subprocess.Popen) -> tuple[str, str]:
    """Read the run's stderr until it says it waits for an approval: (session, approval)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        found = WAITING.search(line)
        if found:
            return found.group(1), found.group(2)
    raise AssertionError("the run ended without waiting for an approval")


def face(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_cmd(*args, "--project", str(repo)),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


async def log_of(store_url: str, session_id: str) -> list[ev.Event]:
    store = await open_store(store_url)
    try:
        return await store.read(session_id)
    finally:
        await store.close()


def test_an_approval_answered_from_another_process(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, approval_id = wait_line(proc)
        listed = face(repo, env, "approvals", "--json")
        approved = face(repo, env, "approve", approval_id, "--timeout", "60")
        out, err = proc.communicate(timeout=90)

    assert listed.returncode == 0, listed.stderr
    pending = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(p["approval_id"], p["session_id"]) for p in pending] == [(approval_id, session_id)]
    assert pending[0]["runner"] != "-"  # the waiting run holds the session
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"applied: approval {approval_id}: allow_once by engine")
    assert proc.returncode == 0, err
    assert out.strip() == "wrote it"
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    events = asyncio.run(log_of(store_url, session_id))
    resolved = [e.data for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert [r["decision"] for r in resolved] == ["allow_once"]
    assert "@" in resolved[0]["by"]  # who answered: user@host


def test_a_denial_from_another_process_says_why(repo: Path, tmp_path: Path, store_url: str) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING, last="skipped"))
    with ended(proc):
        session_id, approval_id = wait_line(proc)
        denied = face(repo, env, "approve", approval_id, "--deny", "not there", "--timeout", "60")
        proc.communicate(timeout=90)
        # Answered already: nothing is pending any more, and nothing is sent.
        again = face(repo, env, "approve", approval_id, "--timeout", "5")

    assert denied.returncode == 0, denied.stderr
    assert not (tmp_path / "outside.txt").exists()
    assert again.returncode == 2
    assert f"no pending approval '{approval_id}'" in again.stderr
    events = asyncio.run(log_of(store_url, session_id))
    resolved = [e.data for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert [(r["decision"], r.get("reason")) for r in resolved] == [("deny", "not there")]


def test_a_command_for_an_answered_approval_is_rejected_with_the_reason(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING, OTHER))
    with ended(proc):
        session_id, first = wait_line(proc)
        assert face(repo, env, "approve", first, "--timeout", "60").returncode == 0
        _, second = wait_line(proc)

        # A face that looked before the first answer landed sends its own answer to
        # it: the engine running the session rejects it, and says why.
        async def stale_answer() -> str:
            store = await open_store(store_url)
            try:
                command = await store.issue_command(
                    "cmd_stale",
                    session_id,
                    "resolve_approval",
                    {"approval_id": first, "decision": "deny"},
                    "bob@elsewhere",
                )
                with pytest.raises(CommandRejected) as caught:
                    await wait_for_outcome(store, command.command_id, 60)
                return caught.value.reason
            finally:
                await store.close()

        reason = asyncio.run(stale_answer())
        answered = face(repo, env, "approve", second, "--timeout", "60")
        out, err = proc.communicate(timeout=90)

    assert "is not pending any more" in reason and first in reason
    assert answered.returncode == 0, answered.stderr
    assert proc.returncode == 0, err
    events = asyncio.run(log_of(store_url, session_id))
    decisions = [e.data["decision"] for e in events if e.type == ev.APPROVAL_RESOLVED]
    assert decisions == ["allow_once", "allow_once"]


def test_steering_a_waiting_run_from_another_process(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, approval_id = wait_line(proc)
        # The steer joins the running turn before its next request, which comes once
        # the approval is answered: it is applied then.
        steering = subprocess.Popen(
            harness_cmd(
                "send",
                session_id,
                "mind the README",
                "--steer",
                "--timeout",
                "60",
                "--project",
                str(repo),
            ),
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with ended(steering):
            asyncio.run(_until_pending_command(store_url, session_id))
            approved = face(repo, env, "approve", approval_id, "--timeout", "60")
            steered_out, steered_err = steering.communicate(timeout=90)
        out, err = proc.communicate(timeout=90)

    assert approved.returncode == 0, approved.stderr
    assert steering.returncode == 0, steered_err
    assert steered_out.startswith(f"applied: steer to session {session_id} by engine")
    assert proc.returncode == 0, err
    events = asyncio.run(log_of(store_url, session_id))
    inputs = [e.data for e in events if e.type == ev.INPUT_RECEIVED]
    assert {"text": "mind the README", "mode": "steer"} in inputs


def test_cancelling_a_waiting_run_from_another_process(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, _ = wait_line(proc)
        cancelled = face(repo, env, "cancel", session_id, "--timeout", "60")
        _, err = proc.communicate(timeout=90)
        listed = face(repo, env, "sessions", "--json", "--status", "cancelled")

    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"applied: cancel session {session_id} by engine")
    # The run says the session was cancelled, as it does for Ctrl-C.
    assert proc.returncode == 130, err
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["session_id"], r["lease"]) for r in rows] == [(session_id, None)]
    assert not (tmp_path / "outside.txt").exists()


def test_an_unanswered_wait_times_out_with_exit_3(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    done = subprocess.run(
        harness_cmd(
            "--exec",
            "go",
            "--provider",
            "scripted",
            "--model",
            str(script_of(tmp_path, PROMPTING)),
            "--approvals",
            "wait",
            "--approval-timeout",
            "0.5",
            "--project",
            str(repo),
        ),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert done.returncode == 3, done.stderr
    assert "nobody answered approval ap_" in done.stderr
    assert "within 0.5 s (--approval-timeout)" in done.stderr


async def _until_pending_command(store_url: str, session_id: str) -> None:
    from tests.support.waiting import wait_for

    store = await open_store(store_url)
    try:

        async def issued() -> bool:
            return bool(await store.commands(session_ids=[session_id]))

        await wait_for(issued, message="the steer was never sent")
    finally:
        await store.close()


def test_a_command_for_a_session_nobody_runs_waits_for_whoever_takes_it_over(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    script = write_script(
        tmp_path / "talk.toml",
        '[[turn]]\ntext = "first"\n\n[[turn]]\ntext = "second"\n\n[[turn]]\ntext = "third"\n',
    )
    first = subprocess.run(
        harness_cmd(
            "--exec",
            "one",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--json",
            "--project",
            str(repo),
        ),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert first.returncode == 0, first.stderr
    session_id = json.loads(first.stdout.splitlines()[0])["session_id"]

    queued = face(repo, env, "send", session_id, "two", "--timeout", "0.2")
    # The next engine that takes the session over applies it, after its own input.
    taken = subprocess.run(
        harness_cmd("--exec", "three", "--session", session_id, "--project", str(repo)),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert queued.returncode == 5, queued.stderr
    assert queued.stdout.startswith(f"pending: follow-up to session {session_id}")
    assert taken.returncode == 0, taken.stderr
    events = asyncio.run(log_of(store_url, session_id))
    inputs = [e.data["text"] for e in events if e.type == ev.INPUT_RECEIVED]
    assert inputs == ["one", "three", "two"]

    async def outcome() -> list[str]:
        store = await open_store(store_url)
        try:
            return [c.status for c in await store.commands(session_ids=[session_id])]
        finally:
            await store.close()

    assert asyncio.run(outcome()) == ["applied"]


def test_control_flags_that_cannot_go_together(repo: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    both = face(repo, env, "approve", "ap_1", "--always", "--deny")
    stray = subprocess.run(
        harness_cmd("--exec", "x", "--approval-timeout", "3", "--project", str(repo)),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    unknown = face(repo, env, "approve", "ap_nothing", "--timeout", "1")

    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr
    assert stray.returncode == 2
    assert stray.stderr == "harness-tui: --approval-timeout goes with --approvals wait\n"
    assert unknown.returncode == 2
    assert unknown.stderr == "harness-tui: no pending approval 'ap_nothing'\n"


def test_switching_the_approval_mode_of_a_run_in_another_process(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = env_for(tmp_path, store_url)
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING, OTHER))
    with ended(proc):
        session_id, first = wait_line(proc)

        async def switch() -> str:
            engine = await Engine.open(
                load_config(project=repo, flags={"store.url": store_url}, env={}),
                recover=False,
            )
            try:
                outcome = await engine.set_approval_mode(session_id, "auto", wait=60)
            finally:
                await engine.close()
            return outcome.status

        status = asyncio.run(switch())
        # From the next call on, the mode is auto: the second call is not asked about.
        answered = face(repo, env, "approve", first, "--timeout", "60")
        out, err = proc.communicate(timeout=90)

    assert status == "applied"
    assert answered.returncode == 0, answered.stderr
    assert proc.returncode == 0, err
    events = asyncio.run(log_of(store_url, session_id))
    modes = [e.data for e in events if e.type == ev.SESSION_APPROVAL_MODE]
    assert modes == [{"approval_mode": "auto"}]
    assert sum(e.type == ev.APPROVAL_REQUESTED for e in events) == 1
