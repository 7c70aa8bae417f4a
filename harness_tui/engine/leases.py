"""The leases an engine holds: one per session it runs, taken in the store before its
first write there, renewed while the engine lives, given up when the session settles or
the engine closes.

Taking one is one conditional write in the store (free, expired, or held by a process
of this machine that is gone), so of two engines adopting the same session exactly one
wins; the other is refused (SessionBusy). Every append the engine makes is fenced by
its lease: once the lease expired and another engine took the session, the store
refuses the write (LeaseLostError), and the engine stops working on that session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from harness_tui.engine.errors import SessionBusy
from harness_tui.engine.owner import lease_owner, pid_gone
from harness_tui.store import EventStore, Fence, Lease, LeaseHolder, StoreError


class LeaseKeeper:
    def __init__(self, store: EventStore, holder: LeaseHolder, lease_s: float) -> None:
        self.store = store
        self.holder = holder
        self.lease_s = lease_s
        # Renewed this often: a lease survives two missed renewals.
        self.renew_s = lease_s / 3
        self._held: dict[str, Lease] = {}
        self._renewer: asyncio.Task[None] | None = None
        # Called with the session id when a renewal finds the lease taken by another.
        self.on_lost: list[Callable[[str], None]] = []
        # Called with the session id when this engine takes a session's lease.
        self.on_acquired: list[Callable[[str], None]] = []
        self._closed = False

    def held(self) -> set[str]:
        """The sessions whose lease this engine holds (as far as it knows)."""
        return set(self._held)

    def fence(self, session_id: str) -> Fence | None:
        lease = self._held.get(session_id)
        return None if lease is None else lease.fence

    async def acquire(self, session_id: str) -> Lease:
        """The session's lease, taken now if this engine does not hold it already.
        Raises SessionBusy, naming the holder, when another live engine holds it."""
        held = self._held.get(session_id)
        if held is not None:
            return held
        lease = await self.store.acquire_lease(session_id, self.holder, self.lease_s)
        if not lease.held_by(self.holder.owner) and pid_gone(
            lease.host, lease.pid, lease.pid_start
        ):
            # Its holder's process on this machine is gone: no need to wait for the
            # lease to run out. Still one conditional write: on its token, so of two
            # engines doing this at once one wins.
            lease = await self.store.acquire_lease(
                session_id, self.holder, self.lease_s, replacing=lease.token
            )
        if not lease.held_by(self.holder.owner):
            raise SessionBusy(session_id, lease_owner(lease))
        self._held[session_id] = lease
        self._start_renewing()
        for listener in self.on_acquired:
            listener(session_id)
        return lease

    def lost(self, session_id: str) -> None:
        """The store refused a write fenced by this session's lease: it is not ours."""
        self._held.pop(session_id, None)

    async def release(self, session_id: str) -> None:
        lease = self._held.pop(session_id, None)
        if lease is None:
            return
        with contextlib.suppress(StoreError):
            # A store that refuses even this: the lease runs out by itself.
            await self.store.release_lease(lease.fence)

    async def close(self) -> None:
        """Stop renewing and give every lease up."""
        self._closed = True
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for session_id in list(self._held):
            await self.release(session_id)

    def _start_renewing(self) -> None:
        if self._renewer is None and not self._closed:
            self._renewer = asyncio.create_task(self._renew(), name="lease renewal")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            leases = dict(self._held)
            if not leases:
                continue
            try:
                renewed = await self.store.renew_leases(
                    [lease.fence for lease in leases.values()], self.lease_s
                )
            except StoreError:
                continue  # tried again next time; meanwhile the fence guards the log
            for session_id, lease in leases.items():
                # Released meanwhile, or taken again with another token: not this one.
                if session_id in renewed or self._held.get(session_id) is not lease:
                    continue
                del self._held[session_id]
                for listener in self.on_lost:
                    listener(session_id)
