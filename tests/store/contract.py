"""The EventStore contract, written once and run against every backend.

A backend's test module subclasses `StoreContract` and provides these fixtures:

- `store_url`: the URL of a fresh, empty database for this test;
- `broken_store`: (url, fragments) of a database that cannot be used, and the words
  the StoreError must contain so the user knows which file or server is at fault;
- `backend`: the backend class, for options open_store does not take (poll_interval).
- `rewind_to_version_2`: an async callable that takes a store's URL and puts its
  schema back to version 2 (the summaries' counters gone), as a store made by an
  older harness-tui is.

Guards such as `asyncio.timeout(WAIT)` only stop a broken store from hanging the
suite; no test asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness_tui.events import (
    APPROVAL_REQUESTED,
    APPROVAL_RESOLVED,
    MODEL_COMPLETED,
    SANDBOX_DISABLED,
    SANDBOX_UNAVAILABLE,
    SESSION_CREATED,
    SESSION_STATUS,
    TASK_CANCELLED,
    TASK_COMPLETED,
    TASK_OUTPUT,
    TASK_STARTED,
    TURN_COMPLETED,
    TURN_STARTED,
    Event,
)
from harness_tui.store import (
    DuplicateEventError,
    EventStore,
    SessionCounts,
    StoreError,
    UnknownSessionError,
    open_store,
)
from tests.support.waiting import wait_for

APPEND_PROC = Path(__file__).with_name("append_proc.py")

# Generous: the suite shares small machines with other work.
WAIT = 60

# Subscribers in these tests can only be woken by the store's own signal (a local
# commit, or NOTIFY on PostgreSQL), never by the poll.
NEVER_POLL = 3600.0


def output(session_id: str, seq: int, text: str = "") -> Event:
    return Event(session_id, seq, TASK_OUTPUT, {"task_id": "t1", "text": text or f"line {seq}"})


async def run_append_proc(url: str, session_id: str, count: int, *options: str) -> list[int]:
    """Run tests/store/append_proc.py to completion; the positions it reported."""
    proc = await start_append_proc(url, session_id, count, *options)
    async with asyncio.timeout(WAIT):
        stdout, stderr = await proc.communicate()
    if "--kill" not in options:
        assert proc.returncode == 0, stderr.decode()
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def start_append_proc(
    url: str, session_id: str, count: int, *options: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(APPEND_PROC),
        url,
        session_id,
        str(count),
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def last_positions(store: EventStore) -> dict[str, int]:
    """What a retention decision saw: each session's last position."""
    return {s.session_id: s.last_position for s in await store.sessions()}


async def take(stream: AsyncIterator[Event], count: int) -> list[Event]:
    events = []
    async with asyncio.timeout(WAIT):
        while len(events) < count:
            events.append(await anext(stream))
    return events


class StoreContract:
    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[EventStore]:
        store = await open_store(store_url)
        yield store
        await store.close()

    # --- order and reading -----------------------------------------------------------

    async def test_positions_give_one_global_order(self, store: EventStore) -> None:
        first = await store.append([output("a", 1), output("a", 2)])
        second = await store.append([output("b", 1)])
        third = await store.append([output("a", 3), output("b", 2), output("c", 1)])

        returned = first + second + third
        assert returned == sorted(returned)
        assert len(set(returned)) == len(returned)
        everything = await store.read_all()
        assert [e.position for e in everything] == returned
        assert [(e.session_id, e.seq) for e in everything] == [
            ("a", 1),
            ("a", 2),
            ("b", 1),
            ("a", 3),
            ("b", 2),
            ("c", 1),
        ]
        assert await store.last_position() == returned[-1]

    async def test_deleting_sessions_for_retention(self, store: EventStore) -> None:
        await store.append([output("old", 1), output("old", 2), output("new", 1)])
        seen = await last_positions(store)

        removed = await store.delete_sessions({"old": seen["old"], "never-there": 7})

        assert removed == ["old"]
        assert await store.read("old") == []
        assert [e.session_id for e in await store.read_all()] == ["new"]
        assert [s.session_id for s in await store.sessions()] == ["new"]
        # The log goes on after the gap: positions never go back.
        last = await store.last_position()
        assert (await store.append([output("new", 2)]))[0] > last

    # --- retention decides and deletes at once ------------------------------------------

    async def test_retention_keeps_a_session_touched_after_its_decision(
        self, store: EventStore
    ) -> None:
        await store.append([output("old", 1), output("old", 2)])
        seen = await last_positions(store)
        # A continuation lands between the decision and the delete.
        await store.append([output("old", 3)])

        assert await store.delete_sessions(seen) == []

        assert [e.seq for e in await store.read("old")] == [1, 2, 3]
        assert (await store.session("old")).last_seq == 3

    async def test_retention_keeps_a_session_that_is_live_again(self, store: EventStore) -> None:
        await store.append([Event("s", 1, SESSION_STATUS, {"status": "running"})])
        seen = await last_positions(store)

        assert await store.delete_sessions(seen, unless_status={"running", "waiting"}) == []
        assert [e.seq for e in await store.read("s")] == [1]
        assert await store.delete_sessions(seen, unless_status={"waiting"}) == ["s"]

    async def test_retention_keeps_a_subagent_whose_parent_stays(self, store: EventStore) -> None:
        created = {"title": "child", "parent_id": "parent"}
        await store.append([output("parent", 1), output("lone", 1)])
        await store.append([Event("child", 1, SESSION_CREATED, created)])
        await store.append([Event("grandchild", 1, SESSION_CREATED, {"parent_id": "child"})])
        seen = await last_positions(store)
        await store.append([output("parent", 2)])

        # The parent was continued: its subagents stay with it.
        assert await store.delete_sessions(seen) == ["lone"]
        assert {s.session_id for s in await store.sessions()} == {"parent", "child", "grandchild"}
        # Once the parent goes too, they go with it.
        assert sorted(await store.delete_sessions(await last_positions(store))) == [
            "child",
            "grandchild",
            "parent",
        ]
        assert await store.read_all() == []

    async def test_an_append_to_a_deleted_session_is_refused(self, store: EventStore) -> None:
        await store.append([output("gone", 1), output("gone", 2)])
        await store.delete_sessions(await last_positions(store))

        late, other = await asyncio.gather(
            store.append([output("gone", 3), output("gone", 4)]),
            store.append([output("other", 1)]),
            return_exceptions=True,
        )

        assert isinstance(late, UnknownSessionError)
        assert "gone" in str(late)
        assert isinstance(other, list)
        assert [e.session_id for e in await store.read_all()] == ["other"]
        assert await store.session("gone") is None
        # A session that starts at seq 1 is new, whatever its id was used for before.
        await store.append([output("gone", 1)])
        assert [e.seq for e in await store.read("gone")] == [1]

    async def test_an_append_can_start_a_session_and_go_on_in_one_batch(
        self, store: EventStore
    ) -> None:
        appends = [
            store.append([output("fresh", 1)]),
            store.append([output("fresh", 2)]),
            store.append([output("never", 5)]),
        ]

        first, second, orphan = await asyncio.gather(*appends, return_exceptions=True)

        assert isinstance(first, list) and isinstance(second, list)
        assert isinstance(orphan, UnknownSessionError)
        assert [e.seq for e in await store.read("fresh")] == [1, 2]
        assert await store.read("never") == []

    async def test_retention_racing_appends_from_another_connection(
        self, store: EventStore, store_url: str
    ) -> None:
        """Two store objects, as two processes: the delete and a continuation either
        way round, never a session deleted after it was touched, nor an orphan tail."""
        other = await open_store(store_url)
        try:
            for n in range(40):
                sid = f"s{n}"
                await store.append([output(sid, 1), output(sid, 2)])
                seen = {sid: (await store.session(sid)).last_position}
                removed, appended = await asyncio.gather(
                    store.delete_sessions(seen),
                    other.append([output(sid, 3)]),
                    return_exceptions=True,
                )
                left = [e.seq for e in await store.read(sid)]
                if removed == [sid]:
                    assert isinstance(appended, UnknownSessionError), (n, appended)
                    assert left == []
                else:
                    assert removed == [] and isinstance(appended, list), (n, removed, appended)
                    assert left == [1, 2, 3]
        finally:
            await other.close()

    async def test_empty_store(self, store: EventStore) -> None:
        assert await store.last_position() == 0
        assert await store.read_all() == []
        assert await store.read("nobody") == []
        assert await store.sessions() == []
        assert await store.session("nobody") is None
        assert await store.session_counts() == SessionCounts(0, 0, 0, 0, 0.0, 0)
        assert await store.append([]) == []

    async def test_read_gives_one_session_in_seq_order(self, store: EventStore) -> None:
        for seq in range(1, 6):
            await store.append([output("a", seq), output("b", seq)])

        assert [e.seq for e in await store.read("a")] == [1, 2, 3, 4, 5]
        assert [e.seq for e in await store.read("a", after_seq=3)] == [4, 5]
        assert {e.session_id for e in await store.read("b")} == {"b"}

    async def test_read_all_pages_by_position(self, store: EventStore) -> None:
        positions = await store.append([output("a", seq) for seq in range(1, 11)])

        page = await store.read_all(after_position=positions[2], limit=4)
        assert [e.position for e in page] == positions[3:7]
        assert await store.read_all(after_position=positions[-1]) == []

    async def test_read_before_pages_a_session_back_from_a_seq(self, store: EventStore) -> None:
        for seq in range(1, 11):
            await store.append([output("a", seq), output("b", seq)])

        page = await store.read_before("a", before_seq=8, limit=3)
        assert [(e.session_id, e.seq) for e in page] == [("a", 5), ("a", 6), ("a", 7)]
        assert [e.seq for e in await store.read_before("a", before_seq=3, limit=10)] == [1, 2]
        assert await store.read_before("a", before_seq=1, limit=10) == []
        # Past the newest event: the newest page.
        assert [e.seq for e in await store.read_before("a", 1 << 62, 2)] == [9, 10]
        assert await store.read_before("nobody", 10, 10) == []

    async def test_read_all_before_pages_the_log_back_from_a_position(
        self, store: EventStore
    ) -> None:
        positions = await store.append([output("a", seq) for seq in range(1, 11)])

        page = await store.read_all_before(before_position=positions[7], limit=4)
        assert [e.position for e in page] == positions[3:7]
        assert [e.position for e in await store.read_all_before(positions[2], 10)] == (
            positions[:2]
        )
        assert await store.read_all_before(positions[0], 10) == []
        newest = await store.read_all_before(positions[-1] + 1, 3)
        assert [e.seq for e in newest] == [8, 9, 10]

    async def test_events_come_back_as_they_went_in(self, store: EventStore) -> None:
        ts = datetime(2031, 5, 17, 8, 9, 10, 123456, tzinfo=UTC)
        data = {
            "text": 'naïve café — 日本語 "quoted" \\ back\nslash',
            "nested": {"list": [1, 2.5, None, True], "empty": {}},
            "big": 2**53 + 1,
        }
        [position] = await store.append([Event("s", 1, TASK_OUTPUT, data, ts)])

        [event] = await store.read("s")
        assert event == Event("s", 1, TASK_OUTPUT, data, ts, position)
        assert (await store.read_all())[0] == event

    async def test_timestamps_in_other_zones_are_stored_as_utc(self, store: EventStore) -> None:
        local = datetime(2030, 1, 1, 17, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        await store.append([Event("s", 1, TASK_OUTPUT, {}, local)])

        [event] = await store.read("s")
        assert event.ts == local
        assert event.ts.utcoffset() == timedelta(0)

    # --- duplicates and atomicity ----------------------------------------------------

    async def test_duplicate_fails_only_its_own_append(self, store: EventStore) -> None:
        await store.append([output("a", 1, "original")])

        duplicate, other = await asyncio.gather(
            store.append([output("a", 1, "impostor")]),
            store.append([output("b", 1)]),
            return_exceptions=True,
        )

        assert isinstance(duplicate, DuplicateEventError)
        assert "a" in str(duplicate) and "1" in str(duplicate)
        assert isinstance(other, list) and len(other) == 1
        assert [e.data["text"] for e in await store.read("a")] == ["original"]
        assert [e.position for e in await store.read("b")] == other

    async def test_an_append_is_all_or_nothing(self, store: EventStore) -> None:
        await store.append([output("a", 1)])

        with pytest.raises(DuplicateEventError):
            await store.append([output("a", 2), output("a", 3), output("a", 1)])

        assert [e.seq for e in await store.read("a")] == [1]
        assert (await store.session("a")).last_seq == 1
        # The session goes on from where it really is.
        await store.append([output("a", 2)])
        assert [e.seq for e in await store.read("a")] == [1, 2]

    async def test_duplicate_inside_one_append_is_rejected(self, store: EventStore) -> None:
        with pytest.raises(DuplicateEventError):
            await store.append([output("a", 1), output("a", 1)])

        assert await store.read("a") == []

    async def test_many_duplicates_among_many_appends(self, store: EventStore) -> None:
        await store.append([output(f"s{n}", 1) for n in range(20)])

        results = await asyncio.gather(
            *(store.append([output(f"s{n}", 1 if n % 2 else 2)]) for n in range(20)),
            return_exceptions=True,
        )

        for n, result in enumerate(results):
            if n % 2:
                assert isinstance(result, DuplicateEventError)
            else:
                assert isinstance(result, list)
        assert len(await store.read_all()) == 30

    async def test_unstorable_data_is_refused_before_anything_is_written(
        self, store: EventStore
    ) -> None:
        with pytest.raises(StoreError):
            await store.append([Event("a", 1, TASK_OUTPUT, {"when": object()})])

        assert await store.read_all() == []

    async def test_an_unstorable_value_fails_only_its_own_append(self, store: EventStore) -> None:
        too_big, other = await asyncio.gather(
            store.append([output("a", 1), output("a", 2**70)]),
            store.append([output("b", 1)]),
            return_exceptions=True,
        )

        assert isinstance(too_big, StoreError)
        assert not isinstance(too_big, DuplicateEventError)
        assert isinstance(other, list)
        assert [e.session_id for e in await store.read_all()] == ["b"]

    # --- concurrency -----------------------------------------------------------------

    async def test_hundred_concurrent_writers_lose_nothing(self, store: EventStore) -> None:
        per_task = 20

        async def session(n: int) -> list[int]:
            positions = []
            for seq in range(1, per_task + 1):
                positions += await store.append([output(f"session-{n:03d}", seq)])
            return positions

        returned = await asyncio.gather(*(session(n) for n in range(100)))

        everything = await store.read_all(limit=100 * per_task + 1)
        assert len(everything) == 100 * per_task
        assert [e.position for e in everything] == sorted(p for ps in returned for p in ps)
        for n, positions in enumerate(returned):
            events = await store.read(f"session-{n:03d}")
            assert [e.seq for e in events] == list(range(1, per_task + 1))
            # A session's events are in the global order in the order it wrote them.
            assert [e.position for e in events] == positions == sorted(positions)
        assert len(await store.sessions()) == 100

    async def test_concurrent_multi_event_appends_stay_together(self, store: EventStore) -> None:
        calls = [[output(f"s{n}", seq) for seq in range(1, 6)] for n in range(30)]

        returned = await asyncio.gather(*(store.append(events) for events in calls))

        for positions in returned:
            # Whole calls are never interleaved with each other.
            assert positions == list(range(positions[0], positions[0] + 5))

    # --- across processes and restarts -----------------------------------------------

    async def test_reopening_sees_everything_committed(self, store_url: str) -> None:
        store = await open_store(store_url)
        created = datetime(2030, 1, 1, tzinfo=UTC)
        await store.append(
            [Event("s", 1, SESSION_CREATED, {"title": "Fix the build", "project": "p"}, created)]
        )
        positions = await store.append([output("s", seq) for seq in range(2, 12)])
        await store.close()

        reopened = await open_store(store_url)
        try:
            assert [e.seq for e in await reopened.read("s")] == list(range(1, 12))
            assert await reopened.last_position() == positions[-1]
            summary = await reopened.session("s")
            assert summary.title == "Fix the build"
            assert summary.last_seq == 11
            assert summary.last_position == positions[-1]
            assert summary.created_at == created
            # And the log goes on after the restart.
            assert await reopened.append([output("s", 12)]) > positions
        finally:
            await reopened.close()

    async def test_two_processes_opening_a_new_database_at_once(self, store_url: str) -> None:
        first, second = await asyncio.gather(
            run_append_proc(store_url, "one", 3), run_append_proc(store_url, "two", 3)
        )

        store = await open_store(store_url)
        try:
            everything = await store.read_all()
            assert sorted(e.position for e in everything) == sorted(first + second)
        finally:
            await store.close()

    async def test_subscriber_sees_another_process_append(
        self, store: EventStore, store_url: str
    ) -> None:
        await store.append([output("local", 1)])
        stream = store.subscribe()
        try:
            [replayed] = await take(stream, 1)
            assert replayed.session_id == "local"

            remote_positions = await run_append_proc(store_url, "remote", 5)
            remote = await take(stream, 5)
        finally:
            await stream.aclose()

        assert [(e.session_id, e.seq) for e in remote] == [("remote", n) for n in range(1, 6)]
        assert [e.position for e in remote] == remote_positions

    async def test_tailing_two_writer_processes_misses_nothing(
        self, store: EventStore, store_url: str
    ) -> None:
        stream = store.subscribe()
        try:
            writers = asyncio.gather(
                run_append_proc(store_url, "left", 60), run_append_proc(store_url, "right", 60)
            )
            seen = await take(stream, 120)
            left, right = await writers
        finally:
            await stream.aclose()

        positions = [e.position for e in seen]
        assert positions == sorted(left + right)
        assert [e.position for e in await store.read_all()] == positions

    # --- subscriptions ---------------------------------------------------------------

    async def test_subscribe_replays_from_a_position_then_follows(self, store: EventStore) -> None:
        positions = await store.append([output("s", seq) for seq in range(1, 6)])
        stream = store.subscribe(after_position=positions[2])
        try:
            replayed = await take(stream, 2)
            assert [e.seq for e in replayed] == [4, 5]

            await store.append([output("s", 6)])
            await store.append([output("s", 7), output("s", 8)])
            live = await take(stream, 3)
        finally:
            await stream.aclose()

        assert [e.seq for e in live] == [6, 7, 8]

    async def test_local_commit_wakes_subscribers_without_polling(
        self, backend: type, store_url: str
    ) -> None:
        store = await backend.open(store_url, poll_interval=NEVER_POLL)
        streams = [store.subscribe(), store.subscribe()]
        try:
            await store.append([output("s", 1)])
            # Each subscription has read the log up to here; what comes next can only
            # reach it through the wake-up after the commit.
            for stream in streams:
                await take(stream, 1)

            [position] = await store.append([output("s", 2)])

            for stream in streams:
                [event] = await take(stream, 1)
                assert event.position == position
        finally:
            for stream in streams:
                await stream.aclose()
            await store.close()

    async def test_subscription_pages_through_a_long_backlog(self, store: EventStore) -> None:
        for start in range(1, 1301, 100):
            await store.append([output("s", seq) for seq in range(start, start + 100)])
        stream = store.subscribe()
        try:
            events = await take(stream, 1300)
        finally:
            await stream.aclose()

        assert [e.seq for e in events] == list(range(1, 1301))

    async def test_close_ends_a_waiting_subscription(self, store_url: str) -> None:
        store = await open_store(store_url)
        await store.append([output("s", 1)])
        seen: list[Event] = []

        async def follow() -> None:
            async for event in store.subscribe():
                seen.append(event)

        follower = asyncio.ensure_future(follow())
        await wait_for(lambda: bool(seen), timeout=WAIT, message="the stored event")
        async with asyncio.timeout(WAIT):
            await store.close()
            await follower

        assert [e.seq for e in seen] == [1]
        assert follower.exception() is None

    # --- summaries -------------------------------------------------------------------

    async def test_sessions_summarise_created_status_and_usage(self, store: EventStore) -> None:
        t0 = datetime(2030, 1, 1, tzinfo=UTC)
        created = {
            "title": "Refactor parser",
            "project": "/work/p",
            "workspace": "/work/p",
            "provider": "scripted",
            "model": "demo-1",
        }
        usage = {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.25}
        await store.append(
            [
                Event("parent", 1, SESSION_CREATED, created, t0),
                Event("parent", 2, SESSION_STATUS, {"status": "running"}, t0 + timedelta(1)),
            ]
        )
        await store.append(
            [Event("parent", 3, MODEL_COMPLETED, {"text": "", "usage": usage}, t0 + timedelta(2))]
        )
        [last] = await store.append(
            [Event("parent", 4, MODEL_COMPLETED, {"usage": usage}, t0 + timedelta(3))]
        )
        await store.append(
            [
                Event(
                    "child",
                    1,
                    SESSION_CREATED,
                    {**created, "title": "Write tests", "parent_id": "parent"},
                    t0 + timedelta(4),
                )
            ]
        )

        parent = await store.session("parent")
        assert parent.title == "Refactor parser"
        assert (parent.project, parent.provider, parent.model) == ("/work/p", "scripted", "demo-1")
        assert parent.parent_id is None
        assert parent.status == "running"
        assert (parent.input_tokens, parent.output_tokens) == (2400, 600)
        assert parent.cost_usd == pytest.approx(0.5)
        assert parent.created_at == t0
        assert parent.updated_at == t0 + timedelta(3)
        assert (parent.last_seq, parent.last_position) == (4, last)

        child = await store.session("child")
        assert (child.title, child.parent_id, child.status) == ("Write tests", "parent", "idle")

        await store.append(
            [Event("parent", 5, SESSION_STATUS, {"status": "done"}, t0 + timedelta(5))]
        )
        listing = await store.sessions()
        assert [s.session_id for s in listing] == ["parent", "child"]
        assert listing[0].status == "done"
        assert [s.session_id for s in await store.sessions(limit=1)] == ["parent"]

    async def test_usage_without_cost_and_odd_usage_do_not_fail(self, store: EventStore) -> None:
        await store.append(
            [
                Event("s", 1, MODEL_COMPLETED, {"usage": {"input_tokens": 10}}),
                Event("s", 2, MODEL_COMPLETED, {"usage": None}),
                Event("s", 3, MODEL_COMPLETED, {"usage": {"output_tokens": "lots"}}),
            ]
        )

        summary = await store.session("s")
        assert (summary.input_tokens, summary.output_tokens, summary.cost_usd) == (10, 0, 0.0)
        assert summary.last_seq == 3

    async def test_summaries_count_pending_approvals_and_running_tasks(
        self, store: EventStore
    ) -> None:
        await store.append(_live_session("s", "sub"))
        summary = await store.session("s")
        assert (summary.pending_approvals, summary.running_tasks) == (1, 2)
        assert summary.live and summary.preset is None
        child = await store.session("sub")
        assert (child.preset, child.parent_id, child.live) == ("explore", "s", False)

        # Answered in the same batch as a new one is asked: still one pending.
        await store.append(
            [
                Event("s", 8, APPROVAL_RESOLVED, {"approval_id": "a1", "decision": "deny"}),
                Event("s", 9, APPROVAL_REQUESTED, {"approval_id": "a2", "call_id": "c2"}),
                Event("s", 10, TASK_COMPLETED, {"task_id": "t1", "exit_code": 0}),
            ]
        )
        summary = await store.session("s")
        assert (summary.pending_approvals, summary.running_tasks) == (1, 1)

        # The turn ends: nobody can answer its approval any more.
        await store.append([Event("s", 11, TURN_COMPLETED, {"reason": "cancelled"})])
        await store.append([Event("s", 12, TASK_CANCELLED, {"task_id": "t2"})])
        await store.append([Event("s", 13, SESSION_STATUS, {"status": "done"})])
        summary = await store.session("s")
        assert (summary.pending_approvals, summary.running_tasks) == (0, 0)
        assert not summary.live

        # Why its commands run unconfined, as the engine said: kept from then on.
        await store.append(
            [Event("s", 15, SANDBOX_UNAVAILABLE, {"reason": "bubblewrap is missing"})]
        )
        summary = await store.session("s")
        assert (summary.sandbox_mode, summary.unconfined) == ("read-only", "bubblewrap is missing")

        # More ends than starts (a malformed log) never count below zero.
        await store.append([Event("s", 16, TASK_CANCELLED, {"task_id": "t9"})])
        assert (await store.session("s")).running_tasks == 0

    async def test_live_summaries_and_counts(self, store: EventStore) -> None:
        usage = {"input_tokens": 100, "output_tokens": 10, "cost_usd": 0.5}
        await store.append(_live_session("s", "sub"))
        await store.append(
            [
                Event("done", 1, SESSION_CREATED, {"title": "Done"}),
                Event("done", 2, MODEL_COMPLETED, {"usage": usage}),
                Event("done", 3, SESSION_STATUS, {"status": "done"}),
                Event("queued", 1, SESSION_CREATED, {"title": "Later"}),
                Event("queued", 2, SESSION_STATUS, {"status": "queued"}),
                Event("gc-1", 1, SESSION_CREATED, {"title": "GC", "system": True}),
                Event("gc-1", 2, MODEL_COMPLETED, {"usage": usage}),
            ]
        )
        [last] = await store.append([Event("done", 4, MODEL_COMPLETED, {"usage": usage})])

        live = await store.sessions(live=True)
        assert {s.session_id for s in live} == {"s", "queued"}
        assert [s.session_id for s in await store.sessions(1, live=True)] == ["queued"]
        assert (await store.session("gc-1")).system
        counts = await store.session_counts()
        # Four agents' sessions (GC's own is not one), three of them top-level.
        assert (counts.sessions, counts.top_level) == (4, 3)
        assert (counts.input_tokens, counts.output_tokens, counts.cost_usd) == (200, 20, 1.0)
        assert counts.last_position == last

    async def test_an_older_store_gets_its_counters_from_the_log(
        self, store_url: str, rewind_to_version_2
    ) -> None:
        store = await open_store(store_url)
        try:
            await store.append([*_live_session("s", "sub"), Event("s", 8, SANDBOX_DISABLED, {})])
            await store.append(
                _live_session("done", None)
                + [
                    Event("done", 8, APPROVAL_RESOLVED, {"approval_id": "a1"}),
                    Event("done", 9, TASK_COMPLETED, {"task_id": "t1"}),
                    Event("done", 10, TASK_CANCELLED, {"task_id": "t2"}),
                    Event("done", 11, APPROVAL_REQUESTED, {"approval_id": "a3"}),
                    Event("done", 12, TURN_COMPLETED, {"reason": "cancelled"}),
                ]
            )
        finally:
            await store.close()
        await rewind_to_version_2(store_url)

        store = await open_store(store_url)
        try:
            live = await store.session("s")
            done = await store.session("done")
            child = await store.session("sub")
        finally:
            await store.close()
        assert (live.pending_approvals, live.running_tasks, live.preset) == (1, 2, None)
        assert (done.pending_approvals, done.running_tasks) == (0, 0)
        assert child.preset == "explore" and not child.system
        assert (live.sandbox_mode, live.unconfined) == ("read-only", "sandbox.disabled")

    async def test_summary_of_a_session_without_a_created_event(self, store: EventStore) -> None:
        await store.append([output("orphan", 1)])

        summary = await store.session("orphan")
        assert (summary.title, summary.status, summary.last_seq) == ("", "idle", 1)

    # --- failures --------------------------------------------------------------------

    async def test_unusable_database_gives_a_clear_error(
        self, broken_store: tuple[str, list[str]]
    ) -> None:
        url, fragments = broken_store

        with pytest.raises(StoreError) as caught:
            await open_store(url)

        message = str(caught.value)
        for fragment in fragments:
            assert fragment in message

    async def test_append_after_close_is_refused_and_close_is_idempotent(
        self, store_url: str
    ) -> None:
        store = await open_store(store_url)
        await store.append([output("s", 1)])
        await asyncio.gather(store.close(), store.close())
        await store.close()

        with pytest.raises(StoreError, match="closed"):
            await store.append([output("s", 2)])

    async def test_close_commits_what_was_queued(self, store_url: str) -> None:
        store = await open_store(store_url)
        appends = [asyncio.ensure_future(store.append([output(f"s{n}", 1)])) for n in range(50)]
        await asyncio.sleep(0)  # one turn of the loop: every append is handed to the store
        await store.close()
        positions = await asyncio.gather(*appends)

        reopened = await open_store(store_url)
        try:
            stored = await reopened.read_all()
            assert sorted(e.position for e in stored) == sorted(p for [p] in positions)
        finally:
            await reopened.close()

    # --- paged reads -------------------------------------------------------------------

    async def test_read_pages_through_one_session(self, store: EventStore) -> None:
        for seq in range(1, 8):
            await store.append([output("a", seq), output("b", seq)])

        assert [e.seq for e in await store.read("a", limit=3)] == [1, 2, 3]
        assert [e.seq for e in await store.read("a", after_seq=3, limit=3)] == [4, 5, 6]
        assert [e.seq for e in await store.read("a", after_seq=6, limit=3)] == [7]

    async def test_read_all_of_some_types_only(self, store: EventStore) -> None:
        await store.append(
            [
                Event("a", 1, SESSION_CREATED, {"title": "a"}),
                output("a", 2),
                Event("a", 3, SESSION_STATUS, {"status": "done"}),
                output("a", 4),
                Event("b", 1, SESSION_CREATED, {"title": "b"}),
            ]
        )

        picked = await store.read_all(types={SESSION_CREATED, SESSION_STATUS})
        assert [(e.session_id, e.seq) for e in picked] == [("a", 1), ("a", 3), ("b", 1)]
        after = await store.read_all(picked[0].position or 0, limit=1, types={SESSION_CREATED})
        assert [(e.session_id, e.seq) for e in after] == [("b", 1)]
        assert await store.read_all(types=set()) == []

    # --- checkpoints -------------------------------------------------------------------

    async def test_a_checkpoint_comes_back_as_saved(self, store: EventStore) -> None:
        await store.append([output("a", 1), output("b", 1)])
        assert await store.load_checkpoint("counts") is None

        state = {"total": 2, "nested": [1, "é", None, {"x": 1.5}]}
        saved = await store.save_checkpoint(
            "counts", 1, 2, state, {"a": {"n": 1}, "b": [1, 2]}, rebuilt=True
        )

        assert saved
        checkpoint = await store.load_checkpoint("counts")
        assert checkpoint is not None
        assert (checkpoint.name, checkpoint.version, checkpoint.position) == ("counts", 1, 2)
        assert checkpoint.state == state
        assert checkpoint.sessions == {"a": {"n": 1}, "b": [1, 2]}
        assert await store.load_checkpoint("other") is None

    async def test_an_incremental_save_changes_only_the_parts_it_names(
        self, store: EventStore
    ) -> None:
        await store.append([output("a", 1), output("b", 1), output("c", 1)])
        await store.save_checkpoint("p", 1, 3, {"n": 3}, {"a": 1, "b": 1}, rebuilt=True)

        assert await store.save_checkpoint("p", 1, 5, {"n": 5}, {"b": 2, "c": 1}, rebuilt=False)

        checkpoint = await store.load_checkpoint("p")
        assert checkpoint is not None
        assert (checkpoint.position, checkpoint.state) == (5, {"n": 5})
        assert checkpoint.sessions == {"a": 1, "b": 2, "c": 1}

    async def test_a_rebuilt_save_replaces_every_part(self, store: EventStore) -> None:
        await store.append([output("a", 1), output("b", 1)])
        await store.save_checkpoint("p", 1, 2, {}, {"a": 1, "b": 1}, rebuilt=True)

        assert await store.save_checkpoint("p", 2, 2, {"v": 2}, {"b": "new"}, rebuilt=True)

        checkpoint = await store.load_checkpoint("p")
        assert checkpoint is not None
        assert (checkpoint.version, checkpoint.state, checkpoint.sessions) == (
            2,
            {"v": 2},
            {"b": "new"},
        )

    async def test_the_save_that_got_further_wins(self, store: EventStore) -> None:
        await store.append([output("a", 1)])
        await store.save_checkpoint("p", 1, 10, {"at": 10}, {"a": 10}, rebuilt=True)

        # Behind the saved one: an incremental or rebuilt fold of the same version.
        assert not await store.save_checkpoint("p", 1, 9, {"at": 9}, {"a": 9}, rebuilt=False)
        assert not await store.save_checkpoint("p", 1, 8, {"at": 8}, {"a": 8}, rebuilt=True)
        # An incremental fold of another version, or of a checkpoint that is not there,
        # has nothing to build on.
        assert not await store.save_checkpoint("p", 2, 11, {"at": 11}, {"a": 11}, rebuilt=False)
        assert not await store.save_checkpoint("q", 1, 11, {}, {"a": 11}, rebuilt=False)

        checkpoint = await store.load_checkpoint("p")
        assert checkpoint is not None
        assert (checkpoint.state, checkpoint.sessions) == ({"at": 10}, {"a": 10})
        assert await store.load_checkpoint("q") is None
        # A rebuild in a new format replaces it even from behind.
        assert await store.save_checkpoint("p", 2, 3, {"at": 3}, {"a": 3}, rebuilt=True)

    async def test_concurrent_saves_from_two_connections_never_mix(
        self, store: EventStore, store_url: str
    ) -> None:
        """Two store objects, as two processes, saving the same checkpoint at once: what
        is left is one whole save, the one that got furthest."""
        sessions = [f"s{n}" for n in range(20)]
        await store.append([output(sid, 1) for sid in sessions])
        other = await open_store(store_url)
        try:
            await store.save_checkpoint(
                "p", 1, 0, {"at": 0}, dict.fromkeys(sessions, 0), rebuilt=True
            )

            async def saves(on: EventStore, positions: range) -> None:
                for position in positions:
                    parts = dict.fromkeys(sessions, position)
                    await on.save_checkpoint(
                        "p", 1, position, {"at": position}, parts, rebuilt=position % 2 == 0
                    )

            await asyncio.gather(saves(store, range(1, 60, 2)), saves(other, range(2, 60, 2)))
        finally:
            await other.close()

        checkpoint = await store.load_checkpoint("p")
        assert checkpoint is not None
        assert checkpoint.position == 59 or checkpoint.position == 58
        assert checkpoint.state == {"at": checkpoint.position}
        assert checkpoint.sessions == dict.fromkeys(sessions, checkpoint.position)

    async def test_retention_deletes_a_sessions_parts_with_it(self, store: EventStore) -> None:
        await store.append([output("old", 1), output("kept", 1)])
        await store.save_checkpoint("p", 1, 2, {}, {"old": 1, "kept": 1}, rebuilt=True)
        await store.save_checkpoint("q", 3, 2, {}, {"old": 2}, rebuilt=True)

        assert await store.delete_sessions({"old": (await store.session("old")).last_position}) == [
            "old"
        ]

        p = await store.load_checkpoint("p")
        q = await store.load_checkpoint("q")
        assert p is not None and q is not None
        assert p.sessions == {"kept": 1}
        assert q.sessions == {}
        # A fold that read the session before it went does not bring its part back.
        assert await store.save_checkpoint("p", 1, 3, {}, {"old": 9, "kept": 2}, rebuilt=False)
        p = await store.load_checkpoint("p")
        assert p is not None and p.sessions == {"kept": 2}

    async def test_a_checkpoint_that_cannot_be_stored_is_refused(self, store: EventStore) -> None:
        with pytest.raises(StoreError, match="checkpoint"):
            await store.save_checkpoint("p", 1, 0, {"bad": {1, 2}}, {}, rebuilt=True)
        assert await store.load_checkpoint("p") is None

    async def test_summaries_of_some_sessions_only(self, store: EventStore) -> None:
        for sid in ("a", "b", "c", "d"):
            await store.append([output(sid, 1)])
        await store.append([output("b", 2)])

        chosen = await store.sessions(among=["a", "b", "gone"])
        assert [s.session_id for s in chosen] == ["b", "a"]  # newest first
        assert await store.sessions(among=[]) == []
        assert [s.session_id for s in await store.sessions(1, among={"c", "d"})] == ["d"]


def _live_session(session_id: str, child_id: str | None) -> list[Event]:
    """A session waiting for an approval with tasks running (t2 only after seq 7), and
    a subagent when `child_id` is given."""
    events = [
        Event(
            session_id, 1, SESSION_CREATED, {"title": "Fix it", "sandbox": {"mode": "read-only"}}
        ),
        Event(session_id, 2, TURN_STARTED, {}),
        Event(session_id, 3, TASK_STARTED, {"task_id": "t1", "kind": "shell"}),
        Event(session_id, 4, APPROVAL_REQUESTED, {"approval_id": "a0", "call_id": "c0"}),
        Event(session_id, 5, APPROVAL_RESOLVED, {"approval_id": "a0", "decision": "allow_once"}),
        Event(session_id, 6, APPROVAL_REQUESTED, {"approval_id": "a1", "call_id": "c1"}),
        Event(session_id, 7, TASK_STARTED, {"task_id": "t2", "kind": "shell"}),
    ]
    if child_id is not None:
        events.append(
            Event(
                child_id,
                1,
                SESSION_CREATED,
                {"title": "Look around", "parent_id": session_id, "preset": "explore"},
            )
        )
    return events
