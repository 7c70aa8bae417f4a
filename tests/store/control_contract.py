"""The control plane's part of the store contract (leases and commands), written once and
run against every backend, as `StoreContract` is.

A backend's test module subclasses `ControlContract` and provides `store_url`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness_tui.events import SESSION_CREATED, Event
from harness_tui.store import (
    DuplicateEventError,
    EventStore,
    LeaseHolder,
    LeaseLostError,
    open_store,
)
from harness_tui.store._common import migrations_to_apply
from tests.store.contract import WAIT, output
from tests.support.waiting import wait_for

LEASE_PROC = Path(__file__).with_name("lease_proc.py")

A = LeaseHolder("engine-a", "host-a", 101, "1")
B = LeaseHolder("engine-b", "host-b", 202, "2")


def created(session_id: str) -> Event:
    return Event(session_id, 1, SESSION_CREATED, {"title": "t"})


class ControlContract:
    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[EventStore]:
        store = await open_store(store_url)
        yield store
        await store.close()

    # --- leases ----------------------------------------------------------------------

    async def test_a_free_lease_is_taken_and_a_held_one_is_not(self, store: EventStore) -> None:
        first = await store.acquire_lease("s", A, 30)
        second = await store.acquire_lease("s", B, 30)
        again = await store.acquire_lease("s", A, 30)

        assert first.held_by("engine-a") and not first.expired and first.token == 1
        # B is told who holds it, and takes nothing.
        assert second.held_by("engine-a") and second.host == "host-a" and second.pid == 101
        assert again.held_by("engine-a") and again.token == 1  # renewed, not re-issued
        assert (await store.leases(["s"]))["s"].owner == "engine-a"

    async def test_an_expired_lease_is_taken_over_with_a_new_token(self, store: EventStore) -> None:
        await store.acquire_lease("s", A, 0.2)

        async def expired() -> bool:
            return (await store.leases(["s"]))["s"].expired

        await wait_for(expired, message="the lease never expired")
        taken = await store.acquire_lease("s", B, 30)

        assert taken.held_by("engine-b") and taken.token == 2 and not taken.expired

    async def test_a_dead_holders_lease_is_replaced_by_its_token(self, store: EventStore) -> None:
        held = await store.acquire_lease("s", A, 30)

        wrong = await store.acquire_lease("s", B, 30, replacing=held.token + 5)
        replaced = await store.acquire_lease("s", B, 30, replacing=held.token)

        assert wrong.held_by("engine-a")
        assert replaced.held_by("engine-b") and replaced.token == held.token + 1

    async def test_renewing_keeps_only_the_leases_still_held(self, store: EventStore) -> None:
        kept = await store.acquire_lease("kept", A, 30)
        lost = await store.acquire_lease("lost", A, 30)
        await store.acquire_lease("lost", B, 30, replacing=lost.token)

        renewed = await store.renew_leases([kept.fence, lost.fence], 30)

        assert renewed == {"kept"}

    async def test_a_released_lease_is_free_and_its_token_only_grows(
        self, store: EventStore
    ) -> None:
        held = await store.acquire_lease("s", A, 30)
        await store.release_lease(held.fence)

        assert "s" not in await store.leases(["s"])
        taken = await store.acquire_lease("s", B, 30)
        assert taken.held_by("engine-b") and taken.token == held.token + 1

    async def test_a_fenced_append_commits_while_the_lease_holds(self, store: EventStore) -> None:
        held = await store.acquire_lease("s", A, 30)

        positions = await store.append([created("s"), output("s", 2)], fence=held.fence)

        assert len(positions) == 2

    async def test_an_engine_that_lost_its_lease_cannot_append(self, store: EventStore) -> None:
        held = await store.acquire_lease("s", A, 30)
        await store.append([created("s")], fence=held.fence)
        taken = await store.acquire_lease("s", B, 30, replacing=held.token)

        # In one group commit: the fenced call fails alone, the others commit.
        stale, fresh, other = await asyncio.gather(
            store.append([output("s", 2, "stale")], fence=held.fence),
            store.append([output("s", 2, "fresh")], fence=taken.fence),
            store.append([created("t")]),
            return_exceptions=True,
        )

        assert isinstance(stale, LeaseLostError)
        assert "engine-a" in str(stale) and "engine-b" in str(stale)
        assert isinstance(fresh, list) and isinstance(other, list)
        assert [e.data["text"] for e in await store.read("s", 1)] == ["fresh"]

    async def test_after_release_its_old_holder_cannot_append(self, store: EventStore) -> None:
        held = await store.acquire_lease("s", A, 30)
        await store.append([created("s")], fence=held.fence)
        await store.release_lease(held.fence)

        with pytest.raises(LeaseLostError, match="nobody holds it"):
            await store.append([output("s", 2)], fence=held.fence)
        assert [e.seq for e in await store.read("s")] == [1]

    async def test_two_processes_adopting_the_same_orphans_never_both_win(
        self, store: EventStore, store_url: str
    ) -> None:
        sessions = [f"orphan-{n}" for n in range(100)]
        for session_id in sessions:
            # Left by an engine that died: expired at once.
            await store.acquire_lease(session_id, A, 0)
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(LEASE_PROC),
                store_url,
                name,
                *sessions,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for name in ("engine-x", "engine-y")
        ]
        won: list[set[str]] = []
        async with asyncio.timeout(WAIT * 2):
            for proc in procs:
                stdout, stderr = await proc.communicate()
                assert proc.returncode == 0, stderr.decode()
                won.append(set(json.loads(stdout.decode().strip().splitlines()[-1])))

        assert not won[0] & won[1]
        assert won[0] | won[1] == set(sessions)
        leases = await store.leases(sessions)
        assert {s for s, lease in leases.items() if lease.owner == "engine-x"} == won[0]

    # --- commands --------------------------------------------------------------------

    async def test_a_command_is_pending_until_settled_once(self, store: EventStore) -> None:
        issued = await store.issue_command("c1", "s", "cancel", {"why": "é"}, "ann@laptop")
        await store.issue_command("c2", "other", "cancel", {}, "ann@laptop")

        pending = await store.commands(session_ids=["s"], status="pending")
        assert [c.command_id for c in pending] == ["c1"]
        assert pending[0].payload == {"why": "é"} and pending[0].issued_by == "ann@laptop"
        assert pending[0].number == issued.number

        assert await store.settle_command("c1", "rejected", "the session ended", by="e1")
        assert not await store.settle_command("c1", "applied", by="e2")
        settled = await store.command("c1")
        assert settled is not None
        assert (settled.status, settled.reason, settled.settled_by) == (
            "rejected",
            "the session ended",
            "e1",
        )
        assert settled.applied_at is not None
        assert [c.command_id for c in await store.commands(status="pending")] == ["c2"]

    async def test_commands_come_in_the_order_issued(self, store: EventStore) -> None:
        for n in range(5):
            await store.issue_command(f"c{n}", "s", "send", {"n": n}, "u@h")

        commands = await store.commands(session_ids=["s"])
        after = await store.commands(after=commands[2].number)

        assert [c.payload["n"] for c in commands] == [0, 1, 2, 3, 4]
        assert [c.payload["n"] for c in after] == [3, 4]

    async def test_events_that_apply_a_command_mark_it_applied(self, store: EventStore) -> None:
        held = await store.acquire_lease("s", A, 30)
        await store.append([created("s")], fence=held.fence)
        await store.issue_command("c1", "s", "send", {"text": "hi"}, "u@h")
        await store.issue_command("c2", "s", "send", {"text": "again"}, "u@h")

        await store.append([output("s", 2)], fence=held.fence, command="c1")
        # A call that fails writes nothing, and applies nothing.
        with pytest.raises(DuplicateEventError):
            await store.append([output("s", 2)], fence=held.fence, command="c2")

        applied, pending = await store.command("c1"), await store.command("c2")
        assert applied is not None and applied.status == "applied"
        assert applied.settled_by == "engine engine-a on host-a"
        assert pending is not None and pending.status == "pending"

    async def test_a_waiter_hears_of_a_new_command(self, store: EventStore, store_url: str) -> None:
        other = await open_store(store_url)
        try:
            signal = store.command_signal()
            waiting = asyncio.create_task(store.wait_for_commands(signal, WAIT))
            await other.issue_command("c1", "s", "cancel", {}, "u@h")
            async with asyncio.timeout(WAIT):
                await waiting
            assert [c.command_id for c in await store.commands(status="pending")] == ["c1"]
        finally:
            await other.close()

    # --- schema ----------------------------------------------------------------------

    def test_gaps_in_migration_versions_are_harmless(self) -> None:
        # A database migrated by a build that knows versions 1 and 4 gets 2 and 3 once
        # a build knows them; one that knows only 1 and 4 does not ask for 2 and 3.
        later = [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
        assert migrations_to_apply(later, {1, 4}, "db") == [(2, "b"), (3, "c")]
        assert migrations_to_apply([(1, "a"), (4, "d")], {1}, "db") == [(4, "d")]
