"""The PostgreSQL event store (asyncpg), for several engines sharing one log.

The writer group-commits each batch with one bulk insert; every operation (a batch, a
query, a deletion) takes a connection of its own from a small pool for just its
duration, so no connection ever carries two operations at once, and one the server
dropped (restarted, or `pg_terminate_backend`) is replaced by the pool instead of being
handed to the next operation. Subscribers share one LISTEN connection, restored when
lost, and poll as a fallback. Operations that fail for a passing reason (the connection
lost, the server restarting) are retried for `[store] retry_s`.

Every writer, in any process, takes the same transaction-level advisory lock before it
inserts, so positions commit in the order they were handed out: a tailing reader that
has seen position N never later finds a smaller one appear.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg

from harness_tui.events import Event
from harness_tui.store._common import (
    LIVE_SESSIONS_WHERE,
    RETRY_S,
    SESSION_COUNTS,
    CallResult,
    GroupCommitStore,
    PendingAppend,
    command_payload,
    decode_checkpoint,
    duplicate_error,
    encode_checkpoint,
    encode_json,
    fenced_calls,
    fold_summaries,
    may_save,
    refuse_fenced,
    refuse_unknown_sessions,
    repeated_event,
    sessions_carried_on,
    split_deltas,
    still_prunable,
)
from harness_tui.store.base import (
    Checkpoint,
    SessionCounts,
    SessionSummary,
    StoreError,
    StoreUnavailableError,
)
from harness_tui.store.control import PENDING, Command, Fence, Lease, LeaseHolder
from harness_tui.store.postgres_queue import PostgresQueue
from harness_tui.store.postgres_setup import CONNECT_TIMEOUT, connect, describe, migrate, reason

# Subscribers wake on NOTIFY at once; the poll only covers a lost LISTEN connection.
POLL_INTERVAL = 1.0
NOTIFY_CHANNEL = "harness_events"

# Advisory lock key (arbitrary, fixed; postgres_setup.py holds the migrations' one):
# it serialises writers across processes.
_WRITE_LOCK = 7_274_101

# One simple-protocol round trip opens the transaction, queues the wake-up (delivered
# at commit) and waits for the write lock.
_BEGIN_WRITE = (
    f"BEGIN; SELECT pg_advisory_xact_lock({_WRITE_LOCK}), pg_notify('{NOTIFY_CHANNEL}', '')"
)

# ORDER BY ord: identities are handed out in the order the caller queued the events.
_INSERT_EVENTS = """
WITH inserted AS (
    INSERT INTO events (session_id, seq, ts, type, data)
    SELECT session_id, seq, ts, type, data::jsonb
    FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[])
        WITH ORDINALITY AS e(session_id, seq, ts, type, data, ord)
    ORDER BY ord
    RETURNING position
)
SELECT array_agg(position ORDER BY position) FROM inserted
"""

# The same, for a whole batch, but only if every session it carries on ($6) is in the
# log and every lease its calls are fenced by ($7 sessions, $8 owners, $9 tokens) is
# still theirs: it returns the missing sessions and the fenced ones (NULL when none) and
# inserts nothing if there are any. One round trip, so the checks cost the group commit
# nothing extra; the write lock keeps every lease change out until it commits.
_INSERT_EVENTS_IF_SESSIONS = """
WITH missing AS (
    SELECT array_agg(m.sid) AS ids
    FROM unnest($6::text[]) AS m(sid)
    WHERE NOT EXISTS (SELECT 1 FROM sessions AS s WHERE s.session_id = m.sid)
),
fenced AS (
    SELECT array_agg(f.sid) AS ids
    FROM unnest($7::text[], $8::text[], $9::bigint[]) AS f(sid, owner, token)
    WHERE NOT EXISTS (
        SELECT 1 FROM leases AS l
        WHERE l.session_id = f.sid AND l.owner = f.owner AND l.token = f.token
    )
),
inserted AS (
    INSERT INTO events (session_id, seq, ts, type, data)
    SELECT session_id, seq, ts, type, data::jsonb
    FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[], $5::text[])
        WITH ORDINALITY AS e(session_id, seq, ts, type, data, ord)
    WHERE (SELECT ids FROM missing) IS NULL AND (SELECT ids FROM fenced) IS NULL
    ORDER BY ord
    RETURNING position
)
SELECT (SELECT ids FROM missing), (SELECT ids FROM fenced),
    (SELECT array_agg(position ORDER BY position) FROM inserted)
"""

_LEASE_COLUMNS = "session_id, owner, host, pid, pid_start, token, expires_at"
_LEASE_ROW = f"{_LEASE_COLUMNS}, expires_at <= clock_timestamp()"

# One conditional write: taken only if nobody holds it, it expired, the holder asks
# again ($2 already holds it: renewed) or its token is $7 (a holder known dead).
_ACQUIRE_LEASE = f"""
INSERT INTO leases ({_LEASE_COLUMNS})
VALUES ($1, $2, $3, $4, $5, 1, clock_timestamp() + make_interval(secs => $6))
ON CONFLICT (session_id) DO UPDATE SET
    owner = EXCLUDED.owner,
    host = EXCLUDED.host,
    pid = EXCLUDED.pid,
    pid_start = EXCLUDED.pid_start,
    token = CASE WHEN leases.owner = EXCLUDED.owner THEN leases.token ELSE leases.token + 1 END,
    expires_at = EXCLUDED.expires_at
WHERE leases.owner IS NULL
    OR leases.expires_at <= clock_timestamp()
    OR leases.owner = EXCLUDED.owner
    OR ($7 <> 0 AND leases.token = $7)
RETURNING {_LEASE_ROW}
"""

_COMMAND_COLUMNS = (
    "command_id, session_id, kind, payload::text, issued_by, issued_at, status, reason, "
    "applied_at, number, settled_by"
)
COMMANDS_CHANNEL = "harness_commands"
# Applied by the engine holding the session's lease (which the same transaction checked).
_MARK_APPLIED = """
UPDATE commands AS c SET status = 'applied', applied_at = clock_timestamp(),
    settled_by = (
        SELECT 'engine ' || l.owner || ' on ' || l.host FROM leases AS l
        WHERE l.session_id = m.session_id AND l.owner IS NOT NULL
    )
FROM unnest($1::text[], $2::text[]) AS m(command_id, session_id)
WHERE c.command_id = m.command_id AND c.status = 'pending'
"""

_SESSIONS_AMONG = "SELECT session_id FROM sessions WHERE session_id = ANY($1::text[])"
_RETENTION_ROWS = (
    "SELECT session_id, parent_id, status, last_position FROM sessions "
    "WHERE session_id = ANY($1::text[])"
)

# Update the sessions that have a row, insert the rest; the write lock makes the pair
# race-free. `created` says whether the batch holds the session.created event.
_UPSERT_SESSIONS = """
WITH d AS (
    SELECT * FROM unnest(
        $1::text[], $2::bool[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::bigint[],
        $13::bigint[], $14::bigint[], $15::float8[], $16::text[], $17::bigint[], $18::bool[],
        $19::bigint[], $20::bool[], $21::text[], $22::text[]
    ) AS d(session_id, created, title, project, provider, model, parent_id, status,
           created_at, updated_at, last_seq, last_position, input_tokens, output_tokens,
           cost_usd, preset, approvals, approvals_reset, tasks, system, sandbox_mode,
           unconfined)
),
updated AS (
    UPDATE sessions AS s SET
        title = CASE WHEN d.created THEN d.title ELSE s.title END,
        project = CASE WHEN d.created THEN d.project ELSE s.project END,
        provider = CASE WHEN d.created THEN d.provider ELSE s.provider END,
        model = CASE WHEN d.created THEN d.model ELSE s.model END,
        parent_id = CASE WHEN d.created THEN d.parent_id ELSE s.parent_id END,
        created_at = CASE WHEN d.created THEN d.created_at ELSE s.created_at END,
        status = COALESCE(d.status, s.status),
        updated_at = GREATEST(s.updated_at, d.updated_at),
        last_seq = GREATEST(s.last_seq, d.last_seq),
        last_position = GREATEST(s.last_position, d.last_position),
        input_tokens = s.input_tokens + d.input_tokens,
        output_tokens = s.output_tokens + d.output_tokens,
        cost_usd = s.cost_usd + d.cost_usd,
        preset = CASE WHEN d.created THEN d.preset ELSE s.preset END,
        system = CASE WHEN d.created THEN d.system ELSE s.system END,
        sandbox_mode = CASE WHEN d.created THEN d.sandbox_mode ELSE s.sandbox_mode END,
        unconfined = COALESCE(d.unconfined, s.unconfined),
        pending_approvals = GREATEST(
            0, CASE WHEN d.approvals_reset THEN 0 ELSE s.pending_approvals END + d.approvals
        ),
        running_tasks = GREATEST(0, s.running_tasks + d.tasks)
    FROM d
    WHERE s.session_id = d.session_id
    RETURNING s.session_id
)
INSERT INTO sessions (session_id, title, project, provider, model, parent_id, status,
    created_at, updated_at, last_seq, last_position, input_tokens, output_tokens, cost_usd,
    preset, pending_approvals, running_tasks, system, sandbox_mode, unconfined)
SELECT session_id, title, project, provider, model, parent_id, COALESCE(status, 'idle'),
    created_at, updated_at, last_seq, last_position, input_tokens, output_tokens, cost_usd,
    preset, GREATEST(0, approvals), GREATEST(0, tasks), system, sandbox_mode, unconfined
FROM d
WHERE session_id NOT IN (SELECT session_id FROM updated)
"""

# Most batches only move sessions on; this is several times cheaper than the upsert.
_TOUCH_SESSIONS = """
UPDATE sessions AS s SET
    updated_at = GREATEST(s.updated_at, d.updated_at),
    last_seq = GREATEST(s.last_seq, d.last_seq),
    last_position = GREATEST(s.last_position, d.last_position)
FROM unnest($1::text[], $2::timestamptz[], $3::bigint[], $4::bigint[])
    AS d(session_id, updated_at, last_seq, last_position)
WHERE s.session_id = d.session_id
"""

_SAVE_CHECKPOINT = """
INSERT INTO projection_checkpoints (name, version, position, state, saved_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (name) DO UPDATE SET
    version = excluded.version,
    position = excluded.position,
    state = excluded.state,
    saved_at = excluded.saved_at
"""
# A part is saved only while its session is in the log: retention may have deleted it
# since the fold read its events.
_SAVE_PARTS = """
INSERT INTO projection_sessions (name, session_id, state)
SELECT $1, p.session_id, p.state
FROM unnest($2::text[], $3::text[]) AS p(session_id, state)
WHERE EXISTS (SELECT 1 FROM sessions AS s WHERE s.session_id = p.session_id)
ON CONFLICT (name, session_id) DO UPDATE SET state = excluded.state
"""

_EVENT_COLUMNS = "position, session_id, seq, ts, type, data::text"
_SESSION_COLUMNS = (
    "session_id, title, project, provider, model, parent_id, status, created_at, "
    "updated_at, last_seq, last_position, input_tokens, output_tokens, cost_usd, "
    "preset, pending_approvals, running_tasks, system, sandbox_mode, unconfined"
)

# Errors that belong to the events of one call, not to the connection or the batch.
_CALL_ERRORS = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


class _SessionsMissing(Exception):
    """A batch carries on a session that is not in the log: written call by call."""


# What sends a batch to the slow path, where each call succeeds or fails on its own.
_SLOW_PATH = (*_CALL_ERRORS, _SessionsMissing)

# Everything asyncpg raises when it cannot carry out an operation.
_DB_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# Failures that may pass: the connection lost or refused (a restart, a terminated
# backend, the network), the server shutting down or starting up, out of connections
# or disk, a serialization failure. What asyncpg's client side raises about a
# connection counts too: InterfaceError (closed), and InternalClientError ("cannot
# switch to state 15; another operation (2) is in progress": the server's goodbye to a
# terminated backend arrived while the connection sat idle, and the next query found
# it still consuming that error). The operation is tried again on another connection.
_PASSING_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
)

# Connections a store holds at most: the writer, a few concurrent queries.
POOL_SIZE = 4

_Result = TypeVar("_Result")

_decode_json = json.JSONDecoder().decode


def _event(row: Sequence[Any]) -> Event:
    return Event(
        session_id=row[1],
        seq=row[2],
        type=row[4],
        data=_decode_json(row[5]),
        ts=row[3],
        position=row[0],
    )


def _summary(row: Sequence[Any]) -> SessionSummary:
    return SessionSummary(*row)


def _discard_connection(attempt: asyncio.Future[asyncpg.Connection]) -> None:
    """A connection made for a caller that went away is closed (and a failure to make
    it, retrieved)."""
    if attempt.cancelled():
        return
    if attempt.exception() is None:
        attempt.result().terminate()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """How a connection is reset before it goes back to the pool: not at all. The
    operations here change no session state (their advisory lock is transaction-level),
    and asyncpg has already rolled back a transaction left open; the default reset
    would cost every operation one more round trip."""


class PostgresEventStore(PostgresQueue, GroupCommitStore):
    # Commands are heard of through NOTIFY; the poll only covers a lost LISTEN.
    command_poll_interval = POLL_INTERVAL

    def __init__(self, url: str, poll_interval: float, retry_s: float = RETRY_S) -> None:
        self.url = url
        self.name = describe(url)
        self.poll_interval = poll_interval
        self.retry_s = retry_s
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        # Connecting the listener, when under way.
        self._listening: asyncio.Task[None] | None = None
        # The pool's connection attempts under way (see _connect_new).
        self._connecting: set[asyncio.Future[asyncpg.Connection]] = set()
        self._init_writer()

    @classmethod
    async def open(
        cls, url: str, *, poll_interval: float = POLL_INTERVAL, retry_s: float = RETRY_S
    ) -> PostgresEventStore:
        store = cls(url, poll_interval, retry_s)
        try:
            # min_size=0: the pool keeps no connection up by itself, so one the server
            # dropped is replaced when next needed rather than by a background task
            # that reports each failed try while the server is away.
            store._pool = await asyncpg.create_pool(
                url,
                min_size=0,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT,
                reset=_keep_session,
                connect=store._connect_new,
            )
            try:
                conn = await store._pool.acquire()
            except _DB_ERRORS as exc:
                raise StoreError(
                    f"cannot reach PostgreSQL at {store.name}: {reason(exc)}"
                ) from None
            try:
                await migrate(conn, store.name)
            finally:
                await store._pool.release(conn)
        except StoreError:
            await store._close_connections()
            raise
        except _DB_ERRORS as exc:
            await store._close_connections()
            raise StoreError(f"cannot open the store at PostgreSQL {store.name}: {exc}") from None
        except BaseException:
            await store._close_connections()
            raise
        store._start_writer()
        return store

    async def _connect_new(self, *args: Any, **kwargs: Any) -> asyncpg.Connection:
        """How the pool connects: asyncpg.connect, carried to its end even when the
        operation that needed it is cancelled (a subscriber that goes away). Cancelled
        half-way through connecting, asyncpg leaves behind a future whose exception
        nobody retrieves, printed on stderr at exit; a connection made for nobody is
        closed, and close() waits for attempts still under way."""
        attempt = asyncio.ensure_future(asyncpg.connect(*args, **kwargs))
        self._connecting.add(attempt)
        attempt.add_done_callback(self._connecting.discard)
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(_discard_connection)
            raise

    async def _close_connections(self) -> None:
        if self._listening is not None:
            await self._listening  # it never raises, and connecting is bounded
        if self._connecting:
            await asyncio.wait(list(self._connecting))  # bounded by the connect timeout
        listener, self._listener = self._listener, None
        if listener is not None:
            await self._close_quietly(listener)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    await pool.close()
            except _DB_ERRORS:
                pool.terminate()

    async def _on_connection(
        self, operation: Callable[[asyncpg.Connection], Awaitable[_Result]], what: str
    ) -> _Result:
        """`operation` on a connection of its own from the pool, for its duration only.
        A failure that may pass becomes StoreUnavailableError (retried by the caller
        through `_retrying`), any other StoreError; both say `what` failed."""
        pool = self._pool
        if pool is None or self._closed:
            raise StoreError(f"the store {self.name} is closed")
        try:
            async with pool.acquire() as conn:
                return await operation(conn)
        except StoreError:
            raise
        except _PASSING_ERRORS as exc:
            raise StoreUnavailableError(
                f"{what} PostgreSQL at {self.name}: {reason(exc)}"
            ) from None
        except _DB_ERRORS as exc:
            raise StoreError(f"{what} PostgreSQL at {self.name}: {reason(exc)}") from None

    @staticmethod
    async def _close_quietly(conn: asyncpg.Connection) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await conn.close()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn.terminate()

    # --- writing ---------------------------------------------------------------------

    def _encode(self, events: Sequence[Event]) -> list[Any]:
        return [
            (event.session_id, event.seq, event.ts, event.type, encode_json(event.data))
            for event in events
        ]

    async def _write_batch(self, calls: list[PendingAppend], retry: bool) -> list[CallResult]:
        async def write(conn: asyncpg.Connection) -> list[CallResult]:
            try:
                return await self._write_together(conn, calls)
            except _SLOW_PATH:
                return await self._write_one_by_one(conn, calls, retry)

        return await self._on_connection(write, "cannot write to")

    async def _write_together(
        self, conn: asyncpg.Connection, calls: list[PendingAppend]
    ) -> list[CallResult]:
        rows = calls[0].rows if len(calls) == 1 else [row for call in calls for row in call.rows]
        wanted = sorted(sessions_carried_on(calls))
        await conn.execute(_BEGIN_WRITE)
        try:
            # Under the write lock, which retention's delete also takes: either the
            # delete committed first and the batch finds its session missing, or the
            # batch commits first and the delete, seeing the session touched, leaves it.
            fences = [fence for _, fence in fenced_calls(calls)]
            missing, fenced, positions = await conn.fetchrow(
                _INSERT_EVENTS_IF_SESSIONS,
                *_columns(rows),
                wanted,
                [fence.session_id for fence in fences],
                [fence.owner for fence in fences],
                [fence.token for fence in fences],
            )
            if missing or fenced:
                raise _SessionsMissing
            results: list[CallResult] = []
            start = 0
            for call in calls:
                end = start + len(call.rows)
                results.append(positions[start:end])
                start = end
            await self._write_summaries(conn, calls, results)
            await _mark_applied(conn, calls, results)
            await conn.execute("COMMIT")
        except BaseException:
            await self._rollback(conn)
            raise
        return results

    async def _write_one_by_one(
        self, conn: asyncpg.Connection, calls: list[PendingAppend], retry: bool
    ) -> list[CallResult]:
        """The slow path after a constraint failed: each call under its own savepoint,
        so only the offending calls fail and the rest of the batch still commits.

        On a `retry`, a call whose events are all stored exactly as it has them was
        committed by an earlier try whose answer was lost with its connection: it gets
        their positions, and its summary is not counted twice."""
        results: list[CallResult] = []
        wanted = sessions_carried_on(calls)
        written: list[PendingAppend] = []
        written_results: list[CallResult] = []
        await conn.execute(_BEGIN_WRITE)
        try:
            refused: dict[int, StoreError] = {}
            fenced = fenced_calls(calls)
            if fenced:
                rows = await conn.fetch(
                    "SELECT session_id, owner, token, host, pid FROM leases "
                    "WHERE session_id = ANY($1::text[])",
                    sorted({fence.session_id for _, fence in fenced}),
                )
                holders = {
                    row[0]: (row[1], row[2], f"engine {row[1]} (pid {row[4]} on {row[3]})")
                    for row in rows
                }
                refused = refuse_fenced(calls, holders, self.name)
            if wanted:
                rows = await conn.fetch(_SESSIONS_AMONG, sorted(wanted))
                existing = {row[0] for row in rows}
                if not existing >= wanted:
                    unknown = refuse_unknown_sessions(calls, existing, self.name)
                    for index, error in unknown.items():
                        refused.setdefault(index, error)
            for index, call in enumerate(calls):
                if index in refused:
                    results.append(refused[index])
                    continue
                await conn.execute("SAVEPOINT append_call")
                try:
                    positions = await conn.fetchval(_INSERT_EVENTS, *_columns(call.rows))
                except _CALL_ERRORS as exc:
                    await conn.execute("ROLLBACK TO SAVEPOINT append_call")
                    earlier = await self._stored_as_is(conn, call) if retry else None
                    results.append(
                        earlier if earlier is not None else await self._call_error(conn, call, exc)
                    )
                    continue
                await conn.execute("RELEASE SAVEPOINT append_call")
                results.append(positions)
                written.append(call)
                written_results.append(positions)
            await self._write_summaries(conn, written, written_results)
            await _mark_applied(conn, written, written_results)
            await conn.execute("COMMIT")
        except BaseException:
            await self._rollback(conn)
            raise
        return results

    async def _rollback(self, conn: asyncpg.Connection) -> None:
        if conn.is_closed():
            return
        try:
            await conn.execute("ROLLBACK")
        except _DB_ERRORS:
            # Cannot tell what state the session is in: start over on a fresh one.
            conn.terminate()

    @staticmethod
    async def _stored_as_is(conn: asyncpg.Connection, call: PendingAppend) -> list[int] | None:
        """The positions of the call's events if every one is stored with its seq, time,
        type and data, else None."""
        rows = await conn.fetch(
            "SELECT seq, position, ts, type, data::text FROM events "
            "WHERE session_id = $1 AND seq = ANY($2::bigint[])",
            call.events[0].session_id,
            [event.seq for event in call.events],
        )
        stored = {row[0]: row for row in rows}
        positions: list[int] = []
        for event, row in zip(call.events, call.rows, strict=True):
            found = stored.get(event.seq)
            if (
                event.session_id != call.events[0].session_id
                or found is None
                or (found[2], found[3]) != (row[2], row[3])
                or _decode_json(found[4]) != _decode_json(row[4])
            ):
                return None
            positions.append(found[1])
        return positions

    async def _call_error(
        self, conn: asyncpg.Connection, call: PendingAppend, exc: Exception
    ) -> StoreError:
        if isinstance(exc, asyncpg.UniqueViolationError):
            repeated = repeated_event(call.events)
            if repeated is not None:
                return duplicate_error(repeated)
            for event in call.events:
                taken = await conn.fetchval(
                    "SELECT 1 FROM events WHERE session_id = $1 AND seq = $2",
                    event.session_id,
                    event.seq,
                )
                if taken:
                    return duplicate_error(event)
        return StoreError(f"event cannot be stored in PostgreSQL at {self.name}: {exc}")

    @staticmethod
    async def _write_summaries(
        conn: asyncpg.Connection, calls: list[PendingAppend], results: list[CallResult]
    ) -> None:
        touched, full = split_deltas(fold_summaries(calls, results))
        if touched:
            status = await conn.execute(
                _TOUCH_SESSIONS,
                [d.session_id for d in touched],
                [d.updated_at for d in touched],
                [d.last_seq for d in touched],
                [d.last_position for d in touched],
            )
            if int(status.rsplit(" ", 1)[-1]) < len(touched):
                full.extend(touched)
        if full:
            await conn.execute(
                _UPSERT_SESSIONS,
                [d.session_id for d in full],
                [d.created for d in full],
                [d.title for d in full],
                [d.project for d in full],
                [d.provider for d in full],
                [d.model for d in full],
                [d.parent_id for d in full],
                [d.status for d in full],
                [d.created_at for d in full],
                [d.updated_at for d in full],
                [d.last_seq for d in full],
                [d.last_position for d in full],
                [d.input_tokens for d in full],
                [d.output_tokens for d in full],
                [d.cost_usd for d in full],
                [d.preset for d in full],
                [d.approvals for d in full],
                [d.approvals_reset for d in full],
                [d.tasks for d in full],
                [d.system for d in full],
                [d.sandbox_mode for d in full],
                [d.unconfined for d in full],
            )

    # --- reading ---------------------------------------------------------------------

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async def fetch(conn: asyncpg.Connection) -> list[Any]:
            rows: list[Any] = await conn.fetch(sql, *args)
            return rows

        try:
            return await self._retrying(
                lambda retry: self._on_connection(fetch, "cannot read from")
            )
        except StoreError:
            if self._closing:
                raise StoreError(f"the store {self.name} is closed") from None
            raise

    async def read(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = $1 AND seq > $2 "
            "ORDER BY seq LIMIT $3",
            session_id,
            after_seq,
            limit,
        )
        return [_event(row) for row in rows]

    async def read_before(self, session_id: str, before_seq: int, limit: int) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = $1 AND seq < $2 "
            "ORDER BY seq DESC LIMIT $3",
            session_id,
            before_seq,
            limit,
        )
        return [_event(row) for row in reversed(rows)]

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]:
        if types is None:
            rows = await self._fetch(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > $1 "
                "ORDER BY position LIMIT $2",
                after_position,
                limit,
            )
        else:
            rows = await self._fetch(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > $1 "
                "AND type = ANY($3::text[]) ORDER BY position LIMIT $2",
                after_position,
                limit,
                sorted(types),
            )
        return [_event(row) for row in rows]

    async def read_all_before(self, before_position: int, limit: int) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE position < $1 "
            "ORDER BY position DESC LIMIT $2",
            before_position,
            limit,
        )
        return [_event(row) for row in reversed(rows)]

    async def sessions(
        self,
        limit: int | None = None,
        *,
        among: Collection[str] | None = None,
        live: bool = False,
    ) -> list[SessionSummary]:
        where = [f"({LIVE_SESSIONS_WHERE})"] if live else []
        arguments: list[Any] = [limit]
        if among is not None:
            where.append("session_id = ANY($2::text[])")
            arguments.append(sorted(among))
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = await self._fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions {clause}"
            "ORDER BY updated_at DESC, last_position DESC LIMIT $1",
            *arguments,
        )
        return [_summary(row) for row in rows]

    async def session_counts(self) -> SessionCounts:
        [row] = await self._fetch(SESSION_COUNTS)
        return SessionCounts(*row)

    async def session(self, session_id: str) -> SessionSummary | None:
        rows = await self._fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = $1", session_id
        )
        return _summary(rows[0]) if rows else None

    async def last_position(self) -> int:
        rows = await self._fetch("SELECT coalesce(max(position), 0) FROM events")
        position: int = rows[0][0]
        return position

    async def delete_sessions(
        self, seen: Mapping[str, int], *, unless_status: Collection[str] = ()
    ) -> list[str]:
        if not seen:
            return []

        async def delete(conn: asyncpg.Connection) -> list[str]:
            async with conn.transaction():
                # The write lock every append takes, in any process, before the
                # condition is read: no append can slip between the check and the delete.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
                rows = await conn.fetch(_RETENTION_ROWS, list(seen))
                parents = sorted({row[1] for row in rows if row[1] is not None})
                present = {row[0] for row in await conn.fetch(_SESSIONS_AMONG, parents)}
                going = still_prunable([tuple(row) for row in rows], seen, unless_status, present)
                if going:
                    await conn.execute(
                        "DELETE FROM events WHERE session_id = ANY($1::text[])", going
                    )
                    await conn.execute(
                        "DELETE FROM sessions WHERE session_id = ANY($1::text[])", going
                    )
                    # Projections keep per-session parts so that this is all they need:
                    # a checkpoint never counts a session that is no longer in the log.
                    await conn.execute(
                        "DELETE FROM projection_sessions WHERE session_id = ANY($1::text[])",
                        going,
                    )
                return going

        # The decision is taken again inside each attempt, so a retry after a lost
        # connection deletes only what is still prunable.
        return await self._retrying(lambda retry: self._on_connection(delete, "cannot delete from"))

    # --- checkpoints -------------------------------------------------------------------

    async def load_checkpoint(self, name: str) -> Checkpoint | None:
        async def load(conn: asyncpg.Connection) -> Checkpoint | None:
            # One snapshot for the header and the parts, whoever saves meanwhile.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                header = await conn.fetchrow(
                    "SELECT version, position, state FROM projection_checkpoints WHERE name = $1",
                    name,
                )
                if header is None:
                    return None
                parts = await conn.fetch(
                    "SELECT session_id, state FROM projection_sessions WHERE name = $1", name
                )
            return decode_checkpoint(name, header[0], header[1], header[2], parts)

        return await self._retrying(lambda retry: self._on_connection(load, "cannot read from"))

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
        encoded_state, parts = encode_checkpoint(state, sessions)

        async def save(conn: asyncpg.Connection) -> bool:
            async with conn.transaction():
                # The write lock retention's delete takes: no session's parts can be
                # deleted between the check that it is in the log and the write. It
                # also makes concurrent saves take turns.
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
                saved = await conn.fetchrow(
                    "SELECT version, position FROM projection_checkpoints WHERE name = $1",
                    name,
                )
                if not may_save(saved, version, position, rebuilt=rebuilt):
                    return False
                if rebuilt:
                    await conn.execute("DELETE FROM projection_sessions WHERE name = $1", name)
                await conn.execute(_SAVE_CHECKPOINT, name, version, position, encoded_state)
                if parts:
                    await conn.execute(
                        _SAVE_PARTS, name, [sid for sid, _ in parts], [p for _, p in parts]
                    )
                return True

        return await self._retrying(lambda retry: self._on_connection(save, "cannot write to"))

    # --- following -------------------------------------------------------------------

    async def _before_subscribe(self) -> None:
        """LISTEN before the first read, so no commit can slip between the two.

        Without a listener the subscription still works, on the poll alone. The
        connecting is shielded: a subscriber that goes away does not cut it short
        (asyncpg, cancelled half-way through connecting, leaves behind a future whose
        exception nobody retrieves); close() waits for it instead.
        """
        await asyncio.shield(self._listen())

    async def _before_waiting(self) -> None:
        """A LISTEN connection the server dropped is replaced in the background, so
        commits of other processes wake subscribers at once again instead of at the
        next poll, which covers the meantime."""
        listener = self._listener
        if listener is not None and listener.is_closed():
            self._listen()

    def _listen(self) -> asyncio.Task[None]:
        if self._listening is None or self._listening.done():
            self._listening = asyncio.create_task(self._connect_listener())
        return self._listening

    async def _connect_listener(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        if self._closing:
            return
        try:
            listener = await connect(self.url, self.name)
            await listener.add_listener(NOTIFY_CHANNEL, self._notified)
            await listener.add_listener(COMMANDS_CHANNEL, self._commands_notified)
        except (StoreError, *_DB_ERRORS):
            return
        if self._closing:
            await self._close_quietly(listener)
            return
        self._listener = listener

    def _notified(self, *_: Any) -> None:
        self._signal.notify()

    def _commands_notified(self, *_: Any) -> None:
        self._commands_changed()

    async def _before_command_wait(self) -> None:
        """Commands are heard of through LISTEN too: connect it if it is not yet (the
        poll covers the meantime, and a lost connection)."""
        listener = self._listener
        if listener is None or listener.is_closed():
            await asyncio.shield(self._listen())

    # --- leases ----------------------------------------------------------------------

    async def _write_now(
        self, operation: Callable[[asyncpg.Connection], Awaitable[_Result]], what: str
    ) -> _Result:
        """`operation(conn)` in a transaction under the write lock every append takes,
        retried while the server is away."""

        async def locked(conn: asyncpg.Connection) -> _Result:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _WRITE_LOCK)
                return await operation(conn)

        if self._closing:
            raise StoreError(f"the store {self.name} is closed")
        return await self._retrying(lambda retry: self._on_connection(locked, what))

    async def acquire_lease(
        self, session_id: str, holder: LeaseHolder, duration_s: float, *, replacing: int = 0
    ) -> Lease:
        async def acquire(conn: asyncpg.Connection) -> Lease:
            taken = await self._take_lease(conn, session_id, holder, duration_s, replacing)
            if taken is not None:
                return taken
            row = await conn.fetchrow(
                f"SELECT {_LEASE_ROW} FROM leases WHERE session_id = $1", session_id
            )
            return _lease(row)

        return await self._write_now(acquire, "cannot take a lease in")

    @staticmethod
    async def _take_lease(
        conn: asyncpg.Connection,
        session_id: str,
        holder: LeaseHolder,
        duration_s: float,
        replacing: int = 0,
    ) -> Lease | None:
        """The session's lease for `holder`, in the caller's transaction (under the
        write lock); None when another live engine holds it. The one conditional write
        both `acquire_lease` and the queue's claim take a lease with."""
        row = await conn.fetchrow(
            _ACQUIRE_LEASE,
            session_id,
            holder.owner,
            holder.host,
            holder.pid,
            holder.pid_start,
            float(duration_s),
            replacing,
        )
        return None if row is None else _lease(row)

    async def renew_leases(self, fences: Sequence[Fence], duration_s: float) -> set[str]:
        if not fences:
            return set()

        async def renew(conn: asyncpg.Connection) -> set[str]:
            rows = await conn.fetch(
                "UPDATE leases AS l SET expires_at = clock_timestamp() "
                "+ make_interval(secs => $4) "
                "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS f(sid, owner, token) "
                "WHERE l.session_id = f.sid AND l.owner = f.owner AND l.token = f.token "
                "RETURNING l.session_id",
                [f.session_id for f in fences],
                [f.owner for f in fences],
                [f.token for f in fences],
                float(duration_s),
            )
            return {row[0] for row in rows}

        return await self._write_now(renew, "cannot renew leases in")

    async def release_lease(self, fence: Fence) -> None:
        async def release(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "UPDATE leases SET owner = NULL, expires_at = clock_timestamp() "
                "WHERE session_id = $1 AND owner = $2 AND token = $3",
                fence.session_id,
                fence.owner,
                fence.token,
            )

        await self._write_now(release, "cannot release a lease in")

    async def leases(self, session_ids: Collection[str] | None = None) -> dict[str, Lease]:
        if session_ids is None:
            rows = await self._fetch(f"SELECT {_LEASE_ROW} FROM leases WHERE owner IS NOT NULL")
        else:
            rows = await self._fetch(
                f"SELECT {_LEASE_ROW} FROM leases WHERE owner IS NOT NULL "
                "AND session_id = ANY($1::text[])",
                sorted(session_ids),
            )
        return {row[0]: _lease(row) for row in rows}

    # --- commands --------------------------------------------------------------------

    async def issue_command(
        self,
        command_id: str,
        session_id: str,
        kind: str,
        payload: Mapping[str, object],
        issued_by: str,
    ) -> Command:
        async def issue(conn: asyncpg.Connection) -> Any:
            # One statement, so one round trip: the insert and the wake-up (delivered at
            # its commit) in its own transaction. Four round trips (BEGIN, INSERT,
            # NOTIFY, COMMIT) were most of what issuing cost.
            return await conn.fetchrow(
                "WITH issued AS (INSERT INTO commands (command_id, session_id, kind, "
                "payload, issued_by, issued_at) "
                "VALUES ($1, $2, $3, $4::jsonb, $5, clock_timestamp()) "
                f"RETURNING {_COMMAND_COLUMNS}) "
                f"SELECT *, pg_notify('{COMMANDS_CHANNEL}', $2) FROM issued",
                command_id,
                session_id,
                kind,
                command_payload(payload),
                issued_by,
            )

        row = await self._retrying(
            lambda retry: self._on_connection(issue, "cannot record a command in")
        )
        self._commands_changed()
        return _command(row)

    async def commands(
        self,
        *,
        session_ids: Collection[str] | None = None,
        status: str | None = None,
        after: int = 0,
    ) -> list[Command]:
        # The engines' frequent question (pending commands of their sessions) is asked
        # with a plain `status = $2`, so the index on (status, session_id) serves it.
        where = "status = $2" if status is not None else "$2::text IS NULL"
        rows = await self._fetch(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE number > $1 AND {where} "
            "AND ($3::text[] IS NULL OR session_id = ANY($3::text[])) ORDER BY number",
            after,
            status,
            None if session_ids is None else sorted(session_ids),
        )
        return [_command(row) for row in rows]

    async def command(self, command_id: str) -> Command | None:
        rows = await self._fetch(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE command_id = $1", command_id
        )
        return _command(rows[0]) if rows else None

    async def settle_command(
        self, command_id: str, status: str, reason: str | None = None, *, by: str | None = None
    ) -> bool:
        async def settle(conn: asyncpg.Connection) -> bool:
            done = await conn.execute(
                "UPDATE commands SET status = $2, reason = $3, applied_at = clock_timestamp(), "
                "settled_by = $4 WHERE command_id = $1 AND status = $5",
                command_id,
                status,
                reason,
                by,
                PENDING,
            )
            await conn.execute(f"SELECT pg_notify('{COMMANDS_CHANNEL}', $1)", command_id)
            return bool(int(done.rsplit(" ", 1)[-1]))

        settled = await self._write_now(settle, "cannot settle a command in")
        self._commands_changed()
        return settled


def _lease(row: Sequence[Any]) -> Lease:
    return Lease(*row)


def _command(row: Sequence[Any]) -> Command:
    return Command(
        command_id=row[0],
        session_id=row[1],
        kind=row[2],
        payload=_decode_json(row[3]),
        issued_by=row[4],
        issued_at=row[5],
        status=row[6],
        reason=row[7],
        applied_at=row[8],
        number=row[9],
        settled_by=row[10],
    )


async def _mark_applied(
    conn: asyncpg.Connection, calls: list[PendingAppend], results: list[CallResult]
) -> None:
    """Mark the commands the written calls apply, in their transaction: a command is
    applied exactly when its events are in the log; and tell whoever waits for it."""
    marks = [
        (call.command, call.events[0].session_id)
        for call, result in zip(calls, results, strict=True)
        if call.command is not None and not isinstance(result, StoreError)
    ]
    if marks:
        await conn.execute(_MARK_APPLIED, [m[0] for m in marks], [m[1] for m in marks])
        await conn.execute(f"SELECT pg_notify('{COMMANDS_CHANNEL}', '')")


def _columns(rows: list[Any]) -> list[Any]:
    """Rows to the five column arrays the bulk insert unnests."""
    return [list(column) for column in zip(*rows, strict=True)]
