"""Machinery both backends share: the group-commit writer, the commit signal that wakes
subscribers, the subscription loop and the session summary projection.

A backend supplies how a batch is written, how rows are read and how connections close;
everything about batching, waking and folding events into summaries lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import json.encoder
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeVar

from harness_tui.events import (
    AGENT_NEVER_ASKS,
    AGENT_STARTED,
    APPROVAL_REQUESTED,
    APPROVAL_RESOLVED,
    MODEL_COMPLETED,
    SANDBOX_DISABLED,
    SANDBOX_UNAVAILABLE,
    SESSION_CREATED,
    SESSION_STATUS,
    TASK_CANCELLED,
    TASK_COMPLETED,
    TASK_FAILED,
    TASK_STARTED,
    TURN_COMPLETED,
    Event,
)
from harness_tui.store.base import (
    Checkpoint,
    DuplicateEventError,
    LeaseLostError,
    StoreError,
    StoreLostError,
    StoreUnavailableError,
    UnknownSessionError,
)
from harness_tui.store.control import COMMAND_POLL_S, Fence

# One transaction never carries more than this many events (a single append() larger
# than this still commits whole: its events are atomic).
MAX_BATCH_EVENTS = 8000

# Page size of the subscription's catch-up reads.
SUBSCRIBE_PAGE = 500

# How long an operation that failed for a passing reason (StoreUnavailableError) is
# tried again before its caller hears of it ([store] retry_s): a restarting PostgreSQL
# is back within seconds. The waits between tries double from the first to the last.
RETRY_S = 10.0
RETRY_FIRST_WAIT_S = 0.05
RETRY_LAST_WAIT_S = 1.0

_Result = TypeVar("_Result")

# The JSON of event data, compact and UTF-8 as is. The C encoder is built once: going
# through json.dumps builds a new one for every call, which costs as much as the
# encoding itself on the append path.
# (The stubs leave the accelerator out, hence getattr.)
_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
encode_json: Callable[[Any], str]
if _c_encoder is None:  # pragma: no cover - interpreters without the C accelerator
    encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
else:
    _encode_data = _c_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )

    def _encode_with_c(value: Any) -> str:
        return "".join(_encode_data(value, 0))

    encode_json = _encode_with_c


# A batch write returns, per call, either its positions or the error that failed only
# that call (a duplicate or an invalid event); anything it raises fails the whole batch.
CallResult = list[int] | StoreError


class PendingAppend:
    """One append() call waiting for the writer: the events, their rows as the backend
    binds them (prepared by the caller, so the writer does no per-event encoding), the
    sessions it carries on and the future the caller awaits.

    Every backend lays a row out as (session_id, seq, ts, type, data); the summary
    projection reuses the encoded `ts` so it is never encoded twice.
    """

    __slots__ = ("events", "rows", "continues", "future", "fence", "command")

    def __init__(
        self,
        events: Sequence[Event],
        rows: list[Any],
        future: asyncio.Future[list[int]],
        fence: Fence | None = None,
        command: str | None = None,
    ) -> None:
        self.events = events
        self.rows = rows
        self.continues = continued_sessions(events)
        self.future = future
        # Written only while this lease holds (checked in the batch's transaction).
        self.fence = fence
        # The command these events apply, marked applied in the same transaction.
        self.command = command


def continued_sessions(events: Sequence[Event]) -> frozenset[str]:
    """The sessions a call carries on rather than starts: its first event for each has
    seq > 1. The store writes such a call only while the session is in the log."""
    if len(events) == 1:  # the engine's usual call
        event = events[0]
        return frozenset((event.session_id,)) if event.seq > 1 else frozenset()
    first: dict[str, int] = {}
    for event in events:
        first.setdefault(event.session_id, event.seq)
    return frozenset(sid for sid, seq in first.items() if seq > 1)


def sessions_carried_on(calls: Iterable[PendingAppend]) -> set[str]:
    wanted: set[str] = set()
    for call in calls:
        wanted |= call.continues
    return wanted


def refuse_unknown_sessions(
    calls: Sequence[PendingAppend], existing: Collection[str], where: str
) -> dict[int, StoreError]:
    """By index, the calls that carry on a session that is not in the log (`existing`
    holds those that are) nor started by an earlier call of the same batch."""
    known = set(existing)
    refused: dict[int, StoreError] = {}
    for index, call in enumerate(calls):
        missing = sorted(call.continues - known)
        if missing:
            refused[index] = UnknownSessionError(
                f"session {missing[0]} is not in the store {where} "
                "(deleted by GC retention, or never created)"
            )
            continue
        known.update(event.session_id for event in call.events)
    return refused


def fenced_calls(calls: Sequence[PendingAppend]) -> list[tuple[int, Fence]]:
    """(index, fence) of the calls that carry a fence."""
    return [(index, call.fence) for index, call in enumerate(calls) if call.fence is not None]


def refuse_fenced(
    calls: Sequence[PendingAppend],
    holders: Mapping[str, tuple[str | None, int, str]],
    where: str,
) -> dict[int, StoreError]:
    """By index, the fenced calls whose lease is no longer theirs. `holders` maps each
    fenced session to its lease row as the transaction reads it: (owner or None when
    released, token, description of the holder)."""
    refused: dict[int, StoreError] = {}
    for index, fence in fenced_calls(calls):
        owner, token, holder = holders.get(fence.session_id, (None, 0, ""))
        if owner == fence.owner and token == fence.token:
            continue
        now = f"it is held by {holder}" if owner else "nobody holds it now"
        refused[index] = LeaseLostError(
            f"session {fence.session_id}: engine {fence.owner} no longer holds its lease "
            f"in {where} ({now}); nothing was written"
        )
    return refused


def command_payload(payload: Mapping[str, object]) -> str:
    return encode_json(dict(payload))


def still_prunable(
    rows: Iterable[tuple[str, str | None, str, int]],
    seen: Mapping[str, int],
    unless_status: Collection[str],
    present: Collection[str],
) -> list[str]:
    """Which of the sessions a retention decision chose may go now, inside the delete's
    transaction. `rows` are their summaries as they are now (session_id, parent_id,
    status, last_position); `present` holds which of their parents are in the log.

    A session goes only if nothing was appended since the decision (same last
    position) and it is not live; a subagent only with its parent, or when its parent
    is gone already. Returns the ids in the order of `seen`.
    """
    going = {
        sid: parent
        for sid, parent, status, last_position in rows
        if seen.get(sid) == last_position and status not in unless_status
    }
    changed = True
    while changed:  # a subagent kept keeps its own subagents, and so on down
        changed = False
        for sid, parent in list(going.items()):
            if parent is not None and parent not in going and parent in present:
                del going[sid]
                changed = True
    return [sid for sid in seen if sid in going]


# --- the summary projection ------------------------------------------------------------


class SessionDelta:
    """What one batch changes in one session's summary row.

    `created` says whether the batch holds the session.created event; only then are
    the descriptive fields written. `status` is None when the batch does not change it.
    `approvals` and `tasks` are what the batch adds to the pending approvals and
    running tasks; `approvals_reset` says a turn ended in it, which drops the pending
    approvals counted before (`approvals` then counts from zero).
    """

    # created_at and updated_at hold the backend's encoding of the timestamp.
    __slots__ = (
        "session_id",
        "created",
        "title",
        "project",
        "provider",
        "model",
        "parent_id",
        "status",
        "created_at",
        "updated_at",
        "last_seq",
        "last_position",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "preset",
        "approvals",
        "approvals_reset",
        "tasks",
        "system",
        "sandbox_mode",
        "unconfined",
    )

    def __init__(self, session_id: str, ts: Any) -> None:
        self.session_id = session_id
        self.created = False
        self.title = ""
        self.project = ""
        self.provider = ""
        self.model = ""
        self.parent_id: str | None = None
        self.status: str | None = None
        self.created_at = ts
        self.updated_at = ts
        self.last_seq = 0
        self.last_position = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.preset: str | None = None
        self.approvals = 0
        self.approvals_reset = False
        self.tasks = 0
        self.system = False
        self.sandbox_mode: str | None = None
        self.unconfined: str | None = None

    @property
    def activity_only(self) -> bool:
        """True when the batch only moved the session on (no creation, status or
        usage): the common case, which a backend may write with a leaner statement."""
        return (
            not self.created
            and self.status is None
            and not self.input_tokens
            and not self.output_tokens
            and not self.cost_usd
            and not self.approvals
            and not self.approvals_reset
            and not self.tasks
            and self.unconfined is None
        )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


_Number = TypeVar("_Number", int, float)


def _number(value: Any, kind: type[_Number]) -> _Number:
    # Usage comes from providers; a malformed figure must not fail the append.
    try:
        return kind(value or 0)
    except (TypeError, ValueError):
        return kind(0)


def _project(delta: SessionDelta, event: Event, ts: Any) -> None:
    data = event.data
    kind = event.type
    if kind == SESSION_CREATED:
        delta.created = True
        delta.title = _text(data.get("title"))
        delta.project = _text(data.get("project"))
        delta.provider = _text(data.get("provider"))
        delta.model = _text(data.get("model"))
        parent = data.get("parent_id")
        delta.parent_id = None if parent is None else str(parent)
        preset = data.get("preset")
        delta.preset = None if preset is None else str(preset)
        delta.system = bool(data.get("system"))
        sandbox = data.get("sandbox")
        if isinstance(sandbox, dict) and sandbox.get("mode") is not None:
            delta.sandbox_mode = str(sandbox["mode"])
        delta.status = "idle"
        delta.created_at = ts
    elif kind == SESSION_STATUS:
        status = data.get("status")
        if status is not None:
            delta.status = str(status)
    elif kind == MODEL_COMPLETED:
        usage = data.get("usage")
        if isinstance(usage, dict):
            delta.input_tokens += _number(usage.get("input_tokens"), int)
            delta.output_tokens += _number(usage.get("output_tokens"), int)
            delta.cost_usd += _number(usage.get("cost_usd"), float)
    elif kind == APPROVAL_REQUESTED:
        delta.approvals += 1
    elif kind == APPROVAL_RESOLVED:
        delta.approvals -= 1
    elif kind == TURN_COMPLETED:
        # Nobody can answer an approval once its turn is over.
        delta.approvals_reset = True
        delta.approvals = 0
        # An external agent's own account of the turn, where it gives one in total.
        usage = data.get("usage")
        if isinstance(usage, dict):
            delta.input_tokens += _number(usage.get("input_tokens"), int)
            delta.output_tokens += _number(usage.get("output_tokens"), int)
            delta.cost_usd += _number(usage.get("cost_usd"), float)
    elif kind == TASK_STARTED:
        delta.tasks += 1
    elif kind in _TASK_ENDS:
        delta.tasks -= 1
    elif kind in (SANDBOX_DISABLED, SANDBOX_UNAVAILABLE):
        delta.unconfined = _text(data.get("reason")) or kind
    elif kind == AGENT_STARTED and data.get("asks_permission") is False:
        delta.unconfined = AGENT_NEVER_ASKS


_TASK_ENDS = frozenset({TASK_COMPLETED, TASK_FAILED, TASK_CANCELLED})
_PROJECTED_TYPES = frozenset(
    {
        SESSION_CREATED,
        SESSION_STATUS,
        MODEL_COMPLETED,
        APPROVAL_REQUESTED,
        APPROVAL_RESOLVED,
        TURN_COMPLETED,
        TASK_STARTED,
        *_TASK_ENDS,
        SANDBOX_DISABLED,
        SANDBOX_UNAVAILABLE,
        AGENT_STARTED,
    }
)


def fold_summaries(
    calls: Sequence[PendingAppend], positions: Sequence[CallResult]
) -> list[SessionDelta]:
    """Fold the committed calls of one batch into one delta per touched session.

    Calls whose result is an error are skipped: their events are not in the log.
    """
    deltas: dict[str, SessionDelta] = {}
    for call, result in zip(calls, positions, strict=True):
        if isinstance(result, StoreError):
            continue
        for event, row, position in zip(call.events, call.rows, result, strict=True):
            ts = row[2]
            delta = deltas.get(event.session_id)
            if delta is None:
                delta = deltas[event.session_id] = SessionDelta(event.session_id, ts)
            if event.seq > delta.last_seq:
                delta.last_seq = event.seq
            delta.last_position = position
            delta.updated_at = ts
            if event.type in _PROJECTED_TYPES:
                _project(delta, event, ts)
    return list(deltas.values())


def split_deltas(deltas: list[SessionDelta]) -> tuple[list[SessionDelta], list[SessionDelta]]:
    """(activity only, the rest). Backends write the first kind with a lean UPDATE and
    fall back to their upsert for it only when a session has no row yet; the upsert
    repeats such a delta harmlessly (max, coalesce and +0)."""
    touched: list[SessionDelta] = []
    full: list[SessionDelta] = []
    for delta in deltas:
        (touched if delta.activity_only else full).append(delta)
    return touched, full


def split_positions(calls: Sequence[PendingAppend], first: int) -> list[CallResult]:
    """Hand out consecutive positions, starting at `first`, to the calls in order."""
    results: list[CallResult] = []
    for call in calls:
        count = len(call.rows)
        results.append(list(range(first, first + count)))
        first += count
    return results


def repeated_event(events: Sequence[Event]) -> Event | None:
    """The first event of one call whose (session_id, seq) an earlier one already uses."""
    seen: set[tuple[str, int]] = set()
    for event in events:
        key = (event.session_id, event.seq)
        if key in seen:
            return event
        seen.add(key)
    return None


def duplicate_error(event: Event) -> DuplicateEventError:
    return DuplicateEventError(
        f"session {event.session_id} already has an event with seq {event.seq}"
    )


def migrations_to_apply(
    migrations: Sequence[tuple[int, Any]], applied: set[int], where: str
) -> list[tuple[int, Any]]:
    known = {version for version, _ in migrations}
    unknown = sorted(applied - known)
    if unknown:
        raise StoreError(
            f"{where} has schema version {unknown[-1]}, newer than this harness-tui "
            f"understands (up to {max(known)}); upgrade harness-tui"
        )
    return [(version, sql) for version, sql in migrations if version not in applied]


# The summaries `sessions(live=True)` returns, and what `session_counts()` adds up;
# the same SQL on both backends.
LIVE_SESSIONS_WHERE = (
    "status IN ('running', 'waiting', 'queued') OR pending_approvals > 0 OR running_tasks > 0"
)
SESSION_COUNTS = """
SELECT
    count(*) FILTER (WHERE NOT system),
    count(*) FILTER (WHERE NOT system AND parent_id IS NULL),
    CAST(coalesce(sum(input_tokens) FILTER (WHERE NOT system), 0) AS BIGINT),
    CAST(coalesce(sum(output_tokens) FILTER (WHERE NOT system), 0) AS BIGINT),
    coalesce(sum(cost_usd) FILTER (WHERE NOT system), 0),
    coalesce(max(last_position), 0)
FROM sessions
"""
# --- checkpoints ---------------------------------------------------------------------------


def encode_checkpoint(state: Any, sessions: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """A checkpoint's state and parts as the JSON text both backends store."""
    try:
        return encode_json(state), [(sid, encode_json(part)) for sid, part in sessions.items()]
    except (TypeError, ValueError, RecursionError) as exc:
        raise StoreError(f"checkpoint cannot be stored: {exc}") from None


def decode_checkpoint(
    name: str, version: int, position: int, state: str, parts: Iterable[Sequence[Any]]
) -> Checkpoint | None:
    """The checkpoint from its stored text; None if any of it does not decode (someone
    edited it, or a disk lost it): a cache that cannot be read is rebuilt."""
    decode = json.JSONDecoder().decode
    try:
        with collection_paused():
            return Checkpoint(
                name=name,
                version=version,
                position=position,
                state=decode(state),
                sessions={row[0]: decode(row[1]) for row in parts},
            )
    except (TypeError, ValueError):
        return None


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    """Python's cycle collector paused while many small objects that all stay alive are
    made (a checkpoint's parts): it would otherwise walk them again and again as they
    pile up, which took most of the time of loading a checkpoint of 34,000 sessions.
    JSON values hold no cycles, so it misses nothing meanwhile. (Freezing them out of
    its later rounds too would save one more walk, but in a long-running dashboard it
    would keep whatever else is alive then from ever being collected.)"""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def may_save(saved: Sequence[Any] | None, version: int, position: int, *, rebuilt: bool) -> bool:
    """Whether a checkpoint at `position` may replace the saved one, `saved` being its
    (version, position) or None. A rebuilt fold (from nothing) is complete on its own:
    it replaces any other version, or the same version no further on. An incremental
    fold is only a change to the checkpoint it started from: it needs that checkpoint
    still there, in its version, and no further on than itself (a process that got
    further has saved, and wins)."""
    if saved is None:
        return rebuilt
    saved_version, saved_position = saved[0], saved[1]
    if saved_version != version:
        return rebuilt
    return bool(saved_position <= position)


# --- waking subscribers ------------------------------------------------------------------


class CommitSignal:
    """Wakes every in-process subscriber after a commit.

    A subscriber takes `current()` before it reads, so a commit that lands between its
    read and its wait still wakes it: each notify() sets the old event and installs a
    fresh one.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()


async def wait_for_signal(event: asyncio.Event, timeout: float) -> None:
    """Return when `event` is set or after `timeout` seconds (the cross-process poll)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        pass


# --- the store skeleton --------------------------------------------------------------------


class GroupCommitStore(ABC):
    """append/subscribe/close on top of one writer task that group-commits.

    Callers queue their calls; the writer takes everything queued while the previous
    transaction ran (up to MAX_BATCH_EVENTS) and commits it in one transaction, so
    concurrent sessions share commits without anyone waiting on a timer. append()
    returns once its own transaction has committed. A batch that fails for a passing
    reason (StoreUnavailableError) is tried again for `retry_s`; a store whose file is
    lost (StoreLostError) fails every append from then on.

    A backend implements `_encode(events)`, `_write_batch(calls, retry)`,
    `read_all(...)` and `_close_connections()`, and calls `_start_writer()` once it is
    open.
    """

    url: str
    # What messages call the store: the file, or the server and database (never the
    # URL, which may carry a password).
    name: str
    poll_interval: float
    retry_s: float

    def _init_writer(self) -> None:
        self._pending: deque[PendingAppend] = deque()
        self._pending_rows = 0
        self._wake = asyncio.Event()
        self._signal = CommitSignal()
        # Wakes whoever waits for commands in this process (the poll covers the others).
        self._command_signal = CommitSignal()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._closed = False
        self._close_task: asyncio.Task[None] | None = None
        # Set once the store is lost for good (its file deleted): every append fails.
        self._lost: StoreLostError | None = None
        # Set when an operation gave up retrying, until one succeeds again: meanwhile
        # each operation is tried once, so a store that is down fails fast instead of
        # making every caller wait out the retry time again (a shutdown records a
        # dozen ends).
        self._unavailable = False

    def _start_writer(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"store writer {self.name}")

    # Backend hooks.

    @abstractmethod
    def _encode(self, events: Sequence[Event]) -> list[Any]: ...

    @abstractmethod
    async def _write_batch(self, calls: list[PendingAppend], retry: bool) -> list[CallResult]:
        """Write the calls in one transaction. `retry`: an earlier try of this batch
        failed, perhaps after it committed (a connection lost during COMMIT), so events
        found already stored as they are count as written by this batch."""

    @abstractmethod
    async def read_all(self, after_position: int = 0, limit: int = 1000) -> list[Event]: ...

    @abstractmethod
    async def _close_connections(self) -> None: ...

    async def _before_subscribe(self) -> None:  # noqa: B027 - optional: most need nothing
        """Called once as a subscription starts, before its first read."""

    async def _before_waiting(self) -> None:  # noqa: B027 - optional: most need nothing
        """Called before a subscription waits for the next commit (to restore a lost
        way of hearing of commits; the poll covers the meantime)."""

    # The contract.

    async def append(
        self,
        events: Sequence[Event],
        *,
        fence: Fence | None = None,
        command: str | None = None,
    ) -> list[int]:
        if self._closing:
            raise StoreError(f"the store {self.name} is closed")
        if self._lost is not None:
            raise StoreLostError(*self._lost.args)
        if not events:
            return []
        try:
            rows = self._encode(events)
        except (TypeError, ValueError, RecursionError) as exc:
            raise StoreError(f"event cannot be stored: {exc}") from None
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._pending.append(PendingAppend(events, rows, future, fence, command))
        self._pending_rows += len(rows)
        self._wake.set()
        return await future

    async def subscribe(self, after_position: int = 0) -> AsyncIterator[Event]:
        await self._before_subscribe()
        position = after_position
        while not self._closed:
            woken = self._signal.current()
            try:
                events = await self.read_all(position, SUBSCRIBE_PAGE)
            except StoreError:
                # The store closed under the read: the stream simply ends.
                if self._closing:
                    return
                raise
            for event in events:
                yield event
                position = event.position  # type: ignore[assignment]
            if len(events) < SUBSCRIBE_PAGE and not self._closed:
                await self._before_waiting()
                await wait_for_signal(woken, self.poll_interval)

    # How long a command waiter sleeps at most before it looks again (a change made
    # by another process and not notified).
    command_poll_interval: float = COMMAND_POLL_S

    def command_signal(self) -> asyncio.Event:
        return self._command_signal.current()

    async def wait_for_commands(self, signal: asyncio.Event, timeout: float) -> None:
        if self._closed:
            return
        await self._before_command_wait()
        await wait_for_signal(signal, max(0.0, min(timeout, self.command_poll_interval)))

    async def _before_command_wait(self) -> None:  # noqa: B027 - optional
        """Called before a command waiter sleeps (PostgreSQL: be listening)."""

    def _commands_changed(self) -> None:
        self._command_signal.notify()

    async def close(self) -> None:
        """Commit what is queued, stop the writer, wake subscribers, close connections.

        Idempotent; concurrent callers all wait for the same shutdown.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._close_task)

    async def _shutdown(self) -> None:
        self._closing = True
        self._wake.set()
        try:
            if self._writer is not None:
                await self._writer
        finally:
            self._closed = True
            self._signal.notify()
            self._command_signal.notify()
            await self._close_connections()

    # The writer.

    def _take_batch(self) -> list[PendingAppend]:
        pending = self._pending
        if self._pending_rows <= MAX_BATCH_EVENTS:
            count = len(pending)
        else:
            count = 0
            size = 0
            for call in pending:
                if count and size + len(call.rows) > MAX_BATCH_EVENTS:
                    break
                count += 1
                size += len(call.rows)
        batch = []
        for _ in range(count):
            call = pending.popleft()
            self._pending_rows -= len(call.rows)
            # A caller cancelled before its batch started: its events are withdrawn.
            if not call.future.done():
                batch.append(call)
        return batch

    async def _write_loop(self) -> None:
        try:
            while True:
                if self._pending:
                    batch = self._take_batch()
                    if batch:
                        await self._commit(batch)
                    continue
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
        finally:
            # Only reached early if the writer is cancelled (the event loop is going
            # away): no caller may be left waiting for a commit that never comes.
            self._fail(list(self._pending), "stopped before the append committed")
            self._pending.clear()
            self._pending_rows = 0

    def _fail(self, calls: list[PendingAppend], reason: str) -> None:
        self._fail_with(calls, StoreError(f"{self.name}: {reason}"))

    @staticmethod
    def _fail_with(calls: list[PendingAppend], exc: StoreError) -> None:
        for call in calls:
            if not call.future.done():
                # One exception object per caller: raising a shared one in many tasks
                # would splice their tracebacks together.
                call.future.set_exception(type(exc)(*exc.args))

    async def _retrying(self, operation: Callable[[bool], Awaitable[_Result]]) -> _Result:
        """`operation(retry)`, tried again with growing waits while it raises
        StoreUnavailableError, for up to `retry_s` seconds (once, while the store is
        known to be unavailable); then its last error, saying how long it was tried."""
        wait = RETRY_FIRST_WAIT_S
        deadline = time.monotonic() + (0.0 if self._unavailable else self.retry_s)
        retry = False
        while True:
            try:
                result = await operation(retry)
            except StoreUnavailableError as exc:
                if time.monotonic() + wait > deadline or self._closed:
                    self._unavailable = True
                    if retry:
                        raise StoreUnavailableError(
                            f"{exc} (still failing after {self.retry_s:g} s of retries)"
                        ) from None
                    raise
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_LAST_WAIT_S)
                retry = True
                continue
            self._unavailable = False
            return result

    async def _commit(self, batch: list[PendingAppend]) -> None:
        try:
            if self._lost is not None:
                raise self._lost
            results = await self._retrying(lambda retry: self._write_batch(batch, retry))
        except asyncio.CancelledError:
            self._fail(batch, "stopped before the append committed")
            raise
        except StoreLostError as exc:
            # Nothing queued, now or later, can be written where anyone would see it.
            self._lost = exc
            self._fail_with(batch, exc)
            self._fail_with(list(self._pending), exc)
            return
        except StoreError as exc:
            self._fail_with(batch, exc)
            return
        except Exception as exc:
            self._fail(batch, str(exc))
            return
        if any(call.command is not None for call in batch):
            self._command_signal.notify()
        for call, result in zip(batch, results, strict=True):
            future = call.future
            if future.done():
                continue
            if isinstance(result, StoreError):
                future.set_exception(result)
            else:
                future.set_result(result)
        self._signal.notify()
