"""The EventStore contract shared by the SQLite and PostgreSQL backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from harness_tui.events import Event
from harness_tui.store.control import Command, Fence, Lease, LeaseHolder
from harness_tui.store.queue import Claim, QueuedSession, QueueLimits


class StoreError(Exception):
    """A store that cannot be opened or used; the message names the file or host."""


class StoreConfigError(StoreError):
    """A store URL that names nothing this application may open: an unknown scheme, no
    file, or a SQLite file whose directory does not exist. The user's configuration is
    wrong, not the store, so the faces report it as bad usage rather than a failure."""


class DuplicateEventError(StoreError):
    """An append carried a `(session_id, seq)` that is already in the log."""


class UnknownSessionError(StoreError):
    """An append carried on a session (its first event for it has seq > 1) that is not
    in the log: retention deleted it after its writer read it. Refusing the append is
    what keeps a session from living on as a tail without its `session.created`."""


class StoreUnavailableError(StoreError):
    """A failure that may pass on its own: PostgreSQL restarting or its connections cut,
    a full disk. The store retries the operation with backoff for `[store] retry_s`
    seconds before a caller sees this."""


class LeaseLostError(StoreError):
    """An append fenced by a lease its engine no longer holds: the lease expired and
    another engine took the session over (or it was released). Nothing was written;
    the engine must stop working on the session."""


class StoreLostError(StoreError):
    """The store's file was deleted or replaced while it was open: whatever would be
    written from then on would go where nobody can see it, so nothing more is."""


# Session statuses under which a session runs, waits for someone, or waits its turn.
LIVE_STATUSES = frozenset({"running", "waiting", "queued"})


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One row of `sessions()`: kept up to date on append, so listing stays fast."""

    session_id: str
    title: str
    project: str
    provider: str
    model: str
    parent_id: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    last_seq: int
    last_position: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    # session.created's preset (a subagent's kind), for the session list.
    preset: str | None = None
    # Approvals asked and not answered yet, in the session's open turn (a turn that
    # ends drops them: nobody can answer them any more), and tasks started and not
    # ended. Kept up to date on append, so a face finds the live sessions without
    # reading their logs.
    pending_approvals: int = 0
    running_tasks: int = 0
    # A session the harness keeps for itself (GC's log), not an agent's.
    system: bool = False
    # The sandbox mode session.created chose, and why its commands run unconfined
    # when an engine said so (sandbox.disabled or sandbox.unavailable).
    sandbox_mode: str | None = None
    unconfined: str | None = None

    @property
    def live(self) -> bool:
        """Whether something in the session is going on or waits for someone."""
        return self.status in LIVE_STATUSES or self.pending_approvals > 0 or self.running_tasks > 0


@dataclass(frozen=True, slots=True)
class SessionCounts:
    """What `sessions()` would add up to, without reading every row: the agents'
    sessions (system sessions left out), the top-level ones among them, their usage,
    and the newest position any summary accounts for."""

    sessions: int
    top_level: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    last_position: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A projection's fold as saved by `save_checkpoint`: a cache of a pure fold over the
    log, never the truth. `state` is the fold's cross-session part and `sessions` its
    per-session parts, each decoded from JSON; retention deletes a session's parts with
    the session (see `delete_sessions`). A checkpoint whose JSON no longer decodes is
    not returned at all: the projection rebuilds from the log."""

    name: str
    version: int
    """The projection's format version; a projection that finds another rebuilds."""
    position: int
    """The log position the fold reached: fold only the events after it."""
    state: Any
    sessions: dict[str, Any]


class EventStore(Protocol):
    url: str

    async def append(
        self,
        events: Sequence[Event],
        *,
        fence: Fence | None = None,
        command: str | None = None,
    ) -> list[int]:
        """Append events and return their positions, only after they are committed.

        All events of one call commit together or not at all. Raises
        DuplicateEventError when a `(session_id, seq)` is already taken, and
        UnknownSessionError when the call carries on a session (its first event for
        it has seq > 1) that is not in the log; other callers' events in the same
        group commit are unaffected.

        `fence`: write only while that lease is still its holder's, checked in the
        commit's own transaction (LeaseLostError otherwise, for this call alone).
        `command`: the command these events apply, marked applied in the same
        transaction (if it is still pending), so it is applied exactly once.
        """
        ...

    async def read(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The session's events after `after_seq`, in seq order; at most `limit` of them
        (all when None), so a long session can be paged through."""
        ...

    async def read_before(self, session_id: str, before_seq: int, limit: int) -> list[Event]:
        """The newest `limit` events of a session with seq < `before_seq`, oldest
        first: a page of its history going back from `before_seq`."""
        ...

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]:
        """Events after `after_position`, in log order, at most `limit`; with `types`,
        only events of those types (a projection that folds a few types skips the rest
        inside the database)."""
        ...

    async def read_all_before(self, before_position: int, limit: int) -> list[Event]:
        """The newest `limit` events of the whole log with position < `before_position`,
        oldest first: a page of history going back from `before_position`."""
        ...

    def subscribe(self, after_position: int = 0) -> AsyncIterator[Event]:
        """Replay events after `after_position`, then follow new ones live, also
        those appended by other processes."""
        ...

    async def sessions(
        self,
        limit: int | None = None,
        *,
        among: Collection[str] | None = None,
        live: bool = False,
    ) -> list[SessionSummary]:
        """Summaries, the most recently active first; with `among`, only those of these
        sessions (one query however many, for a projection that knows which it wants);
        `live`: only those of sessions that run, wait or are queued, or have an
        approval pending or a task running."""
        ...

    async def session_counts(self) -> SessionCounts: ...

    async def session(self, session_id: str) -> SessionSummary | None: ...

    async def last_position(self) -> int: ...

    async def delete_sessions(
        self, seen: Mapping[str, int], *, unless_status: Collection[str] = ()
    ) -> list[str]:
        """Remove whole sessions (their events and summaries) for retention, as the
        decision saw them; returns the ids removed, in the order given.

        `seen` maps each session to the last position the decision saw. Inside the
        delete's own transaction, serialised with every append, a session is removed
        only if its last position is still that one and its status is not one of
        `unless_status`, and a subagent only if its parent goes too (or is gone): a
        session touched after the decision stays, whole. Positions of other events
        do not change. The sessions' parts of every checkpoint go in the same
        transaction, so no projection keeps counting a deleted session.
        """
        ...

    async def load_checkpoint(self, name: str) -> Checkpoint | None:
        """The checkpoint saved under `name`, read in one snapshot (its position, state
        and session parts agree); None when there is none or it does not decode."""
        ...

    async def save_checkpoint(
        self,
        name: str,
        version: int,
        position: int,
        state: Any,
        sessions: Mapping[str, Any],
        *,
        rebuilt: bool,
    ) -> bool:
        """Save a projection's fold at `position`, atomically; returns whether it was.

        `rebuilt`: the fold started from nothing, so `sessions` holds every session's
        part and replaces the saved ones; it is saved unless a checkpoint of the same
        version already reached further. Otherwise the fold went on from the saved
        checkpoint, `sessions` holds only the parts it changed, and it is saved only if
        that checkpoint is still there with the same version and no further than
        `position`: of two processes saving at once, the one that got further wins and
        neither corrupts the other. Parts of sessions no longer in the log (retention
        deleted them meanwhile) are not saved. `state` and parts must be JSON values.
        """
        ...

    # --- leases (see store.control) ---------------------------------------------------

    async def acquire_lease(
        self, session_id: str, holder: LeaseHolder, duration_s: float, *, replacing: int = 0
    ) -> Lease:
        """Take the session's lease for `duration_s` seconds, in one conditional write:
        only if nobody holds it, it expired, `holder` holds it already (renewed), or its
        token is `replacing` (a holder known dead). Returns the lease as it then is:
        `holder`'s when it won, else the live holder's."""
        ...

    async def renew_leases(self, fences: Sequence[Fence], duration_s: float) -> set[str]:
        """Extend the leases their holders still have, in one write; returns the
        sessions whose lease was renewed (the others' were lost)."""
        ...

    async def release_lease(self, fence: Fence) -> None:
        """Give a lease up (only if `fence` still holds it)."""
        ...

    async def leases(self, session_ids: Collection[str] | None = None) -> dict[str, Lease]:
        """The held leases (live or expired) of these sessions, or of all."""
        ...

    # --- commands ----------------------------------------------------------------------

    async def issue_command(
        self,
        command_id: str,
        session_id: str,
        kind: str,
        payload: Mapping[str, object],
        issued_by: str,
    ) -> Command:
        """Record a pending command and wake whoever waits for commands."""
        ...

    async def commands(
        self,
        *,
        session_ids: Collection[str] | None = None,
        status: str | None = None,
        after: int = 0,
    ) -> list[Command]:
        """Commands in the order they were issued (numbers above `after`)."""
        ...

    async def command(self, command_id: str) -> Command | None: ...

    async def settle_command(
        self, command_id: str, status: str, reason: str | None = None, *, by: str | None = None
    ) -> bool:
        """Mark a pending command applied or rejected; False when it was not pending."""
        ...

    def command_signal(self) -> asyncio.Event:
        """Taken before reading commands, then handed to `wait_for_commands`: a change
        that lands between the read and the wait still wakes the waiter."""
        ...

    async def wait_for_commands(self, signal: asyncio.Event, timeout: float) -> None:
        """Return when commands may have changed since `signal` was taken (issued or
        settled, by any process), or after `timeout` seconds; a store without
        notifications (SQLite) polls every COMMAND_POLL_S."""
        ...

    # --- the queue of submitted sessions (see store.queue) ------------------------------

    async def enqueue(self, entry: QueuedSession) -> QueuedSession:
        """Queue a submitted session; returns it with its number and submission time."""
        ...

    async def claim_queued(
        self, holder: LeaseHolder, duration_s: float, limits: QueueLimits
    ) -> Claim | None:
        """In one transaction: adopt an orphan (a claimed session whose lease expired or
        was given up), else claim the first queued session the limits leave room for;
        take its lease for `holder`. None when there is nothing to claim."""
        ...

    async def finish_queued(self, session_id: str, worker: str) -> bool:
        """Mark a session `worker` claimed as done; False when it is not its (any more)."""
        ...

    async def queued_sessions(self, states: Sequence[str] = ...) -> list[QueuedSession]:
        """Submitted sessions in these states, in the order they were submitted."""
        ...

    async def close(self) -> None: ...
