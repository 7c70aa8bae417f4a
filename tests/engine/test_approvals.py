"""Policy and approvals through the Engine facade with the scripted provider."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine, EngineError
from tests.support.projects import commit_all, init_repo, write_script
from tests.support.waiting import wait_for

PROMPTING = "echo outside > ../outside.txt"  # write-outside-workspace: prompt


def repo_with_file(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "notes.txt").write_text("hello\n")
    commit_all(repo)
    return repo


def script_running(tmp_path, *commands, final="finished"):
    body = ""
    for command in commands:
        body += f'[[turn]]\ntext = "running"\n[[turn.tool_calls]]\nname = "bash"\narguments = {{ command = {command!r} }}\n\n'
    body += f'[[turn]]\ntext = "{final}"\n'
    return write_script(tmp_path / "script.toml", body)


async def open_engine(project, **flags):
    return await Engine.open(load_config(project=project, flags=flags, env={}))


async def next_approval(engine, after=0):
    """The next approval request, once its session shows as waiting."""
    request = None
    async for event in engine.subscribe(after):
        if event.type == ev.APPROVAL_REQUESTED:
            request = event
        if request and event.type == ev.SESSION_STATUS and event.data["status"] == "waiting":
            return request
    raise AssertionError("no approval requested")


async def events_of(engine, sid):
    return await engine.store.read(sid)


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


async def test_allow_once_runs_the_command_after_the_prompt(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, PROMPTING)
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        request = await next_approval(engine)
        assert request.data["summary"] == PROMPTING
        assert request.data["rule_id"] == "write-outside-workspace"
        # The log is written before the session's in-memory state folds the event in.
        await wait_for(lambda: engine.state(sid).status == "waiting", message="status waiting")
        assert not (tmp_path / "outside.txt").exists(), "ran before it was approved"
        inbox = await engine.pending_approvals()
        assert [a.approval_id for _, a in inbox] == [request.data["approval_id"]]
        await engine.resolve_approval(request.data["approval_id"], "allow_once")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    assert state.status == "done"


async def test_allow_always_adds_a_rule_keeping_comments_and_stops_prompting(tmp_path, home):
    repo = repo_with_file(tmp_path)
    policy = repo / ".harness" / "policy.toml"
    policy.parent.mkdir()
    policy.write_text(
        '# Team policy: keep this comment.\n\n[[rule]]\n# our own rule\nid = "team-ls"\ndecision = "allow"\nreason = "listing is fine"\npattern = ["ls"]\nmatch = ["ls -la"]\n'
    )
    script = script_running(tmp_path, PROMPTING, PROMPTING)
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        request = await next_approval(engine)
        await engine.resolve_approval(request.data["approval_id"], "allow_always")
        state = await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    text = policy.read_text()
    assert text.startswith("# Team policy: keep this comment.")
    assert "# our own rule" in text
    assert "approved = true" in text and 'pattern = ["echo", "outside"]' in text
    decisions = [e.data for e in events if e.type == ev.POLICY_DECIDED]
    assert [d["decision"] for d in decisions] == ["prompt", "allow"]
    assert decisions[1]["rule_id"].startswith("approved-echo-outside")
    assert [e.type for e in events].count(ev.APPROVAL_REQUESTED) == 1
    assert state.status == "done"


async def test_deny_sends_the_reason_to_the_model(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, PROMPTING)
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        request = await next_approval(engine)
        await engine.resolve_approval(request.data["approval_id"], "deny", reason="not outside")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert not (tmp_path / "outside.txt").exists()
    tool_messages = [m for m in state.messages if m.role == "tool"]
    assert tool_messages[-1].is_error
    assert "denied by the user: not outside" in tool_messages[-1].content
    assert state.final_text == "finished"


async def test_edit_runs_the_edited_command_which_is_checked_again(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, PROMPTING, PROMPTING)
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        first = await next_approval(engine)
        await engine.resolve_approval(
            first.data["approval_id"], "edit", edited_args={"command": "echo inside > inside.txt"}
        )
        second = await next_approval(engine, first.position)
        # An edit cannot get past a forbid rule.
        await engine.resolve_approval(
            second.data["approval_id"],
            "edit",
            edited_args={"command": "echo pwned >> ~/.ssh/authorized_keys"},
        )
        state = await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    assert (repo / "inside.txt").read_text() == "inside\n"
    assert not (tmp_path / "outside.txt").exists()
    assert not (home / ".ssh" / "authorized_keys").exists()
    refused = [e.data["error"] for e in events if e.type == ev.TOOL_FAILED]
    assert refused and "forbidden (write-sensitive)" in refused[-1]
    assert state.status == "done"


async def test_a_forbidden_command_never_runs(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, "echo pwned >> ~/.ssh/authorized_keys")
    engine = await open_engine(repo, **{"policy.approval_mode": "auto"})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        state = await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    assert not (home / ".ssh" / "authorized_keys").exists()
    decided = [e.data for e in events if e.type == ev.POLICY_DECIDED]
    assert decided[0]["decision"] == "forbid" and decided[0]["rule_id"] == "write-sensitive"
    assert (
        "forbidden by policy (write-sensitive)"
        in [m for m in state.messages if m.role == "tool"][0].content
    )


async def test_untrusted_mode_prompts_for_a_file_edit_with_its_diff(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "editing"
        [[turn.tool_calls]]
        name = "edit_file"
        arguments = { path = "notes.txt", old_string = "hello", new_string = "goodbye" }

        [[turn]]
        text = "edited"
        """,
    )
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session(
            "go", provider="scripted", model=str(script), approval_mode="untrusted"
        )
        request = await next_approval(engine)
        assert "-hello" in request.data["diff"] and "+goodbye" in request.data["diff"]
        assert (repo / "notes.txt").read_text() == "hello\n"
        await engine.resolve_approval(request.data["approval_id"], "allow_once")
        await engine.wait(sid)
    finally:
        await engine.close()
    assert (repo / "notes.txt").read_text() == "goodbye\n"


async def test_the_agent_cannot_write_the_policy_file(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "sneaky"
        [[turn.tool_calls]]
        name = "write_file"
        arguments = { path = ".harness/policy.toml", content = "[[rule]]\\nid='x'\\n" }

        [[turn]]
        text = "done"
        """,
    )
    engine = await open_engine(repo, **{"policy.approval_mode": "auto"})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    assert not (repo / ".harness" / "policy.toml").exists()
    assert [e.data["rule_id"] for e in events if e.type == ev.POLICY_DECIDED] == ["harness-files"]


async def test_the_agent_cannot_plant_git_hooks_or_config_and_odd_paths_are_denied(tmp_path, home):
    """Even in auto mode: a hook or a config change would run code on the user's next
    git command. A path the kernel cannot resolve is a refusal the model reads, and the
    turn goes on."""
    repo = repo_with_file(tmp_path)
    os.symlink("loop-b", repo / "loop-a")
    os.symlink("loop-a", repo / "loop-b")
    config = (repo / ".git" / "config").read_text()
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "sneaky"
        [[turn.tool_calls]]
        name = "write_file"
        arguments = { path = ".git/hooks/pre-commit", content = "#!/bin/sh\\ntouch pwned\\n" }
        [[turn.tool_calls]]
        name = "edit_file"
        arguments = { path = ".git/config", old_string = "[core]", new_string = "[core]\\n\\tfsmonitor = ./x" }
        [[turn.tool_calls]]
        name = "write_file"
        arguments = { path = "notes.txt/inner", content = "x" }
        [[turn.tool_calls]]
        name = "read_file"
        arguments = { path = "loop-a/x" }

        [[turn]]
        text = "done"
        """,
    )
    engine = await open_engine(repo, **{"policy.approval_mode": "auto"})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        state = await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    assert state.status == "done"
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert (repo / ".git" / "config").read_text() == config
    decided = [e.data for e in events if e.type == ev.POLICY_DECIDED]
    assert [(d["decision"], d["rule_id"]) for d in decided] == [
        ("forbid", "git-internals"),
        ("forbid", "git-internals"),
        ("forbid", "path-error"),
        ("forbid", "path-error"),
    ]
    failed = [e.data for e in events if e.type == ev.TOOL_FAILED]
    assert all(f.get("refused") for f in failed) and len(failed) == 4
    assert "notes.txt is not a directory" in failed[2]["error"]
    assert "symbolic link" in failed[3]["error"]
    assert not any("crashed" in f["error"] for f in failed)


async def test_switching_to_never_turns_a_prompt_into_a_denial(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, "true", PROMPTING)
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await engine.set_approval_mode(sid, "never")
        state = await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    assert state.approval_mode == "never"
    assert ev.APPROVAL_REQUESTED not in [e.type for e in events]
    assert not (tmp_path / "outside.txt").exists()
    assert (
        "approval needed but mode is never"
        in [e.data for e in events if e.type == ev.POLICY_DECIDED][-1]["reason"]
    )


async def test_a_pending_approval_survives_a_restart_and_can_still_be_answered(tmp_path, home):
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, PROMPTING)
    first = await open_engine(repo)
    sid = await first.start_session("go", provider="scripted", model=str(script))
    request = await next_approval(first)
    await wait_for(first.pending_approvals, message="the approval to be on record")
    await first.close()  # the process goes away with the approval unanswered

    second = await open_engine(repo)
    try:
        inbox = await second.pending_approvals()
        assert [a.approval_id for _, a in inbox] == [request.data["approval_id"]]
        await second.resolve_approval(request.data["approval_id"], "allow_once")
        state = await second.wait(sid)
        events = await events_of(second, sid)
        with pytest.raises(EngineError, match="no pending approval"):
            await second.resolve_approval(request.data["approval_id"], "allow_once")
    finally:
        await second.close()
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    assert state.status == "done"
    assert ev.TURN_RESUMED in [e.type for e in events]


async def test_an_approval_answered_before_its_writer_has_applied_the_request(tmp_path, home):
    """Whoever reads the request from the store can answer before the engine that wrote
    it has folded it into the session: that engine runs the turn, so it takes the answer."""
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, PROMPTING)
    engine = await open_engine(repo)
    committed = asyncio.Event()
    release = asyncio.Event()
    append = engine.store.append

    async def slow_to_return(events, **options):
        # The commit is done; only the writer learning of it is held back.
        positions = await append(events, **options)
        if any(event.type == ev.APPROVAL_REQUESTED for event in events):
            committed.set()
            await release.wait()
        return positions

    engine.store.append = slow_to_return
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await asyncio.wait_for(committed.wait(), timeout=30)
        request = (await events_of(engine, sid))[-1]
        assert request.type == ev.APPROVAL_REQUESTED
        answering = asyncio.create_task(
            engine.resolve_approval(request.data["approval_id"], "allow_once")
        )
        await asyncio.sleep(0)  # the answer gets as far as it can before the writer
        release.set()
        await answering
        state = await engine.wait(sid)
    finally:
        release.set()
        await engine.close()
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    assert state.status == "done"


async def test_a_secret_printed_by_a_tool_is_not_stored(tmp_path, home, monkeypatch):
    secret = "sk-ant-api03-" + "Q" * 40
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-1234567890abcdef")
    repo = repo_with_file(tmp_path)
    script = script_running(
        tmp_path,
        f"echo key={secret}; echo env=$ANTHROPIC_API_KEY; echo token=$MY_SERVICE_TOKEN",
    )
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await engine.wait(sid)
    finally:
        await engine.close()
    stored = (repo / ".harness" / "harness.db").read_bytes()
    assert secret.encode() not in stored
    assert b"tok-1234567890abcdef" not in stored
    assert b"key=[redacted]" in stored  # the output is kept, the key is not


async def test_secrets_in_output_are_not_kept_in_artifact_files(tmp_path, home, monkeypatch):
    """Output too large for the model goes to an artifact file, inline or from a
    background task; what that file keeps is redacted like the log."""
    token = "tok-" + "Z7" * 12
    monkeypatch.setenv("MY_SERVICE_TOKEN", token)
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    stripe = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    lines = f"echo key={token}; echo pw hunter2; echo stripe {stripe}"
    # seq prints about 100 KB, past [tools] output_limit_bytes.
    inline = f"seq 1 20000; {lines}; seq 1 20000"
    background = f"sleep 1; seq 1 20000; {lines}; seq 1 20000"
    repo = repo_with_file(tmp_path)
    script = script_running(tmp_path, inline, background)
    engine = await open_engine(repo, **{"tools.inline_ms": 300})
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    saved = [e.data["path"] for e in events if e.type == ev.ARTIFACT_CREATED]
    saved += [e.data["output_path"] for e in events if e.type == ev.TASK_STARTED]
    assert len(saved) == 2
    for path in saved:
        content = Path(path).read_bytes()
        assert token.encode() not in content and stripe.encode() not in content
        assert b" hunter2" not in content
        assert b"key=[redacted]\npw [redacted]\nstripe [redacted]\n" in content
        # Everything else is kept as the command wrote it.
        numbers = "".join(f"{i}\n" for i in range(1, 20001)).encode()
        assert content.startswith(numbers) and content.endswith(numbers)
    stored = (repo / ".harness" / "harness.db").read_bytes()
    assert token.encode() not in stored and stripe.encode() not in stored


async def test_a_secret_printed_in_two_halves_by_a_task_is_not_logged_in_halves(tmp_path, home):
    """A task's output reaches the log every half second; a secret whose halves arrive
    either side of one such flush must still be redacted whole."""
    stripe = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    first, second = stripe[:14], stripe[14:]
    command = f"sleep 0.5; printf 'stripe {first}'; sleep 1.5; printf '{second}\\ndone\\n'"
    repo = repo_with_file(tmp_path)
    engine = await open_engine(repo, **{"tools.inline_ms": 300})
    try:
        script = script_running(tmp_path, command)
        sid = await engine.start_session("go", provider="scripted", model=str(script))
        await engine.wait(sid)
        events = await events_of(engine, sid)
    finally:
        await engine.close()
    logged = "".join(e.data["text"] for e in events if e.type == ev.TASK_OUTPUT)
    assert logged == "stripe [redacted]\ndone\n"


async def test_a_subagents_approval_waits_in_the_same_inbox_labelled_with_its_session(
    tmp_path, home
):
    repo = repo_with_file(tmp_path)
    child = script_running(tmp_path, PROMPTING, final="child wrote it")
    child = child.rename(tmp_path / "child.toml")
    (repo / ".harness").mkdir(exist_ok=True)
    (repo / ".harness" / "config.toml").write_text(
        f'[presets.writer]\ndescription = "writes"\ntools = ["bash"]\nprovider = "scripted"\n'
        f'model = "{child}"\nmax_steps = 5\n'
    )
    parent = write_script(
        tmp_path / "parent.toml",
        '[[turn]]\ntext = "delegating"\n[[turn.tool_calls]]\nname = "spawn_subagent"\n'
        'arguments = { prompt = "write it", preset = "writer" }\n\n[[turn]]\ntext = "done"\n',
    )
    engine = await open_engine(repo)
    try:
        sid = await engine.start_session("go", provider="scripted", model=str(parent))
        request = await next_approval(engine)
        inbox = await engine.pending_approvals()
        assert [(state.session_id, a.approval_id) for state, a in inbox] == [
            (request.session_id, request.data["approval_id"])
        ]
        child_state = inbox[0][0]
        assert child_state.parent_id == sid and child_state.preset == "writer"
        await engine.resolve_approval(request.data["approval_id"], "allow_once")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert (tmp_path / "outside.txt").read_text() == "outside\n"
    assert state.final_text == "done"
