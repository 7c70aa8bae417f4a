"""Worktree sessions through the Engine facade, against real git repositories: each
session on its own branch in its own worktree, the concurrency limits, validation with
retries, cancel, failures to set up, and listing and pruning."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine, EngineError
from harness_tui.engine.worktrees import worktree_path
from tests.support.projects import (
    commit_all,
    demo_repo,
    git,
    init_repo,
    snapshot,
    worktree_paths,
    write_script,
)


@pytest.fixture(autouse=True)
def _no_user_gitconfig(tmp_path_factory, monkeypatch):
    """A HOME without ~/.gitconfig: the commits use harness-tui's fallback identity, and
    no hook or signing setting of the developer's changes what git does here."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


def config_for(project: Path, tmp_path: Path, **flags):
    # The store lives outside the checkout, so `git status` there shows only what the
    # sessions did to it (nothing, if they kept to their worktrees).
    (tmp_path / "store").mkdir(exist_ok=True)
    flags = {
        "provider.name": "scripted",
        "store.url": f"sqlite:///{tmp_path / 'store' / 'harness.db'}",
        **flags,
    }
    return load_config(project=project, flags=flags, env={})


async def open_engine(project: Path, tmp_path: Path, **flags) -> Engine:
    return await Engine.open(config_for(project, tmp_path, **flags))


def script(tmp_path: Path, name: str, body: str) -> str:
    return str(write_script(tmp_path / f"{name}.toml", body))


def status_changes(events) -> list[dict]:
    return [e.data for e in events if e.type == ev.SESSION_STATUS]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("hello\n")
    commit_all(repo)
    return repo


def editing_script(tmp_path: Path, name: str) -> str:
    """An agent that adds a file and edits one, then says what it did."""
    return script(
        tmp_path,
        name,
        f"""
        [[turn]]
        text = "Adding my note."
        delay_ms = 30
        [[turn.tool_calls]]
        name = "write_file"
        arguments = {{ path = "notes/{name}.txt", content = "written by {name}\\n" }}

        [[turn]]
        text = "Greeting in the readme."
        delay_ms = 30
        [[turn.tool_calls]]
        name = "edit_file"
        arguments = {{ path = "README.md", old_string = "hello", new_string = "hello from {name}" }}

        [[turn]]
        text = "Added notes/{name}.txt and a greeting.\\n\\nBoth are small."
        """,
    )


async def test_five_sessions_with_a_project_limit_of_two(repo, tmp_path):
    before = snapshot(repo)
    engine = await open_engine(repo, tmp_path, **{"concurrency.per_project": 2})
    try:
        sids = [
            await engine.start_session(
                f"session {n}", model=editing_script(tmp_path, f"s{n}"), worktree=True
            )
            for n in range(5)
        ]
        states = [await engine.wait(sid) for sid in sids]
        log = await engine.store.read_all(limit=100_000)
    finally:
        await engine.close()

    assert [s.status for s in states] == ["done"] * 5, [s.last_error for s in states]

    # From the log alone: between a session's first `running` and its end, how many
    # others were in the same stretch. Never more than the limit of 2.
    spans: dict[str, list[int]] = {}
    for event in log:
        if event.type != ev.SESSION_STATUS:
            continue
        status = event.data["status"]
        if status == "running" and event.session_id not in spans:
            spans[event.session_id] = [event.position, 1 << 62]
        elif status in ev.TERMINAL_STATUSES:
            spans[event.session_id][1] = event.position
    assert set(spans) == set(sids)
    edges = sorted(
        [(start, 1) for start, _ in spans.values()] + [(end, -1) for _, end in spans.values()]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak == 2

    # The first two got slots at once; the other three queued, in order, and started
    # oldest first.
    queued = {
        e.session_id: e.data["position"]
        for e in log
        if e.type == ev.SESSION_STATUS and e.data["status"] == "queued" and e.seq == 2
    }
    assert queued == {sids[2]: 1, sids[3]: 2, sids[4]: 3}
    starts = [spans[sid][0] for sid in sids[2:]]
    assert starts == sorted(starts)

    # The checkout is exactly as it was; each branch carries its session's commit.
    assert snapshot(repo) == before
    assert worktree_paths(repo) == [str(repo)]
    for n, (sid, state) in enumerate(zip(sids, states, strict=True)):
        branch = f"harness/{sid}"
        assert state.worktree is not None and state.worktree.branch == branch
        assert state.workspace == str(worktree_path(repo, sid))
        assert git(repo, "log", "-1", "--format=%s", branch).strip() == (
            f"Added notes/s{n}.txt and a greeting."
        )
        assert f"Harness-Session: {sid}" in git(repo, "log", "-1", "--format=%B", branch)
        assert git(repo, "show", f"{branch}:notes/s{n}.txt") == f"written by s{n}\n"
        assert git(repo, "show", f"{branch}:README.md") == f"hello from s{n}\n"
        assert (state.worktree.files, state.worktree.insertions, state.worktree.deletions) == (
            2,
            2,
            1,
        )
        assert not Path(state.worktree.path).exists()


async def test_validation_fails_then_passes_after_the_agents_fix(tmp_path):
    repo = demo_repo(tmp_path / "repo")
    before = snapshot(repo)
    model = script(
        tmp_path,
        "lazy",
        """
        [[turn]]
        text = "Nothing to do here."

        [[turn]]
        text = "The check failed: mean() divides by the wrong count."
        [[turn.tool_calls]]
        name = "edit_file"
        arguments = { path = "calc.py", old_string = "return total(values) / (len(values) - 1)", new_string = "return total(values) / len(values)" }

        [[turn]]
        text = "Fixed mean() in calc.py."
        """,
    )
    engine = await open_engine(
        repo,
        tmp_path,
        **{
            "validation.commands": ["python3 -m unittest -q"],
            "validation.retry_backoff_s": 0,
        },
    )
    try:
        sid = await engine.start_session("make the tests pass", model=model, worktree=True)
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    assert state.status == "done", state.last_error
    checks = [e.data for e in events if e.type == ev.VALIDATION_COMPLETED]
    assert [(c["command"], c["kind"], c["attempt"]) for c in checks] == [
        ("python3 -m unittest -q", "failed", 1),
        ("python3 -m unittest -q", "passed", 2),
    ]
    assert checks[0]["exit_code"] != 0 and "FAILED" in checks[0]["output_tail"]
    # The failure went back to the agent as a turn of its own, with the output tail.
    auto = [e.data["text"] for e in events if e.type == ev.INPUT_RECEIVED][1:]
    assert len(auto) == 1 and auto[0].startswith("Validation `python3 -m unittest -q` failed")
    assert "test_mean" in auto[0]
    kinds = [e.type for e in events]
    assert kinds.index(ev.VALIDATION_COMPLETED) < kinds.index(ev.WORKTREE_COMMITTED)
    assert kinds[-3:] == [ev.WORKTREE_COMMITTED, ev.WORKTREE_REMOVED, ev.SESSION_STATUS]

    branch = f"harness/{sid}"
    assert git(repo, "log", "-1", "--format=%s", branch).strip() == "Fixed mean() in calc.py."
    assert "return total(values) / len(values)" in git(repo, "show", f"{branch}:calc.py")
    assert snapshot(repo) == before  # the bug is still in the checkout; the fix is on the branch


async def test_validation_that_always_fails_ends_the_session_failed(repo, tmp_path):
    model = script(tmp_path, "done", '[[turn]]\ntext = "All done."\n')
    engine = await open_engine(
        repo,
        tmp_path,
        **{
            "validation.commands": ["echo checking; false"],
            "validation.max_retries": 2,
            "validation.retry_backoff_s": 0,
        },
    )
    try:
        sid = await engine.start_session("go", model=model, worktree=True)
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()

    checks = [e.data for e in events if e.type == ev.VALIDATION_COMPLETED]
    assert [c["attempt"] for c in checks] == [1, 2, 3]  # the first try and 2 retries
    assert all(c["kind"] == "failed" and c["output_tail"] == "checking\n" for c in checks)
    auto = [e.data for e in events if e.type == ev.INPUT_RECEIVED and e.data["mode"] == "auto"]
    assert len(auto) == 2
    assert "this is the last try" in auto[-1]["text"]
    assert state.status == "failed"
    assert state.last_error == (
        "validation failed after 2 retries: `echo checking; false` exited with code 1"
    )
    assert status_changes(events)[-1] == {"status": "failed", "error": state.last_error}
    # Nothing is lost: the branch stays, the worktree goes.
    assert git(repo, "rev-parse", "--verify", f"harness/{sid}").strip()
    assert worktree_paths(repo) == [str(repo)]


async def test_a_full_queue_refuses_the_session_with_a_clear_message(repo, tmp_path):
    slow = script(tmp_path, "slow", '[[turn]]\ntext = "thinking"\ndelay_ms = 60000\n')
    engine = await open_engine(
        repo, tmp_path, **{"concurrency.per_project": 1, "concurrency.queue_cap": 1}
    )
    try:
        first = await engine.start_session("one", model=slow, worktree=True)
        second = await engine.start_session("two", model=slow, worktree=True)
        with pytest.raises(EngineError, match=r"worktree queue is full.*queue_cap = 1"):
            await engine.start_session("three", model=slow, worktree=True)
        assert engine.state(second).status == "queued"
        assert engine.state(second).queue_position == 1

        # Cancelling the queued one withdraws it; it never gets a worktree.
        await engine.cancel(second)
        queued = engine.state(second)
        assert queued.status == "cancelled" and not queued.worktree.created
        # Cancelling the running one commits what it did and removes its worktree.
        await engine.cancel(first)
        running = engine.state(first)
        assert running.status == "cancelled"
        assert running.worktree.created and running.worktree.removed
    finally:
        await engine.close()
    assert worktree_paths(repo) == [str(repo)]
    assert not git(repo, "branch", "--list", f"harness/{second}").strip()


async def test_cancel_commits_partial_work_on_the_branch(repo, tmp_path):
    model = script(
        tmp_path,
        "partial",
        """
        [[turn]]
        text = "Writing a draft."
        [[turn.tool_calls]]
        name = "write_file"
        arguments = { path = "draft.txt", content = "half done\\n" }

        [[turn]]
        text = "Thinking hard."
        delay_ms = 60000
        """,
    )
    engine = await open_engine(repo, tmp_path)
    try:
        sid = await engine.start_session("draft it", model=model, worktree=True)
        async for event in engine.subscribe():
            if event.session_id == sid and event.type == ev.TOOL_COMPLETED:
                break
        await engine.cancel(sid)
        state = engine.state(sid)
        events = await engine.store.read(sid)
    finally:
        await engine.close()
    assert state.status == "cancelled"
    removed = next(e.data for e in events if e.type == ev.WORKTREE_REMOVED)
    assert removed["reason"] == "cancelled" and removed["files"] == 1
    branch = f"harness/{sid}"
    assert git(repo, "show", f"{branch}:draft.txt") == "half done\n"
    assert git(repo, "log", "-1", "--format=%s", branch).startswith("WIP (cancelled): draft it")
    assert worktree_paths(repo) == [str(repo)]


async def test_a_missing_base_branch_fails_the_session_with_one_line(repo, tmp_path):
    model = script(tmp_path, "done", '[[turn]]\ntext = "All done."\n')
    engine = await open_engine(repo, tmp_path, **{"git.base_branch": "no-such-branch"})
    try:
        sid = await engine.start_session("go", model=model, worktree=True)
        state = await engine.wait(sid)
        events = await engine.store.read(sid)
        # It ended: no more input for it.
        with pytest.raises(EngineError, match="has ended"):
            await engine.send(sid, "again")
    finally:
        await engine.close()
    assert state.status == "failed"
    assert state.last_error == f"base ref 'no-such-branch' not found in {repo}"
    assert ev.TURN_STARTED not in [e.type for e in events]
    assert worktree_paths(repo) == [str(repo)]


async def test_a_path_collision_fails_the_session(repo, tmp_path):
    # A queued session's id is known before its worktree is made: occupy its folder.
    slow = script(tmp_path, "slow", '[[turn]]\ntext = "thinking"\ndelay_ms = 60000\n')
    done = script(tmp_path, "done", '[[turn]]\ntext = "All done."\n')
    engine = await open_engine(repo, tmp_path, **{"concurrency.per_project": 1})
    try:
        first = await engine.start_session("one", model=slow, worktree=True)
        sid = await engine.start_session("two", model=done, worktree=True)
        occupied = worktree_path(repo, sid)
        occupied.mkdir(parents=True)
        (occupied / "someone-elses.txt").write_text("mine\n")
        await engine.cancel(first)
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert state.status == "failed"
    assert state.last_error == (
        f"path collision: {occupied} already exists and is not a worktree of {repo}"
    )
    assert (occupied / "someone-elses.txt").read_text() == "mine\n"
    assert not git(repo, "branch", "--list", f"harness/{sid}").strip()


async def test_not_a_git_repository_is_refused_before_the_session_exists(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    engine = await open_engine(project, tmp_path)
    try:
        with pytest.raises(EngineError, match="needs a git repository"):
            await engine.start_session("go", model="echo", worktree=True)
        assert await engine.sessions() == []
    finally:
        await engine.close()


async def test_config_worktree_true_is_the_default_and_the_prefix_applies(repo, tmp_path):
    model = script(tmp_path, "done", '[[turn]]\ntext = "All done."\n')
    engine = await open_engine(
        repo, tmp_path, **{"git.worktree": True, "git.branch_prefix": "agent/"}
    )
    try:
        sid = await engine.start_session("go", model=model)
        plain = await engine.start_session("go", model=model, worktree=False)
        state = await engine.wait(sid)
        plain_state = await engine.wait(plain)
    finally:
        await engine.close()
    assert state.worktree is not None and state.worktree.branch == f"agent/{sid}"
    assert plain_state.worktree is None and plain_state.workspace == str(repo.resolve())


async def test_cleanup_false_keeps_the_worktree_until_pruned(repo, tmp_path):
    model = editing_script(tmp_path, "kept")
    engine = await open_engine(repo, tmp_path, **{"git.cleanup": False})
    try:
        sid = await engine.start_session("go", model=model, worktree=True)
        state = await engine.wait(sid)
        records = await engine.worktree_records()
    finally:
        await engine.close()
    path = worktree_path(repo, sid)
    assert state.status == "done" and state.worktree.committed and not state.worktree.removed
    assert (path / "notes" / "kept.txt").exists()
    assert str(path) in worktree_paths(repo)
    [record] = records
    assert (record.session_id, record.branch, record.status, record.worktree) == (
        sid,
        f"harness/{sid}",
        "done",
        "present",
    )
    assert (record.files, record.insertions, record.deletions) == (2, 2, 1)

    # A stray worktree no session accounts for, and a change left in the kept one.
    stray = worktree_path(repo, "0ddba11")
    git(repo, "worktree", "add", "-q", "-b", "harness/0ddba11", str(stray))
    (path / "after.txt").write_text("changed after the end\n")

    engine = await open_engine(repo, tmp_path, **{"git.cleanup": False})
    try:
        listed = {r.session_id: r.worktree for r in await engine.worktree_records()}
        pruned = await engine.prune_worktrees()
        after = await engine.worktree_records()
    finally:
        await engine.close()
    assert listed == {sid: "present", "0ddba11": "unknown"}
    assert {r.session_id for r in pruned} == {sid, "0ddba11"}
    assert [r.worktree for r in after] == ["removed"]
    assert worktree_paths(repo) == [str(repo)]
    # What was left in the kept worktree was committed before it went.
    assert git(repo, "show", f"harness/{sid}:after.txt") == "changed after the end\n"


async def test_the_log_says_queued_with_positions_that_move_up(repo, tmp_path):
    slow = script(tmp_path, "slow", '[[turn]]\ntext = "thinking"\ndelay_ms = 60000\n')
    engine = await open_engine(repo, tmp_path, **{"concurrency.per_project": 1})
    try:
        first = await engine.start_session("one", model=slow, worktree=True)
        second = await engine.start_session("two", model=slow, worktree=True)
        third = await engine.start_session("three", model=slow, worktree=True)
        await engine.cancel(first)
        # The second got the slot; the third moved up to the front of the queue.
        async for event in engine.subscribe():
            if event.session_id == third and event.data.get("position") == 1:
                break
        positions = [d.get("position") for d in status_changes(await engine.store.read(third))]
        assert positions == [2, 1]
        assert engine.state(second).status == "running"
    finally:
        await engine.close()
    for sid in (second, third):
        assert engine.state(sid).status == "cancelled"
    assert worktree_paths(repo) == [str(repo)]


async def test_max_steps_pauses_it_and_a_follow_up_finishes_it_in_the_same_worktree(repo, tmp_path):
    model = script(
        tmp_path,
        "two-steps",
        """
        [[turn]]
        text = "Writing."
        [[turn.tool_calls]]
        name = "write_file"
        arguments = { path = "a.txt", content = "a\\n" }

        [[turn]]
        text = "Wrote a.txt."
        """,
    )
    done = script(tmp_path, "done", '[[turn]]\ntext = "All done."\n')
    engine = await open_engine(
        repo, tmp_path, **{"engine.max_steps": 1, "concurrency.per_project": 1}
    )
    try:
        sid = await engine.start_session("write a", model=model, worktree=True)
        paused = await engine.wait(sid)
        assert (paused.status, paused.last_turn_reason) == ("idle", "max_steps")
        assert (worktree_path(repo, sid) / "a.txt").read_text() == "a\n"
        # A paused session gives its slot back: the next one starts at once.
        other = await engine.start_session("other", model=done, worktree=True)
        assert engine.state(other).status == "running"
        assert (await engine.wait(other)).status == "done"

        await engine.send(sid, "go on")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert state.status == "done" and state.worktree.removed
    assert git(repo, "log", "-1", "--format=%s", f"harness/{sid}").strip() == "Wrote a.txt."
    assert git(repo, "show", f"harness/{sid}:a.txt") == "a\n"
    assert worktree_paths(repo) == [str(repo)]


async def test_a_paused_sessions_worktree_deleted_by_hand_ends_it_failed(repo, tmp_path):
    model = script(
        tmp_path,
        "one-step",
        '[[turn]]\ntext = "Writing."\n[[turn.tool_calls]]\nname = "write_file"\n'
        'arguments = { path = "a.txt", content = "a\\n" }\n',
    )
    engine = await open_engine(repo, tmp_path, **{"engine.max_steps": 1})
    try:
        sid = await engine.start_session("write a", model=model, worktree=True)
        assert (await engine.wait(sid)).status == "idle"
        shutil.rmtree(worktree_path(repo, sid))
        await engine.send(sid, "go on")
        state = await engine.wait(sid)
    finally:
        await engine.close()
    assert state.status == "failed"
    assert state.last_error.startswith(f"the session's worktree {worktree_path(repo, sid)} is gone")
    assert state.worktree.removed
    assert worktree_paths(repo) == [str(repo)]  # git forgot it too
