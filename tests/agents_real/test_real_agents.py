"""Each real agent CLI behind a session of ours: Engine.start_session(agent=NAME) with an
[agents.NAME] entry that runs the pinned executable against a loopback model server.

The model asks for a shell command; our policy prompts for it (an external agent's
commands run outside our sandbox); the test answers from the inbox; the agent runs it
and finishes. The command's effect is on disk, the session's story is in the store, and
no process of the agent's group outlives engine.close()."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from tests.support.agent_model import ShellThenDone
from tests.support.loopback import LoopbackAnthropic, LoopbackOpenAI, LoopbackServer
from tests.support.loopback_responses import LoopbackResponses
from tests.support.processes import group_alive
from tests.support.projects import agent_entry, commit_all, init_repo
from tests.support.real_agents import AgentSetup, claude_setup, codex_setup, opencode_setup
from tests.support.waiting import wait_for, wait_until

pytestmark = pytest.mark.real_agents

# Inline interpreter code: a command our policy prompts for (`echo hello > out.txt` it
# allows, even for an agent, as a write inside the workspace).
COMMAND = "python3 -c \"open('out.txt', 'w').write('hello')\""
# A real CLI starts in seconds; the first start on a cold machine can take tens.
TIMEOUT = 90.0

AGENTS: dict[str, tuple[str, Callable[..., LoopbackServer], Callable[..., AgentSetup]]] = {
    "opencode": ("acp", LoopbackOpenAI, opencode_setup),
    "claude": ("claude", LoopbackAnthropic, claude_setup),
    "codex": ("codex", LoopbackResponses, codex_setup),
}


def _agent_entry(name: str, protocol: str, exe: Path, setup: AgentSetup) -> str:
    return agent_entry(name, protocol, exe, setup.entry_args, setup.env)


def _project(tmp_path: Path, entry: str) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("A project for a real agent.\n")
    commit_all(repo)
    (repo / ".harness").mkdir()
    (repo / ".harness" / "config.toml").write_text(entry)
    return repo


@dataclass
class _Run:
    repo: Path
    events: list[Any]
    model: ShellThenDone
    # Seconds from start_session to the approval asked, the turn completed, the engine closed.
    marks: dict[str, float]

    def of(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]

    def index(self, type_: str, **data: Any) -> int:
        return next(
            i
            for i, e in enumerate(self.events)
            if e.type == type_ and all(e.data.get(k) == v for k, v in data.items())
        )


async def _run(name: str, exe: Path, tmp_path: Path, decision: str) -> _Run:
    """A session on agent `name`: its shell command is asked about, answered `decision`
    from the inbox, and the turn runs to its end; then the engine closes."""
    protocol, server_class, setup_for = AGENTS[name]
    model = ShellThenDone(COMMAND)
    with server_class(respond=model) as server:
        setup = setup_for(server, tmp_path / "agent")
        repo = _project(tmp_path, _agent_entry(name, protocol, exe, setup))
        engine = await Engine.open(load_config(project=repo, flags={}, env={}))
        started = time.monotonic()
        try:
            sid = await engine.start_session("Write hello to out.txt", agent=name)
            story = _Story(engine, sid, server)

            async def asked_or_ended() -> bool:
                await story.read()
                return bool(await engine.pending_approvals()) or story.ended()

            await wait_for(asked_or_ended, timeout=TIMEOUT, message=story.told(f"{name} to ask"))
            marks = {"asked": time.monotonic() - started}
            pending = [a for _, a in await engine.pending_approvals()]
            assert len(pending) == 1, story.told(f"{name} to ask once")()
            assert not (repo / "out.txt").exists(), "ran before it was approved"
            await engine.resolve_approval(pending[0].approval_id, decision, reason="not today")
            await wait_for(
                story.has_ended, timeout=TIMEOUT, message=story.told(f"{name}'s turn to end")
            )
            marks["completed"] = time.monotonic() - started
            events = list(await engine.store.read(sid))
        finally:
            await engine.close()
        marks["closed"] = time.monotonic() - started
    # The figures the README reports (pytest -s shows them).
    print(f"{name} {decision}: " + ", ".join(f"{k} at {at:.1f}s" for k, at in marks.items()))
    run = _Run(repo, events, model, marks)

    (created,) = run.of(ev.SESSION_CREATED)
    assert created.data["backend"] == name and created.data["protocol"] == protocol
    (requested,) = [e for e in run.of(ev.TOOL_REQUESTED) if e.data["tool"] == "bash"]
    assert "write('hello')" in json.dumps(requested.data["args"]), requested.data
    (approval,) = run.of(ev.APPROVAL_REQUESTED)
    assert approval.data["rule_id"] == "interpreter-inline-code"
    (resolved,) = run.of(ev.APPROVAL_RESOLVED)
    assert resolved.data["decision"] == decision
    assert run.index(ev.TOOL_REQUESTED, call_id=requested.data["call_id"]) < run.index(
        ev.APPROVAL_REQUESTED
    )
    assert run.index(ev.APPROVAL_RESOLVED) < run.index(ev.TURN_COMPLETED)

    (agent,) = run.of(ev.AGENT_STARTED)
    assert agent.data["agent_session_id"], agent.data
    pgid = agent.data.get("pgid", agent.data.get("pid"))
    assert isinstance(pgid, int), f"{name}: agent.started has no process group: {agent.data}"
    wait_until(lambda: not group_alive(pgid), message=f"{name}'s process group to be gone")
    return run


@pytest.mark.parametrize("name", list(AGENTS))
async def test_real_agent_runs_a_shell_command_approved_from_the_inbox(
    name: str, real_cli: Callable[[str], Path], tmp_path: Path
) -> None:
    run = await _run(name, real_cli(name), tmp_path, "allow_once")

    assert (run.repo / "out.txt").read_text() == "hello"
    (requested,) = [e for e in run.of(ev.TOOL_REQUESTED) if e.data["tool"] == "bash"]
    completed = run.index(ev.TOOL_COMPLETED, call_id=requested.data["call_id"])
    assert run.index(ev.APPROVAL_RESOLVED) < completed < run.index(ev.TURN_COMPLETED)
    (turn,) = run.of(ev.TURN_COMPLETED)
    assert turn.data["reason"] == "no_tool_calls", turn.data
    assert run.model.results, f"{name}: the model never saw the command's result"


@pytest.mark.parametrize("name", list(AGENTS))
async def test_real_agent_does_not_run_a_shell_command_denied_from_the_inbox(
    name: str, real_cli: Callable[[str], Path], tmp_path: Path
) -> None:
    run = await _run(name, real_cli(name), tmp_path, "deny")

    assert not (run.repo / "out.txt").exists()
    (requested,) = [e for e in run.of(ev.TOOL_REQUESTED) if e.data["tool"] == "bash"]
    call_id = requested.data["call_id"]
    assert not [e for e in run.of(ev.TOOL_COMPLETED) if e.data["call_id"] == call_id]
    assert run.index(ev.APPROVAL_RESOLVED) < run.index(ev.TOOL_FAILED, call_id=call_id)
    (turn,) = run.of(ev.TURN_COMPLETED)
    # The agent carries on (Claude Code, Codex tell the model) or stops its turn
    # (OpenCode), but the turn ends as the agent's answer, not as a failure.
    assert turn.data["reason"] == "no_tool_calls", turn.data


class _Story:
    """The session's events and the model requests as last read, for a failure to show."""

    def __init__(self, engine: Engine, sid: str, server: LoopbackServer) -> None:
        self.engine = engine
        self.sid = sid
        self.server = server
        self.events: list[Any] = []

    async def read(self) -> None:
        self.events = list(await self.engine.store.read(self.sid))

    def ended(self) -> bool:
        return any(e.type == ev.TURN_COMPLETED for e in self.events)

    async def has_ended(self) -> bool:
        await self.read()
        return self.ended()

    def told(self, what: str) -> Callable[[], str]:
        def tell() -> str:
            lines = [f"{e.type} {json.dumps(e.data)[:300]}" for e in self.events]
            paths = [r.path for r in self.server.requests]
            return f"{what}; model requests {paths}; events:\n" + "\n".join(lines)

        return tell
