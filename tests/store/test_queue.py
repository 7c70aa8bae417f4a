"""The queue of submitted sessions, on SQLite and on PostgreSQL: claimed in priority
order then age, never by two workers, within the limits counted in the store, and an
orphan (its lease run out or given up) adopted before anything new starts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness_tui.store import EventStore, LeaseHolder, open_store, sqlite_url
from harness_tui.store.queue import CLAIMED, DONE, QUEUED, Claim, QueuedSession, QueueLimits
from tests.store.conftest import postgres_store_url
from tests.support.waiting import wait_for

__all__ = ["postgres_store_url"]

A = LeaseHolder("worker-a", "host-a", 101, "1")
B = LeaseHolder("worker-b", "host-b", 202, "2")
NO_LIMITS = QueueLimits()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_store_url")
        return url
    return sqlite_url(tmp_path / "harness.db")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    store = await open_store(store_url)
    try:
        yield store
    finally:
        await store.close()


def entry(session_id: str, project: str = "/p", priority: int = 0) -> QueuedSession:
    return QueuedSession(session_id, f"prompt {session_id}", project, priority, submitted_by="u@h")


async def claimed_ids(store: EventStore, holder: LeaseHolder, limits: QueueLimits) -> list[str]:
    ids = []
    while (claim := await store.claim_queued(holder, 30, limits)) is not None:
        ids.append(claim.session.session_id)
    return ids


async def test_sessions_are_claimed_by_priority_then_age(store: EventStore) -> None:
    for session_id, priority in [("s1", 0), ("s2", 5), ("s3", 0), ("s4", 5)]:
        await store.enqueue(entry(session_id, priority=priority))

    assert await claimed_ids(store, A, NO_LIMITS) == ["s2", "s4", "s1", "s3"]
    states = {q.session_id: (q.state, q.worker) for q in await store.queued_sessions()}
    assert states == {s: (CLAIMED, "worker-a") for s in ("s1", "s2", "s3", "s4")}
    leases = await store.leases()
    assert {s: lease.owner for s, lease in leases.items()} == {
        s: "worker-a" for s in ("s1", "s2", "s3", "s4")
    }


async def test_the_limits_hold_and_a_finished_session_frees_its_slot(store: EventStore) -> None:
    for i in range(3):
        await store.enqueue(entry(f"a{i}", project="/a"))
    await store.enqueue(entry("b0", project="/b"))
    limits = QueueLimits(total=3, per_project=2, projects={"/b": 1})

    # /a is held to 2; /b's session behind it is not held up; then the total is reached.
    assert await claimed_ids(store, A, limits) == ["a0", "a1", "b0"]
    assert await store.finish_queued("a0", "worker-b") is False  # not B's to finish
    assert await store.finish_queued("a0", "worker-a") is True
    assert await claimed_ids(store, B, limits) == ["a2"]
    states = {q.session_id: q.state for q in await store.queued_sessions()}
    assert states == {"a0": DONE, "a1": CLAIMED, "a2": CLAIMED, "b0": CLAIMED}
    assert [q.session_id for q in await store.queued_sessions((QUEUED,))] == []


async def test_an_orphan_is_adopted_before_anything_new_starts(store: EventStore) -> None:
    await store.enqueue(entry("first"))
    await store.enqueue(entry("second", priority=9))
    taken = await store.claim_queued(A, 0.5, QueueLimits(total=1))
    assert taken is not None and taken.session.session_id == "second" and not taken.adopted
    # B finds the one slot held while A's lease lives.
    assert await store.claim_queued(B, 30, QueueLimits(total=1)) is None
    claims: list[Claim] = []

    async def adopt() -> bool:
        claim = await store.claim_queued(B, 30, QueueLimits(total=1))
        if claim is not None:
            claims.append(claim)
        return bool(claims)

    await wait_for(adopt, message="B adopts the session once A's lease ran out")
    adopted = claims[0]
    assert (adopted.session.session_id, adopted.adopted) == ("second", True)
    assert adopted.lease.token > taken.lease.token
    # A lease given up (a worker handing its session back) is adopted at once.
    await store.release_lease(adopted.lease.fence)
    again = await store.claim_queued(A, 30, QueueLimits(total=1))
    assert again is not None and (again.session.session_id, again.adopted) == ("second", True)


async def test_two_stores_claiming_at_once_never_claim_the_same_session(
    store_url: str,
) -> None:
    stores = [await open_store(store_url) for _ in range(2)]
    try:
        for i in range(20):
            await stores[0].enqueue(entry(f"s{i:02}", project=f"/p{i % 3}"))
        limits = QueueLimits(total=12, per_project=4)
        got = await asyncio.gather(
            claimed_ids(stores[0], A, limits), claimed_ids(stores[1], B, limits)
        )
    finally:
        for store in stores:
            await store.close()

    everything = got[0] + got[1]
    assert len(everything) == len(set(everything)) == 12
    per_project: dict[str, int] = {}
    for session_id in everything:
        project = f"/p{int(session_id[1:]) % 3}"
        per_project[project] = per_project.get(project, 0) + 1
    assert per_project == {"/p0": 4, "/p1": 4, "/p2": 4}
