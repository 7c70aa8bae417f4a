"""A session's single writer: every event of the session is appended through it, in
seq order, and folded into the session's state as soon as it is committed.

Only one engine may write a session at a time, and the store is what decides which:
the writer holds the session's lease (`engine.leases`) and every append is fenced by it,
and every append carries the seq the writer expects next, which the store refuses when
it is taken. An engine takes a session over with `claim`, whose events (a turn's input
and its `turn.started`, with the owner) commit together or not at all; losing that race
is a refusal (`SessionBusy`), never a second writer interleaving its events. Once the
session is settled and nothing of it runs here, the lease is given up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from harness_tui import events as ev
from harness_tui.engine.context import EngineContext
from harness_tui.engine.errors import SessionBusy, SessionFenced
from harness_tui.engine.owner import SETTLED_STATUSES, working_owner
from harness_tui.engine.session import SessionState
from harness_tui.events import Event
from harness_tui.store import DuplicateEventError, LeaseLostError

# What a claim writes: (type, data) pairs, given the session as the log has it now.
ClaimEvents = Sequence[tuple[str, dict[str, Any]]]

# A claim that keeps meeting new events gives up after this many reads of the log: the
# session is too busy to take over.
CLAIM_ATTEMPTS = 5


class SessionWriter:
    def __init__(self, ctx: EngineContext, state: SessionState) -> None:
        self.ctx = ctx
        self.state = state
        self._write_lock = asyncio.Lock()
        # Called after each claim that committed: the session is this engine's to run.
        self.on_claim: list[Callable[[], None]] = []
        # The seqs this writer appended, as [first, last] ranges (few: one per stretch
        # the session was this engine's).
        self._written: list[list[int]] = []
        # Whether the session's backend still has work here (set by the backend): the
        # lease is kept while it does, whatever the status says.
        self.working: Callable[[], bool] = lambda: False
        self._releasing: set[asyncio.Task[None]] = set()

    @property
    def session_id(self) -> str:
        return self.state.session_id

    async def emit(self, type_: str, data: dict[str, Any], *, command: str | None = None) -> Event:
        """Append one event for this session and fold it into the state.

        The append is shielded: once an event is handed to the store it is committed
        and applied even if the turn is being cancelled, so seq never gets reused.
        Raises SessionBusy when another process wrote to the session meanwhile: it is
        not this writer's any more, and nothing was written (SessionFenced when its
        lease was taken over). `command`: the command this event applies, marked
        applied in the same transaction.
        """
        async with self._write_lock:
            try:
                return (await self._append([(type_, data)], command))[0]
            except DuplicateEventError:
                await self._catch_up()
                raise SessionBusy(
                    self.session_id, working_owner(self.state, self.ctx.engine_id)
                ) from None

    async def claim(
        self, build: Callable[[SessionState], ClaimEvents], *, command: str | None = None
    ) -> list[Event]:
        """Take the session over: append what `build` makes of its state, all in one
        append at the next seq, unless another live process is working on it.

        When another process wrote first, the store refuses the seq: the writer reads
        what it missed and decides again on the log as it now is (`build` is called
        again; it returns nothing when there is nothing left to do). Raises SessionBusy
        when the session is (or stays) another process's.
        """
        async with self._write_lock:
            for _ in range(CLAIM_ATTEMPTS):
                # The lease is the claim's first half: of engines claiming at once, one
                # gets it and the others are refused here (SessionBusy), before writing.
                self.state.lease = await self.ctx.leases.acquire(self.session_id)
                items = build(self.state)
                if not items:
                    return []
                try:
                    events = await self._append(items, command)
                except DuplicateEventError:
                    await self._catch_up()
                    continue
                for listener in self.on_claim:
                    listener()
                return events
            raise SessionBusy(self.session_id, working_owner(self.state, self.ctx.engine_id))

    async def settled(self) -> None:
        """Until every event this writer handed to the store is in the state: another
        process may already read one that is still on its way back from the commit."""
        async with self._write_lock:
            pass

    def wrote(self, seq: int) -> bool:
        """Whether this writer appended the session's event `seq` (after `settled`)."""
        return any(first <= seq <= last for first, last in self._written)

    async def set_status(self, status: str) -> None:
        if self.state.status != status:
            await self.emit(ev.SESSION_STATUS, {"status": status})

    # With the write lock held.

    async def _append(self, items: ClaimEvents, command: str | None = None) -> list[Event]:
        """Append the events at the next seqs, all or none, fenced by this engine's
        lease on the session (taken first if need be); raises DuplicateEventError when
        a seq is taken, SessionBusy when another engine holds the lease, SessionFenced
        when it took the lease over (nothing was written)."""
        lease = await self.ctx.leases.acquire(self.session_id)
        first = self.state.last_seq + 1
        events = [
            Event(self.session_id, first + n, type_, self.ctx.redactor.data(data))
            for n, (type_, data) in enumerate(items)
        ]
        append = asyncio.ensure_future(
            self.ctx.store.append(events, fence=lease.fence, command=command)
        )
        try:
            positions = await asyncio.shield(append)
        except asyncio.CancelledError:
            # Cancelled while the store commits: what it committed is still applied
            # (the cancel goes on either way).
            with contextlib.suppress(Exception):
                self._record(events, await append)
            raise
        except LeaseLostError as exc:
            self.ctx.leases.lost(self.session_id)
            raise SessionFenced(self.session_id, str(exc)) from None
        return self._record(events, positions)

    def settled_here(self) -> bool:
        """Whether nothing of the session is left to this engine: no turn open, a
        settled status, no background task running, no work of its backend here."""
        state = self.state
        return (
            not state.turn_active
            and state.status in SETTLED_STATUSES
            and not state.running_tasks
            and not self.working()
        )

    def release_when_settled(self) -> None:
        """Give the session's lease up once it is settled here (checked under the write
        lock, after whatever is under way): any engine may then take it over."""
        if not self.settled_here() or self.ctx.leases.fence(self.session_id) is None:
            return
        task = asyncio.ensure_future(self._release_if_settled())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_if_settled(self) -> None:
        async with self._write_lock:
            if self.settled_here():
                await self.ctx.leases.release(self.session_id)

    def _record(self, events: list[Event], positions: list[int]) -> list[Event]:
        stored = [e.with_position(p) for e, p in zip(events, positions, strict=True)]
        for event in stored:
            self.state.apply(event)
            self.ctx.observe(event)
        self.release_when_settled()
        first, last = stored[0].seq, stored[-1].seq
        if self._written and self._written[-1][1] == first - 1:
            self._written[-1][1] = last
        else:
            self._written.append([first, last])
        return stored

    async def _catch_up(self) -> None:
        """Fold in what other processes appended since this writer last looked."""
        for event in await self.ctx.store.read(self.session_id, self.state.last_seq):
            self.state.apply(event)
