"""Background tasks, subagents, steering and compaction through the Engine facade."""

from __future__ import annotations

import textwrap

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from harness_tui.events import parse_ts
from tests.support.loopback import LoopbackOpenAI, Reply
from tests.support.processes import group_alive, recorded_groups
from tests.support.projects import init_repo, write_script
from tests.support.waiting import wait_for


async def open_engine(project, **flags):
    return await Engine.open(load_config(project=project, flags=flags, env={}))


def turn(text, *calls):
    """One scripted model reply; calls are (tool, arguments-as-TOML-inline-table)."""
    body = f"[[turn]]\ntext = {text!r}\n"
    for name, args in calls:
        body += f"[[turn.tool_calls]]\nname = {name!r}\narguments = {args}\n"
    return body + "\n"


def kinds(events):
    return [e.type for e in events]


async def test_a_long_command_becomes_a_task_and_its_end_wakes_the_agent(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        turn("starting the build", ("bash", '{ command = "echo begin; sleep 1.5; echo end" }'))
        + turn("meanwhile, looking around", ("glob", '{ pattern = "*" }'))
        + turn("the build runs in the background")
        + turn("the build finished: begin and end printed"),
    )
    engine = await open_engine(project, **{"tools.inline_ms": 300})
    try:
        sid = await engine.start_session("build it", provider="scripted", model=str(script))
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    order = kinds(events)
    started = order.index(ev.TASK_STARTED)
    completed = order.index(ev.TASK_COMPLETED)
    # The agent kept working while the command ran, and its turn ended before the task.
    assert ev.TOOL_REQUESTED in order[started:completed]
    assert ev.TURN_COMPLETED in order[started:completed]
    task_id = events[started].data["task_id"]
    bash_result = next(e for e in events if e.type == ev.TOOL_COMPLETED)
    assert bash_result.data["metadata"]["task_id"] == task_id
    # The completion woke the agent with a turn of its own.
    woken = [e for e in events if e.type == ev.INPUT_RECEIVED and e.data["mode"] == "auto"]
    assert woken and f"Background task {task_id}" in woken[0].data["text"]
    assert "exit code 0" in woken[0].data["text"]
    assert state.final_text == "the build finished: begin and end printed"
    assert state.status == "done" and state.turns == 2
    output = "".join(e.data["text"] for e in events if e.type == ev.TASK_OUTPUT)
    assert output == "begin\nend\n"
    with open(events[started].data["output_path"]) as saved:  # noqa: ASYNC230
        assert saved.read() == "begin\nend\n"


async def test_read_wait_and_cancel_a_task(tmp_path):
    project = init_repo(tmp_path / "p")
    long = "for i in 1 2 3; do echo line $i; sleep 0.2; done; sleep 86.31"
    script = write_script(
        tmp_path / "s.toml",
        turn("start", ("bash", f"{{ command = {long!r} }}"))
        + turn("wait a little", ("wait_task", '{ task_id = "t1", timeout = 1.5 }'))
        + turn("read it", ("read_task", '{ task_id = "t1", since = 0 }'))
        + turn("stop it", ("cancel_task", '{ task_id = "t1" }'))
        + turn("stopped"),
    )
    engine = await open_engine(project, **{"tools.inline_ms": 200})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    results = [e.data["result"] for e in events if e.type == ev.TOOL_COMPLETED]
    waited, read, cancelled = results[1], results[2], results[3]
    assert f"task {sid}-t1" in waited and "is running" in waited
    assert "line 1\nline 2\nline 3" in read and "[next since:" in read
    assert "is cancelled" in cancelled
    assert ev.TASK_CANCELLED in kinds(events)
    # A task the agent cancelled itself does not wake it again.
    assert not [e for e in events if e.type == ev.INPUT_RECEIVED and e.data["mode"] == "auto"]
    assert state.status == "done"
    [pgid] = [e.data["pgid"] for e in events if e.type == ev.TASK_STARTED]
    assert not group_alive(pgid), "the cancelled command is still running"


def subagent_project(tmp_path, child_command):
    project = init_repo(tmp_path / "p")
    child = write_script(
        tmp_path / "child.toml",
        turn("working", ("bash", f"{{ command = {child_command!r} }}")) + turn("child finished"),
    )
    (project / ".harness").mkdir()
    (project / ".harness" / "config.toml").write_text(
        textwrap.dedent(
            f"""
            [presets.sleeper]
            description = "runs one command"
            tools = ["bash"]
            provider = "scripted"
            model = "{child}"
            max_steps = 5
            """
        )
    )
    spawn = ("spawn_subagent", '{ prompt = "do your part", preset = "sleeper", background = true }')
    parent = write_script(
        tmp_path / "parent.toml",
        turn("splitting the work", spawn, spawn) + turn("both are working") + turn("heard back"),
    )
    return project, parent


async def test_two_subagents_run_at_once_each_with_its_own_log(tmp_path):
    project, parent = subagent_project(tmp_path, "sleep 1; echo part done")
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("split it", provider="scripted", model=str(parent))
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
        children = [e.data["child_session_id"] for e in events if e.type == ev.SUBAGENT_SPAWNED]
        child_logs = [await engine.store.read(child) for child in children]
        summaries = {s.session_id: s for s in await engine.sessions()}
    finally:
        await engine.close()
    assert len(children) == 2 and len(set(children)) == 2
    for child, log in zip(children, child_logs, strict=True):
        assert log[0].data["parent_id"] == sid and log[0].data["preset"] == "sleeper"
        assert summaries[child].status == "done"
    done = [e.data for e in events if e.type == ev.TASK_COMPLETED]
    assert [d["summary"] for d in done] == ["child finished", "child finished"]
    # Both commands were running at the same moment.
    spans = [
        (
            next(e.ts for e in log if e.type == ev.TOOL_REQUESTED),
            next(e.ts for e in log if e.type == ev.TOOL_COMPLETED),
        )
        for log in child_logs
    ]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1]
    assert state.children == children
    assert state.status == "done"


async def test_cancelling_the_parent_ends_its_subagents_and_their_commands(tmp_path):
    project, parent = subagent_project(tmp_path, "echo $$ >> groups; sleep 88.17")
    groups = project / "groups"
    engine = await open_engine(project)
    try:
        sid = await engine.start_session("split it", provider="scripted", model=str(parent))
        seen = 0
        async for event in engine.subscribe():
            if event.type == ev.TOOL_REQUESTED and event.session_id != sid:
                seen += 1
                if seen == 2:
                    break
        await wait_for(lambda: len(recorded_groups(groups)) == 2, message="both commands to run")
        # The groups the log recorded: `$$` inside the sandbox is a pid of its own
        # namespace, while the group led by bubblewrap is the one recorded and stopped.
        pgids = [
            e.data["pgid"]
            for s in await engine.sessions()
            if s.session_id != sid
            for e in await engine.store.read(s.session_id)
            if e.type == ev.TOOL_STARTED
        ]
        assert len(pgids) == 2 and all(group_alive(pgid) for pgid in pgids)
        await engine.cancel(sid)
        events = await engine.store.read(sid)
        children = [e.data["child_session_id"] for e in events if e.type == ev.SUBAGENT_SPAWNED]
        statuses = [(await engine.load_state(child)).status for child in children]
    finally:
        await engine.close()
    assert statuses == ["cancelled", "cancelled"]
    assert [e.type for e in events].count(ev.TASK_CANCELLED) == 2
    assert not any(group_alive(pgid) for pgid in pgids)


async def test_steering_reaches_the_next_request_and_a_follow_up_runs_after(tmp_path, monkeypatch):
    project = init_repo(tmp_path / "p")
    replies = [
        Reply("Formatting.", tool_calls=[("bash", {"command": "sleep 1"})]),
        Reply("Done formatting with tabs."),
        Reply("Added the changelog entry."),
    ]
    with LoopbackOpenAI(replies) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        engine = await open_engine(project)
        try:
            sid = await engine.start_session("format the code", provider="openai")
            async for event in engine.subscribe():
                if event.type == ev.TOOL_REQUESTED:
                    break
            await engine.send(sid, "use tabs, not spaces", mode="steer")
            await engine.send(sid, "then add a changelog entry", mode="follow_up")
            state = await engine.wait(sid)
        finally:
            await engine.close()
    second = server.requests[1].body["messages"]
    # The steering text follows the tool result, in the very next request.
    assert second[-2]["role"] == "tool"
    assert second[-1] == {"role": "user", "content": "use tabs, not spaces"}
    third = server.requests[2].body["messages"]
    assert third[-1] == {"role": "user", "content": "then add a changelog entry"}
    assert "then add a changelog entry" not in str(second)
    assert state.turns == 2 and state.final_text == "Added the changelog entry."


async def test_a_long_session_compacts_and_goes_on(tmp_path):
    project = init_repo(tmp_path / "p")
    body = "".join(turn(f"step {i}", ("bash", '{ command = "seq 1 900" }')) for i in range(1, 7))
    script = write_script(tmp_path / "s.toml", body + turn("all steps done"))
    engine = await open_engine(
        project,
        **{
            "compaction.context_window": 6000,
            "compaction.threshold": 0.5,
            "compaction.keep_replies": 1,
        },
    )
    try:
        sid = await engine.start_session("count a lot", provider="scripted", model=str(script))
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    compactions = [e for e in events if e.type == ev.COMPACTION_COMPLETED]
    assert compactions, "the session never compacted"
    first = compactions[0]
    assert first.data["summary"].startswith("The user asked: count a lot")
    assert first.data["tokens_after"] < first.data["tokens_before"]
    sizes = [e.data["usage"]["input_tokens"] for e in events if e.type == ev.MODEL_COMPLETED]
    before = [
        e.data["usage"]["input_tokens"]
        for e in events
        if e.type == ev.MODEL_COMPLETED and e.seq < first.seq
    ][-1]
    after = next(
        e.data["usage"]["input_tokens"]
        for e in events
        if e.type == ev.MODEL_COMPLETED and e.seq > first.seq
    )
    assert after < before, sizes
    # The script went on where it was: every step ran once, then the final answer.
    texts = [e.data["text"] for e in events if e.type == ev.MODEL_COMPLETED]
    assert texts == [f"step {i}" for i in range(1, 7)] + ["all steps done"]
    assert state.status == "done"
    assert state.messages[0].content.startswith("[Summary of the conversation so far:")


async def test_compact_on_demand(tmp_path):
    project = init_repo(tmp_path / "p")
    body = "".join(turn(f"step {i}", ("bash", '{ command = "seq 1 400" }')) for i in range(1, 4))
    script = write_script(tmp_path / "s.toml", body + turn("done"))
    engine = await open_engine(project, **{"compaction.keep_replies": 1})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await engine.wait(sid)
        assert await engine.compact(sid) is True
        state = engine.state(sid)
    finally:
        await engine.close()
    assert state.messages[0].content.startswith("[Summary of the conversation so far: 3 earlier")


async def test_a_task_records_when_its_command_started(tmp_path):
    """A command runs inline for `inline_ms` before it becomes a task: task.started says
    when the command itself started, so its elapsed time does not leave that out."""
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        turn("starting", ("bash", '{ command = "sleep 1" }')) + turn("started in the background"),
    )
    engine = await open_engine(project, **{"tools.inline_ms": 600})
    try:
        sid = await engine.start_session("run it", provider="scripted", model=str(script))
        await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    requested = next(e for e in events if e.type == ev.TOOL_REQUESTED)
    started = next(e for e in events if e.type == ev.TASK_STARTED)
    command_started = parse_ts(started.data["command_started"])
    assert requested.ts <= command_started
    assert (started.ts - command_started).total_seconds() >= 0.5
