"""Admission of worktree sessions: limits, start order, the queue cap and withdrawal,
driven by real asyncio tasks that hold their slot until told to finish."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness_tui.config import load_config
from harness_tui.engine.scheduler import QueueFull, WorktreeScheduler, project_key


class Sessions:
    """Tasks standing in for sessions: each waits for its slot, records that it started,
    runs until finished, then releases. Tracks how many hold a slot at once per project."""

    def __init__(self, scheduler: WorktreeScheduler) -> None:
        self.scheduler = scheduler
        self.started: asyncio.Queue[str] = asyncio.Queue()
        self.order: list[str] = []
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._finish: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, session_id: str, project: str, priority: int | None = None) -> None:
        ticket = self.scheduler.submit(session_id, project, priority)
        self._finish[session_id] = asyncio.Event()
        self.tasks[session_id] = asyncio.create_task(self._run(ticket, project))

    async def _run(self, ticket, project: str) -> None:
        await ticket.wait()
        self.active[project] = self.active.get(project, 0) + 1
        self.peak[project] = max(self.peak.get(project, 0), self.active[project])
        self.order.append(ticket.session_id)
        self.started.put_nowait(ticket.session_id)
        try:
            await self._finish[ticket.session_id].wait()
        finally:
            self.active[project] -= 1
            self.scheduler.release(ticket.session_id)

    async def next_start(self) -> str:
        return await self.started.get()

    async def finish(self, session_id: str) -> None:
        self._finish[session_id].set()
        await self.tasks[session_id]


def scheduler(**limits) -> WorktreeScheduler:
    limits = {"global_limit": 4, "per_project": 2, "queue_cap": 50} | limits
    return WorktreeScheduler(**limits)


async def test_five_sessions_of_one_project_start_two_at_a_time_by_priority_then_age(tmp_path):
    project = str(tmp_path)
    sessions = Sessions(scheduler(per_project=2))
    for session_id, priority in [("s1", 0), ("s2", 1), ("s3", 0), ("s4", 2), ("s5", 1)]:
        sessions.start(session_id, project, priority)

    # The first two found free slots; the rest wait, highest priority first.
    assert [await sessions.next_start() for _ in range(2)] == ["s1", "s2"]
    assert sessions.scheduler.positions() == {"s4": 1, "s5": 2, "s3": 3}
    assert sessions.scheduler.position("s1") is None

    for done in ["s1", "s2", "s4", "s5", "s3"]:
        await sessions.finish(done)
        if len(sessions.order) < 5:
            await sessions.next_start()

    assert sessions.order == ["s1", "s2", "s4", "s5", "s3"]
    assert sessions.peak[project] == 2
    assert sessions.scheduler.running() == []


async def test_within_a_priority_the_oldest_starts_first(tmp_path):
    project = str(tmp_path)
    sessions = Sessions(scheduler(per_project=1))
    for session_id in ["a", "b", "c", "d"]:
        sessions.start(session_id, project, 3)
    assert await sessions.next_start() == "a"
    for done, following in [("a", "b"), ("b", "c"), ("c", "d")]:
        await sessions.finish(done)
        assert await sessions.next_start() == following


async def test_a_full_project_does_not_hold_up_other_projects(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    sessions = Sessions(scheduler(global_limit=3, per_project=2))
    for session_id, project in [("a1", a), ("a2", a), ("a3", a), ("b1", b), ("b2", b)]:
        sessions.start(session_id, project)

    # a3 waits for its project; b1 goes past it; then the global limit of 3 is reached.
    assert {await sessions.next_start() for _ in range(3)} == {"a1", "a2", "b1"}
    assert sessions.scheduler.positions() == {"a3": 1, "b2": 2}

    await sessions.finish("a1")
    assert await sessions.next_start() == "a3"
    await sessions.finish("b1")
    assert await sessions.next_start() == "b2"
    assert sessions.peak == {a: 2, b: 1}


async def test_projects_section_sets_limits_and_priorities(tmp_path):
    busy, urgent = tmp_path / "busy", tmp_path / "urgent"
    (busy / ".harness").mkdir(parents=True)
    urgent.mkdir()
    (busy / ".harness" / "config.toml").write_text(
        "[concurrency]\nmax_worktree_sessions = 1\n\n"
        f'[[projects]]\npath = "{busy}"\nmax_concurrent = 1\n\n'
        f'[[projects]]\npath = "{urgent}/"\npriority = 5\n'
    )
    config = load_config(project=busy, env={})
    sched = WorktreeScheduler.from_config(config)
    assert sched.limit_for(busy) == 1
    assert sched.limit_for(urgent) == config.concurrency.per_project

    sessions = Sessions(sched)
    sessions.start("first", str(busy))
    sessions.start("later", str(busy))
    sessions.start("urgent", str(urgent))  # no priority given: the project's 5 applies
    assert await sessions.next_start() == "first"
    assert sched.positions() == {"urgent": 1, "later": 2}
    await sessions.finish("first")
    assert await sessions.next_start() == "urgent"


async def test_the_queue_cap_refuses_with_a_clear_message(tmp_path):
    project = str(tmp_path)
    sessions = Sessions(scheduler(global_limit=1, queue_cap=2))
    for session_id in ["s1", "s2", "s3"]:
        sessions.start(session_id, project)
    assert await sessions.next_start() == "s1"

    with pytest.raises(QueueFull) as caught:
        sessions.scheduler.submit("s4", project)
    assert "2 sessions are already waiting" in str(caught.value)
    assert "concurrency.queue_cap = 2" in str(caught.value)
    assert sessions.scheduler.positions() == {"s2": 1, "s3": 2}

    # Once one starts there is room again.
    await sessions.finish("s1")
    assert await sessions.next_start() == "s2"
    sessions.start("s4", project)
    assert sessions.scheduler.positions() == {"s3": 1, "s4": 2}


async def test_with_no_queue_a_session_starts_or_is_refused(tmp_path):
    sched = scheduler(global_limit=1, queue_cap=0)
    ticket = sched.submit("s1", tmp_path)
    assert ticket.granted
    await ticket.wait()
    with pytest.raises(QueueFull):
        sched.submit("s2", tmp_path)


async def test_a_cancelled_waiter_leaves_the_queue(tmp_path):
    project = str(tmp_path)
    sessions = Sessions(scheduler(global_limit=1))
    for session_id in ["s1", "s2", "s3"]:
        sessions.start(session_id, project)
    assert await sessions.next_start() == "s1"

    sessions.tasks["s2"].cancel()
    with pytest.raises(asyncio.CancelledError):
        await sessions.tasks["s2"]

    assert sessions.scheduler.positions() == {"s3": 1}
    await sessions.finish("s1")
    assert await sessions.next_start() == "s3"
    assert "s2" not in sessions.order


async def test_a_waiter_cancelled_just_as_its_slot_came_gives_the_slot_back(tmp_path):
    project = str(tmp_path)
    sched = scheduler(global_limit=1)
    sched.submit("holder", project)
    waiting = sched.submit("unlucky", project)
    behind = sched.submit("next", project)
    task = asyncio.create_task(waiting.wait())
    await asyncio.sleep(0)  # the task is now awaiting its slot

    sched.release("holder")  # grants "unlucky", whose task has not resumed yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert behind.granted
    assert sched.running() == ["next"]


async def test_release_withdraws_a_waiting_ticket(tmp_path):
    sched = scheduler(global_limit=1)
    sched.submit("s1", tmp_path)
    ticket = sched.submit("s2", tmp_path)
    assert ticket.position == 1

    sched.release("s2")

    assert ticket.position is None
    assert not ticket.granted
    with pytest.raises(asyncio.CancelledError):
        await ticket.wait()
    sched.release("s2")  # unknown by now: ignored


async def test_a_session_has_one_ticket_at_a_time(tmp_path):
    sched = scheduler()
    sched.submit("s1", tmp_path)
    with pytest.raises(ValueError, match="already has a worktree ticket"):
        sched.submit("s1", tmp_path)
    sched.release("s1")
    assert sched.submit("s1", tmp_path).granted


def test_project_keys_are_one_spelling_per_folder(tmp_path):
    assert project_key(f"{tmp_path}/") == project_key(tmp_path / "x" / "..") == str(tmp_path)
    assert project_key(Path("~")) == str(Path.home().resolve())
