"""A background task's end reaches the model exactly once, whenever it comes.

Each test decides the moment itself: the task's command waits for a file the test
creates, and a model reply can be held mid-stream (`Reply.gate`) until the test has
seen the task end. `engine.wait` is started before the end and must return only after
the model's turn that saw it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from tests.support.loopback import LoopbackOpenAI, Reply
from tests.support.projects import init_repo
from tests.support.waiting import wait_for

NOTICE = "Background task "


def gated(go: Path) -> dict[str, str]:
    """A bash call whose command runs until the test creates `go` (in the workspace: the
    sandboxed command sees nothing of the machine outside it but what is read-only)."""
    return {"command": f"while [ ! -e {go} ]; do sleep 0.05; done; echo check passed"}


async def open_engine(project, monkeypatch, server):
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return await Engine.open(load_config(project=project, flags={"tools.inline_ms": 100}, env={}))


async def task_ended(engine, sid, task_id="t1") -> None:
    """Until the session's state records the task's end: the owner was handed the end
    in that same step."""

    def ended() -> bool:
        task = engine.state(sid).tasks.get(f"{sid}-{task_id}")
        return task is not None and task.status != "running"

    await wait_for(ended, message=f"the end of task {task_id}")


def notices(messages) -> list[str]:
    return [
        m["content"]
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], str) and NOTICE in m["content"]
    ]


def delivered_once(server, events, sid):
    """The end is on the record once, handed to the model once, and every request from
    then on carries it exactly once. Returns the index of the first request with it."""
    assert [e.type for e in events].count(ev.TASK_COMPLETED) == 1
    woken = [e for e in events if e.type == ev.INPUT_RECEIVED and NOTICE in e.data["text"]]
    assert len(woken) == 1 and woken[0].data["mode"] == "auto"
    assert f"{sid}-t1" in woken[0].data["text"] and "check passed" in woken[0].data["text"]
    counts = [len(notices(r.body["messages"])) for r in server.requests]
    first = counts.index(1)
    assert counts[first:] == [1] * (len(counts) - first), counts
    assert not any(counts[:first]), counts
    return first


async def test_an_end_during_the_last_request_of_a_turn_joins_that_turn(tmp_path, monkeypatch):
    project = init_repo(tmp_path / "p")
    go = project / "go"
    hold = threading.Event()
    replies = [
        Reply("Running the check.", tool_calls=[("bash", gated(go))]),
        Reply("Waiting for the check.", gate=hold),
        Reply("The check passed."),
    ]
    with LoopbackOpenAI(replies) as server:
        engine = await open_engine(project, monkeypatch, server)
        try:
            sid = await engine.start_session("run the check", provider="openai")
            waiting = asyncio.create_task(engine.wait(sid))
            await wait_for(lambda: len(server.requests) == 2, message="the second request")
            go.touch()
            await task_ended(engine, sid)
            hold.set()  # the reply asks for no tools: the turn would end here
            state = await waiting
            events = await engine.store.read(sid)
        finally:
            hold.set()
            await engine.close()
    assert delivered_once(server, events, sid) == 2
    assert len(server.requests) == 3
    assert notices(server.requests[2].body["messages"][-1:])  # the newest message
    assert state.final_text == "The check passed."
    assert state.turns == 1 and state.status == "done"


async def test_an_end_during_a_request_that_asks_for_tools_follows_their_results(
    tmp_path, monkeypatch
):
    project = init_repo(tmp_path / "p")
    go = project / "go"
    hold = threading.Event()
    replies = [
        Reply("Running the check.", tool_calls=[("bash", gated(go))]),
        Reply("Meanwhile, listing files.", tool_calls=[("glob", {"pattern": "*"})], gate=hold),
        Reply("The check passed."),
    ]
    with LoopbackOpenAI(replies) as server:
        engine = await open_engine(project, monkeypatch, server)
        try:
            sid = await engine.start_session("run the check", provider="openai")
            waiting = asyncio.create_task(engine.wait(sid))
            await wait_for(lambda: len(server.requests) == 2, message="the second request")
            go.touch()
            await task_ended(engine, sid)
            hold.set()
            state = await waiting
            events = await engine.store.read(sid)
        finally:
            hold.set()
            await engine.close()
    assert delivered_once(server, events, sid) == 2
    third = server.requests[2].body["messages"]
    assert third[-2]["role"] == "tool" and notices(third[-1:])
    assert len(server.requests) == 3
    assert state.final_text == "The check passed." and state.turns == 1


async def test_an_end_during_a_tool_round_reaches_the_next_request(tmp_path, monkeypatch):
    project = init_repo(tmp_path / "p")
    go, go2 = project / "go", project / "go2"
    replies = [
        Reply(
            "Running the check and the build.",
            tool_calls=[("bash", gated(go)), ("bash", gated(go2))],
        ),
        # The agent waits for the build (t2) itself: a tool round the test holds open.
        Reply("Waiting for the build.", tool_calls=[("wait_task", {"task_id": "t2"})]),
        Reply("Both finished."),
    ]
    with LoopbackOpenAI(replies) as server:
        engine = await open_engine(project, monkeypatch, server)
        try:
            sid = await engine.start_session("check and build", provider="openai")
            waiting = asyncio.create_task(engine.wait(sid))

            def waits_for_the_build() -> bool:
                calls = engine.state(sid).open_calls.values()
                return any(c.name == "wait_task" for c in calls)

            await wait_for(waits_for_the_build, message="the wait_task call")
            go.touch()
            await task_ended(engine, sid, "t1")
            go2.touch()  # the build ends and the tool round with it
            state = await waiting
            events = await engine.store.read(sid)
        finally:
            await engine.close()
    # The build's end was the agent's own wait's answer, not a notice.
    assert [e.type for e in events].count(ev.TASK_COMPLETED) == 2
    woken = [e for e in events if e.type == ev.INPUT_RECEIVED and NOTICE in e.data["text"]]
    assert len(woken) == 1 and f"{sid}-t1" in woken[0].data["text"]
    counts = [len(notices(r.body["messages"])) for r in server.requests]
    assert counts == [0, 0, 1]
    assert server.requests[2].body["messages"][-2]["role"] == "tool"
    assert len(server.requests) == 3
    assert state.final_text == "Both finished." and state.turns == 1


async def test_an_end_while_an_approval_waits_reaches_the_request_after_it(tmp_path, monkeypatch):
    project = init_repo(tmp_path / "p")
    go = project / "go"
    replies = [
        Reply("Running the check.", tool_calls=[("bash", gated(go))]),
        Reply(
            "Writing the notes.",
            tool_calls=[("write_file", {"path": "notes.txt", "content": "notes\n"})],
        ),
        Reply("The check passed; notes written."),
    ]
    with LoopbackOpenAI(replies) as server:
        engine = await open_engine(project, monkeypatch, server)
        try:
            sid = await engine.start_session(
                "run the check", provider="openai", approval_mode="untrusted"
            )
            waiting = asyncio.create_task(engine.wait(sid))
            await wait_for(lambda: bool(engine.state(sid).approvals), message="an approval")
            go.touch()
            await task_ended(engine, sid)
            (approval_id,) = engine.state(sid).approvals
            await engine.resolve_approval(approval_id, "allow_once")
            state = await waiting
            events = await engine.store.read(sid)
        finally:
            await engine.close()
    assert delivered_once(server, events, sid) == 2
    assert len(server.requests) == 3
    assert state.final_text == "The check passed; notes written." and state.turns == 1


async def test_an_end_after_the_turn_wakes_the_idle_agent_once(tmp_path, monkeypatch):
    project = init_repo(tmp_path / "p")
    go = project / "go"
    replies = [
        Reply("Running the check.", tool_calls=[("bash", gated(go))]),
        Reply("Waiting for the check."),
        Reply("The check passed."),
    ]
    with LoopbackOpenAI(replies) as server:
        engine = await open_engine(project, monkeypatch, server)
        try:
            sid = await engine.start_session("run the check", provider="openai")
            waiting = asyncio.create_task(engine.wait(sid))

            def turn_over() -> bool:
                state = engine.state(sid)
                return state.turns == 1 and not state.turn_active

            await wait_for(turn_over, message="the end of the first turn")
            assert not waiting.done()  # the task runs on, and its end will wake the agent
            assert engine.state(sid).status == "running"
            go.touch()
            state = await waiting
            events = await engine.store.read(sid)
        finally:
            await engine.close()
    assert delivered_once(server, events, sid) == 2
    assert len(server.requests) == 3
    assert state.final_text == "The check passed."
    assert state.turns == 2 and state.status == "done"


async def test_input_handed_over_as_the_turn_closes_starts_the_next_turn(tmp_path, monkeypatch):
    """The narrowest window: input for the running turn that arrives after its last
    reply was recorded, while turn.completed is being written. An observer of the
    engine's events hands it over at exactly that step."""
    project = init_repo(tmp_path / "p")
    replies = [Reply("Looking."), Reply("Heard it.")]
    with LoopbackOpenAI(replies) as server:
        engine = await open_engine(project, monkeypatch, server)
        handed: list[str] = []

        def hand_over(event) -> None:
            # Runs as model.completed is applied; the loop then reaches the append of
            # turn.completed without yielding, and this send runs during that append.
            if event.type == ev.MODEL_COMPLETED and not handed:
                handed.append(event.session_id)
                asyncio.ensure_future(engine.send(event.session_id, "one more thing", mode="steer"))

        engine._ctx.add_observer(hand_over)
        try:
            sid = await engine.start_session("look", provider="openai")
            state = await engine.wait(sid)
            events = await engine.store.read(sid)
        finally:
            await engine.close()
    inputs = [e.data["text"] for e in events if e.type == ev.INPUT_RECEIVED]
    assert inputs == ["look", "one more thing"]
    assert len(server.requests) == 2
    assert server.requests[1].body["messages"][-1] == {"role": "user", "content": "one more thing"}
    assert state.final_text == "Heard it." and state.turns == 2 and state.status == "done"
