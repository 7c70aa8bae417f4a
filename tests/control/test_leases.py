"""Leases across hosts, on SQLite and on PostgreSQL: a run on one "host" that stalls or is
killed loses its session to an engine on another once its lease runs out, never before
and never to two; the stalled one, woken, is fenced off and stops with a clear line.

Hosts are simulated with separate processes and distinct `[control] host` names: a
process on another host cannot be checked by pid, only its lease says it is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine, SessionBusy
from harness_tui.engine.worktree_lifecycle import INTERRUPTED
from harness_tui.events import Event
from harness_tui.store import LeaseHolder, open_store
from tests.control.test_commands_across_processes import (
    PROMPTING,
    env_for,
    face,
    log_of,
    script_of,
    start_waiting,
    wait_line,
)
from tests.support.projects import ended, events_until, run_exec, start_exec, write_script
from tests.support.waiting import wait_for

LEASE_S = "1.5"
ADOPTIONS = 100


async def lease_expired(store_url: str, session_id: str) -> None:
    store = await open_store(store_url)
    try:

        async def expired() -> bool:
            lease = (await store.leases([session_id])).get(session_id)
            return lease is not None and lease.expired

        await wait_for(expired, message=f"the lease on {session_id} never ran out")
    finally:
        await store.close()


def on_host(tmp_path: Path, store_url: str, host: str) -> dict[str, str]:
    return env_for(
        tmp_path, store_url, HARNESS_CONTROL__HOST=host, HARNESS_CONTROL__LEASE_S=LEASE_S
    )


def test_a_stalled_run_is_fenced_off_once_another_host_adopts_its_session(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    script = script_of(tmp_path, PROMPTING, last="carried on")
    stalled = start_waiting(repo, tmp_path, on_host(tmp_path, store_url, "host-a"), script)
    with ended(stalled):
        session_id, _ = wait_line(stalled)
        # The run stops renewing, as a machine that froze or lost the network would.
        os.kill(stalled.pid, signal.SIGSTOP)
        try:
            asyncio.run(lease_expired(store_url, session_id))
            adopted = run_exec(
                repo,
                "carry on",
                "--session",
                session_id,
                env=on_host(tmp_path, store_url, "host-b"),
            )
        finally:
            os.kill(stalled.pid, signal.SIGCONT)
        _, err = stalled.communicate(timeout=90)

    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout.strip() == "carried on"
    # Woken, the stalled run finds its lease taken: it writes nothing more, and says so.
    assert stalled.returncode == 1, err
    assert f"session {session_id}: this engine lost its lease" in err
    events = asyncio.run(log_of(store_url, session_id))
    # The adopter closed the turn the stalled run had open, then ran its own.
    ends = [e.data for e in events if e.type == ev.TURN_COMPLETED]
    assert [d["reason"] for d in ends] == ["failed", "no_tool_calls"]
    assert events[-1].type == ev.SESSION_STATUS and events[-1].data["status"] == "done"
    assert not (tmp_path / "outside.txt").exists()


def test_a_killed_runs_session_is_adopted_after_its_lease_runs_out(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    script = write_script(
        tmp_path / "slow.toml",
        '[[turn]]\ntext = "working"\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "sleep 60" }\n\n[[turn]]\ntext = "picked it up"\n',
    )
    env_a = on_host(tmp_path, store_url, "host-a")
    env_a["HARNESS_TOOLS__INLINE_MS"] = "600000"  # the call stays inline: in the turn
    run = start_exec(
        repo,
        tmp_path,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        env=env_a,
    )
    with ended(run):
        seen = events_until(run, ev.TOOL_STARTED)
        session_id = seen[0]["session_id"]
        run.kill()
        run.wait(timeout=30)
        # Before its lease runs out the session is still the killed run's: another host
        # cannot tell that its process is gone.
        asyncio.run(lease_expired(store_url, session_id))
        adopted = run_exec(
            repo,
            "carry on",
            "--session",
            session_id,
            env=on_host(tmp_path, store_url, "host-b"),
        )

    assert adopted.returncode == 0, adopted.stderr
    assert adopted.stdout.strip() == "picked it up"
    events = asyncio.run(log_of(store_url, session_id))
    call_id = next(e.data["call_id"] for e in events if e.type == ev.TOOL_STARTED)
    failed = [e.data for e in events if e.type == ev.TOOL_FAILED]
    assert failed == [{"call_id": call_id, "error": INTERRUPTED}]
    # Nothing committed was lost: the killed run's events are all still there.
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e["seq"] for e in seen} <= {e.seq for e in events}


async def _orphan(store_url: str, session_id: str) -> None:
    """A session whose engine died mid-turn on a host nobody can check: its lease ran out."""
    store = await open_store(store_url)
    try:
        dead = LeaseHolder("dead-engine", "gone-host", 4242, "1")
        lease = await store.acquire_lease(session_id, dead, 0)
        owner = {"host": "gone-host", "pid": 4242, "start": "1", "engine": "dead-engine"}
        await store.append(
            [
                Event(
                    session_id, 1, ev.SESSION_CREATED, {"title": "orphan", "provider": "scripted"}
                ),
                Event(session_id, 2, ev.SESSION_STATUS, {"status": "running"}),
                Event(session_id, 3, ev.INPUT_RECEIVED, {"text": "go", "mode": "prompt"}),
                Event(session_id, 4, ev.TURN_STARTED, {"owner": owner}),
            ],
            fence=lease.fence,
        )
    finally:
        await store.close()


async def test_two_engines_adopting_the_same_orphan_never_both_win(
    repo: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    engines = [
        await Engine.open(
            load_config(
                project=repo,
                flags={"store.url": store_url, "control.host": host},
                env={},
            ),
            recover=False,
        )
        for host in ("host-x", "host-y")
    ]
    try:
        for n in range(ADOPTIONS):
            session_id = f"orphan{n:03d}"
            await _orphan(store_url, session_id)
            # Both take it over at once (cancelling it, as `harness-tui cancel` does
            # for a session left running): one adopts and closes the turn.
            outcomes = await asyncio.gather(
                *(engine.cancel(session_id) for engine in engines), return_exceptions=True
            )
            for outcome in outcomes:
                assert not isinstance(outcome, BaseException) or isinstance(outcome, SessionBusy), (
                    outcome
                )
            events = await engines[0].history(session_id)
            ends = [e for e in events if e.type == ev.TURN_COMPLETED]
            assert len(ends) == 1, f"adoption {n}: {[e.type for e in events]}"
            winners = [engine for engine in engines if await engine.wrote(ends[0])]
            assert len(winners) == 1, f"adoption {n}: both engines wrote the turn's end"
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
    finally:
        for engine in engines:
            await engine.close()


def test_sessions_names_who_runs_each(repo: Path, tmp_path: Path, store_url: str) -> None:
    env = on_host(tmp_path, store_url, "host-a")
    proc = start_waiting(repo, tmp_path, env, script_of(tmp_path, PROMPTING))
    with ended(proc):
        session_id, _ = wait_line(proc)
        listed = subprocess.run(
            [*_cli("sessions", "--status", "waiting", repo)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        as_json = subprocess.run(
            [*_cli("sessions", "--json", repo)],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert listed.returncode == 0, listed.stderr
    row = listed.stdout.splitlines()[1]
    assert row.startswith(session_id) and f"host-a pid {proc.pid}" in row
    lease = json.loads(as_json.stdout.splitlines()[0])["lease"]
    assert (lease["host"], lease["pid"], lease["expired"]) == ("host-a", proc.pid, False)


def _cli(*args: object) -> list[str]:
    from tests.support.projects import harness_cmd

    *words, repo = args
    return harness_cmd(*(str(w) for w in words), "--project", str(repo))


async def test_an_answer_to_an_orphaned_approval_is_applied_by_the_engine_that_adopts_it(
    repo: Path, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_for(tmp_path, store_url)
    script = script_of(tmp_path, PROMPTING, last="wrote it")
    # A run that gave up waiting: its turn is left waiting, and nobody runs the session.
    gave_up = await asyncio.to_thread(
        run_exec,
        repo,
        "go",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--approvals",
        "wait",
        "--approval-timeout",
        "0.5",
        env=env,
    )
    assert gave_up.returncode == 3, gave_up.stderr
    approval_id = re.search(r"approval (ap_\w+) ", gave_up.stderr).group(1)
    queued = await asyncio.to_thread(face, repo, env, "approve", approval_id, "--timeout", "0.3")
    assert queued.returncode == 5, queued.stderr

    monkeypatch.chdir(repo)
    engine = await Engine.open(load_config(project=repo, flags={"store.url": store_url}, env={}))
    try:
        adopted = await engine.adopt_orphans()
        assert len(adopted) == 1

        async def done() -> bool:
            return (await engine.load_state(adopted[0])).status == "done"

        await wait_for(done, message="the adopted session never finished")
        state = await engine.load_state(adopted[0])
        commands = await engine.commands(session_ids=adopted)
    finally:
        await engine.close()

    assert [(c.status, c.payload["approval_id"]) for c in commands] == [("applied", approval_id)]
    assert state.final_text == "wrote it"
    assert (tmp_path / "outside.txt").read_text() == "outside\n"


async def test_a_command_its_engine_died_holding_is_applied_once_by_the_adopter(
    repo: Path, tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_a = on_host(tmp_path, store_url, "host-a")
    script = script_of(tmp_path, PROMPTING, last="steered")
    run = start_waiting(repo, tmp_path, env_a, script)
    with ended(run):
        session_id, _ = await asyncio.to_thread(wait_line, run)
        # The steer reaches the run, which holds it for the turn's next request; the
        # turn waits for an approval, so it is not applied yet when the run dies.
        queued = await asyncio.to_thread(
            face, repo, env_a, "send", session_id, "use the README", "--steer", "--timeout", "1"
        )
        run.kill()
        await asyncio.to_thread(run.wait, 30)
    assert queued.returncode == 5, queued.stderr
    await lease_expired(store_url, session_id)

    monkeypatch.chdir(repo)
    config = load_config(
        project=repo, flags={"store.url": store_url, "control.host": "host-b"}, env={}
    )
    engine = await Engine.open(config, recover=False)
    try:
        assert await engine.adopt_orphans() == [session_id]

        async def done() -> bool:
            return (await engine.load_state(session_id)).status == "done"

        await wait_for(done, message="the adopted session never finished")
        commands = await engine.commands(session_ids=[session_id])
    finally:
        await engine.close()

    assert [(c.kind, c.status) for c in commands] == [("send", "applied")]
    assert commands[0].settled_by is not None and commands[0].settled_by.endswith("host-b")
    events = await log_of(store_url, session_id)
    steers = [e.data for e in events if e.type == ev.INPUT_RECEIVED and e.data["mode"] == "steer"]
    assert steers == [{"text": "use the README", "mode": "steer"}]
