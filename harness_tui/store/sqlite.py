"""The SQLite event store (aiosqlite), the default for one machine.

Two connections: a writer that group-commits every queued append in one transaction,
and a reader for queries and subscriptions, so reads never wait behind a commit (WAL
lets them run side by side). Other processes may open the same file; SQLite's write
lock serialises their commits, and subscribers notice their events by polling.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from harness_tui.events import Event, utcnow
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
    migrations_to_apply,
    refuse_fenced,
    refuse_unknown_sessions,
    repeated_event,
    sessions_carried_on,
    split_deltas,
    split_positions,
    still_prunable,
)
from harness_tui.store.base import (
    Checkpoint,
    SessionCounts,
    SessionSummary,
    StoreError,
    StoreLostError,
    StoreUnavailableError,
)
from harness_tui.store.control import (
    PENDING,
    Command,
    Fence,
    Lease,
    LeaseHolder,
)
from harness_tui.store.sqlite_file import prepare_directory, sqlite_path
from harness_tui.store.sqlite_leases import take_lease
from harness_tui.store.sqlite_queue import QUEUE_MIGRATION, SQLiteQueue

# Cross-process subscribers notice other writers' commits this often; commits made
# through this store object wake its subscribers at once.
POLL_INTERVAL = 0.1

# How long a writer waits for another process's write lock before failing the batch.
BUSY_TIMEOUT_MS = 10_000

WAL_CHECKPOINT_PAGES = 10_000
WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            # AUTOINCREMENT: a position is never handed out twice, even after the newest
            # events are deleted, so a subscriber resuming from a position misses nothing.
            """
            CREATE TABLE events (
                position INTEGER PRIMARY KEY AUTOINCREMENT,
                session_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                ts TEXT NOT NULL,
                type TEXT NOT NULL,
                data TEXT NOT NULL,
                UNIQUE (session_id, seq)
            )
            """,
            """
            CREATE TABLE sessions (
                session_id TEXT PRIMARY KEY,
                title TEXT NOT NULL DEFAULT '',
                project TEXT NOT NULL DEFAULT '',
                provider TEXT NOT NULL DEFAULT '',
                model TEXT NOT NULL DEFAULT '',
                parent_id TEXT,
                status TEXT NOT NULL DEFAULT 'idle',
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                last_seq INTEGER NOT NULL DEFAULT 0,
                last_position INTEGER NOT NULL DEFAULT 0,
                input_tokens INTEGER NOT NULL DEFAULT 0,
                output_tokens INTEGER NOT NULL DEFAULT 0,
                cost_usd REAL NOT NULL DEFAULT 0
            ) WITHOUT ROWID
            """,
            "CREATE INDEX sessions_by_update ON sessions (updated_at, last_position)",
        ),
    ),
    # Migrations apply by version, each on its own: a store that lacks one (made by a
    # build without it) gains it, in list order, whatever came after.
    (
        2,
        (
            # Projection checkpoints: a cache of folds over the log (see
            # EventStore.save_checkpoint). A projection's per-session parts live in rows
            # of their own, so retention deletes them with their session.
            """
            CREATE TABLE projection_checkpoints (
                name TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                position INTEGER NOT NULL,
                state TEXT NOT NULL,
                saved_at TEXT NOT NULL
            ) WITHOUT ROWID
            """,
            """
            CREATE TABLE projection_sessions (
                name TEXT NOT NULL,
                session_id TEXT NOT NULL,
                state TEXT NOT NULL,
                PRIMARY KEY (name, session_id)
            ) WITHOUT ROWID
            """,
            "CREATE INDEX projection_sessions_by_session ON projection_sessions (session_id)",
        ),
    ),
    (
        3,
        (
            # What a dashboard needs to find the live sessions and draw the subagent
            # tree from the summaries alone, backfilled from the log once.
            "ALTER TABLE sessions ADD COLUMN preset TEXT",
            "ALTER TABLE sessions ADD COLUMN pending_approvals INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE sessions ADD COLUMN running_tasks INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE sessions ADD COLUMN system INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE sessions ADD COLUMN sandbox_mode TEXT",
            "ALTER TABLE sessions ADD COLUMN unconfined TEXT",
            """
            UPDATE sessions SET preset = c.preset, system = c.system,
                sandbox_mode = c.sandbox_mode
            FROM (
                SELECT session_id, json_extract(data, '$.preset') AS preset,
                    coalesce(json_extract(data, '$.system'), 0) AS system,
                    json_extract(data, '$.sandbox.mode') AS sandbox_mode
                FROM events WHERE type = 'session.created'
            ) AS c
            WHERE c.session_id = sessions.session_id
            """,
            # The newest say of each session (a bare column beside max() comes from
            # the row that has the max).
            """
            UPDATE sessions SET unconfined = u.reason
            FROM (
                SELECT session_id, coalesce(json_extract(data, '$.reason'), type) AS reason,
                    max(position)
                FROM events WHERE type IN ('sandbox.disabled', 'sandbox.unavailable')
                GROUP BY session_id
            ) AS u
            WHERE u.session_id = sessions.session_id
            """,
            """
            UPDATE sessions SET running_tasks = t.n
            FROM (
                SELECT session_id, count(*) AS n FROM (
                    SELECT session_id, json_extract(data, '$.task_id') AS task_id,
                        sum(type = 'task.started') AS started,
                        sum(type <> 'task.started') AS ended
                    FROM events
                    WHERE type IN ('task.started', 'task.completed', 'task.failed',
                        'task.cancelled')
                    GROUP BY session_id, task_id
                ) WHERE started > 0 AND ended = 0 GROUP BY session_id
            ) AS t
            WHERE t.session_id = sessions.session_id
            """,
            # The live sessions, found without reading every summary.
            "CREATE INDEX sessions_live ON sessions (updated_at, last_position) "
            "WHERE status IN ('running', 'waiting', 'queued') "
            "OR pending_approvals > 0 OR running_tasks > 0",
            # Asked after the session's last turn ended, and not answered.
            """
            UPDATE sessions SET pending_approvals = p.n
            FROM (
                SELECT a.session_id, count(*) AS n FROM (
                    SELECT session_id, json_extract(data, '$.approval_id') AS approval_id,
                        max(CASE WHEN type = 'approval.requested' THEN position END) AS asked,
                        sum(type = 'approval.resolved') AS answered
                    FROM events
                    WHERE type IN ('approval.requested', 'approval.resolved')
                    GROUP BY session_id, approval_id
                ) AS a
                LEFT JOIN (
                    SELECT session_id, max(position) AS ended FROM events
                    WHERE type = 'turn.completed' GROUP BY session_id
                ) AS t ON t.session_id = a.session_id
                WHERE a.asked IS NOT NULL AND a.answered = 0 AND a.asked > coalesce(t.ended, 0)
                GROUP BY a.session_id
            ) AS p
            WHERE p.session_id = sessions.session_id
            """,
        ),
    ),
    (
        4,
        (
            # The control plane (store.control). A released lease keeps its row, owner
            # NULL, so its token only grows. expires_at: Unix seconds by this host's
            # clock, the one every process sharing the file reads.
            """
            CREATE TABLE leases (
                session_id TEXT PRIMARY KEY,
                owner TEXT,
                host TEXT NOT NULL DEFAULT '',
                pid INTEGER NOT NULL DEFAULT 0,
                pid_start TEXT,
                token INTEGER NOT NULL,
                expires_at REAL NOT NULL
            ) WITHOUT ROWID
            """,
            # AUTOINCREMENT: numbers give the order commands were issued in.
            """
            CREATE TABLE commands (
                number INTEGER PRIMARY KEY AUTOINCREMENT,
                command_id TEXT NOT NULL UNIQUE,
                session_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                payload TEXT NOT NULL,
                issued_by TEXT NOT NULL,
                issued_at TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                reason TEXT,
                applied_at TEXT,
                settled_by TEXT
            )
            """,
            "CREATE INDEX commands_by_status ON commands (status, session_id, number)",
        ),
    ),
    QUEUE_MIGRATION,
]

_LEASE_COLUMNS = "session_id, owner, host, pid, pid_start, token, expires_at"
_COMMAND_COLUMNS = (
    "command_id, session_id, kind, payload, issued_by, issued_at, status, reason, "
    "applied_at, number, settled_by"
)
# Applied by the engine holding the session's lease (which the same transaction checked).
_MARK_APPLIED = (
    "UPDATE commands SET status = 'applied', applied_at = ?2, settled_by = ("
    "SELECT 'engine ' || owner || ' on ' || host FROM leases "
    "WHERE session_id = ?3 AND owner IS NOT NULL) "
    "WHERE command_id = ?1 AND status = 'pending'"
)

_INSERT_EVENT = "INSERT INTO events (session_id, seq, ts, type, data) VALUES (?, ?, ?, ?, ?)"

# ?2 says whether the batch holds the session.created event; only then are the
# descriptive fields overwritten. Timestamps are fixed-width ISO text, so max() on
# them is chronological. ?17 and ?19 are what the batch adds to the pending approvals
# and running tasks; ?18 says a turn ended in it, dropping the approvals before.
_UPSERT_SESSION = """
INSERT INTO sessions (session_id, title, project, provider, model, parent_id, status,
    created_at, updated_at, last_seq, last_position, input_tokens, output_tokens, cost_usd,
    preset, pending_approvals, running_tasks, system, sandbox_mode, unconfined)
VALUES (?1, ?3, ?4, ?5, ?6, ?7, coalesce(?8, 'idle'), ?9, ?10, ?11, ?12, ?13, ?14, ?15,
    ?16, max(0, ?17), max(0, ?19), ?20, ?21, ?22)
ON CONFLICT (session_id) DO UPDATE SET
    title = CASE WHEN ?2 THEN ?3 ELSE title END,
    preset = CASE WHEN ?2 THEN ?16 ELSE preset END,
    system = CASE WHEN ?2 THEN ?20 ELSE system END,
    sandbox_mode = CASE WHEN ?2 THEN ?21 ELSE sandbox_mode END,
    unconfined = coalesce(?22, unconfined),
    pending_approvals = max(0, CASE WHEN ?18 THEN 0 ELSE pending_approvals END + ?17),
    running_tasks = max(0, running_tasks + ?19),
    project = CASE WHEN ?2 THEN ?4 ELSE project END,
    provider = CASE WHEN ?2 THEN ?5 ELSE provider END,
    model = CASE WHEN ?2 THEN ?6 ELSE model END,
    parent_id = CASE WHEN ?2 THEN ?7 ELSE parent_id END,
    created_at = CASE WHEN ?2 THEN ?9 ELSE created_at END,
    status = coalesce(?8, status),
    updated_at = max(updated_at, ?10),
    last_seq = max(last_seq, ?11),
    last_position = max(last_position, ?12),
    input_tokens = input_tokens + ?13,
    output_tokens = output_tokens + ?14,
    cost_usd = cost_usd + ?15
"""

# Most batches only move sessions on; this is several times cheaper than the upsert.
_TOUCH_SESSION = """
UPDATE sessions SET
    updated_at = max(updated_at, ?2),
    last_seq = max(last_seq, ?3),
    last_position = max(last_position, ?4)
WHERE session_id = ?1
"""

# Failures that may pass: a full disk (space freed, a quota raised), another process
# holding the write lock past the busy timeout, an I/O error of a network filesystem.
_PASSING_ERRORS = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR}
)

# Errors that belong to the events of one call (a taken seq, a value SQLite cannot
# hold), not to the batch: they fail that append() alone.
_CALL_ERRORS = (
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    OverflowError,
)

# ?1 is a JSON array of session ids: one parameter however many there are.
_SESSIONS_AMONG = (
    "SELECT session_id FROM sessions WHERE session_id IN (SELECT value FROM json_each(?1))"
)
_RETENTION_ROWS = (
    "SELECT session_id, parent_id, status, last_position FROM sessions "
    "WHERE session_id IN (SELECT value FROM json_each(?1))"
)

_SAVE_CHECKPOINT = """
INSERT INTO projection_checkpoints (name, version, position, state, saved_at)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (name) DO UPDATE SET
    version = excluded.version,
    position = excluded.position,
    state = excluded.state,
    saved_at = excluded.saved_at
"""
# A part is saved only while its session is in the log: retention may have deleted it
# since the fold read its events.
_SAVE_PART = """
INSERT INTO projection_sessions (name, session_id, state)
SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM sessions WHERE session_id = ?2)
ON CONFLICT (name, session_id) DO UPDATE SET state = excluded.state
"""

_EVENT_COLUMNS = "position, session_id, seq, ts, type, data"
_SESSION_COLUMNS = (
    "session_id, title, project, provider, model, parent_id, status, created_at, "
    "updated_at, last_seq, last_position, input_tokens, output_tokens, cost_usd, "
    "preset, pending_approvals, running_tasks, system, sandbox_mode, unconfined"
)

_decode_json = json.JSONDecoder().decode
_parse_ts = datetime.fromisoformat


def encode_ts(ts: datetime) -> str:
    # The same fixed-width form as events.format_ts, so text order is time order;
    # isoformat is several times faster than strftime on the hot path.
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    return ts.isoformat(timespec="microseconds")[:-6] + "Z"


def _event(row: Sequence[Any]) -> Event:
    return Event(
        session_id=row[1],
        seq=row[2],
        type=row[4],
        data=_decode_json(row[5]),
        ts=_parse_ts(row[3]),
        position=row[0],
    )


def _summary(row: Sequence[Any]) -> SessionSummary:
    return SessionSummary(
        session_id=row[0],
        title=row[1],
        project=row[2],
        provider=row[3],
        model=row[4],
        parent_id=row[5],
        status=row[6],
        created_at=_parse_ts(row[7]),
        updated_at=_parse_ts(row[8]),
        last_seq=row[9],
        last_position=row[10],
        input_tokens=row[11],
        output_tokens=row[12],
        cost_usd=row[13],
        preset=row[14],
        pending_approvals=row[15],
        running_tasks=row[16],
        system=bool(row[17]),
        sandbox_mode=row[18],
        unconfined=row[19],
    )


class SQLiteEventStore(SQLiteQueue, GroupCommitStore):
    def __init__(
        self, url: str, path: Path, poll_interval: float, retry_s: float = RETRY_S
    ) -> None:
        self.url = url
        self.path = path
        self.name = str(path)
        self.poll_interval = poll_interval
        self.retry_s = retry_s
        self._writer_db: aiosqlite.Connection | None = None
        self._reader_db: aiosqlite.Connection | None = None
        # (st_dev, st_ino) of the file the connections opened: checked after each
        # commit, so a store deleted or replaced under the engine is noticed.
        self._identity: tuple[int, int] | None = None
        self._init_writer()

    @classmethod
    async def open(
        cls, url: str, *, poll_interval: float = POLL_INTERVAL, retry_s: float = RETRY_S
    ) -> SQLiteEventStore:
        path = sqlite_path(url)
        store = cls(url, path, poll_interval, retry_s)
        try:
            prepare_directory(path)
            store._writer_db = await store._connect()
            await store._run_on_writer(store._prepare_writer)
            store._reader_db = await store._connect()
            await store._run_on_reader(store._prepare_reader)
        except (sqlite3.Error, OSError) as exc:
            await store._close_connections()
            raise store._open_error(exc) from None
        except BaseException:
            await store._close_connections()
            raise
        store._start_writer()
        return store

    def _open_error(self, exc: BaseException) -> StoreError:
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            return StoreError(f"{self.path} is not a valid SQLite database ({exc})")
        if isinstance(exc, OSError):
            return StoreError(f"cannot open SQLite database {self.path}: {exc.strerror or exc}")
        return StoreError(f"cannot open SQLite database {self.path}: {exc}")

    async def _connect(self) -> aiosqlite.Connection:
        # isolation_level=None: this module issues BEGIN/COMMIT itself, so sqlite3
        # never opens a transaction behind its back.
        connection = aiosqlite.connect(self.path, isolation_level=None)
        try:
            return await connection
        except BaseException:
            # aiosqlite (0.21+: its worker is `_thread`) has queued its thread's stop
            # without waiting for it. Once stopped, the thread reports to the event
            # loop, which must still be running then: when the failure is the last
            # thing the process does, the thread would otherwise print a traceback
            # ("Event loop is closed") after the one-line error.
            connection._thread.join()
            raise

    # aiosqlite runs every call on the connection's own thread; handing that thread a
    # whole function lets a batch (BEGIN, inserts, summaries, COMMIT) cost one thread
    # hop instead of one per statement. `_execute` and `_conn` are how aiosqlite
    # itself does this.
    async def _run_on_writer(self, function: Any, *args: Any) -> Any:
        assert self._writer_db is not None
        execute: Callable[..., Awaitable[Any]] = self._writer_db._execute
        return await execute(function, self._writer_db._conn, *args)

    async def _run_on_reader(self, function: Any, *args: Any) -> Any:
        assert self._reader_db is not None
        execute: Callable[..., Awaitable[Any]] = self._reader_db._execute
        return await execute(function, self._reader_db._conn, *args)

    # Runs on the writer thread.
    def _prepare_writer(self, db: sqlite3.Connection) -> None:
        # The busy timeout comes first: switching to WAL needs a moment of exclusive
        # access, and another process may be opening the same file right now.
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # WAL: readers and the writer do not block each other. synchronous=NORMAL in
        # WAL mode writes each commit to the WAL file before COMMIT returns and only
        # skips the fsync, so a committed append survives the process being killed;
        # only an operating-system crash or power loss can take the last commits.
        _switch_to_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint after ~40 MB of WAL instead of SQLite's 4 MB: a group commit rewrites
        # the index page of every session it touches, so the WAL fills fast, and
        # checkpointing ten times as often cost about a third of each commit. The size
        # limit trims the file back once a checkpoint has emptied it.
        db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        db.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT_BYTES}")
        self._identity = self._file_identity()
        # BEGIN IMMEDIATE takes the write lock first, so two processes opening a new
        # file at once migrate it one after the other.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            for version, statements in migrations_to_apply(MIGRATIONS, applied, str(self.path)):
                for statement in statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (version, encode_ts(utcnow())),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # Runs on the reader thread.
    @staticmethod
    def _prepare_reader(db: sqlite3.Connection) -> None:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db.execute("PRAGMA query_only = ON")

    async def _close_connections(self) -> None:
        for attribute in ("_reader_db", "_writer_db"):
            connection = getattr(self, attribute)
            setattr(self, attribute, None)
            if connection is not None:
                await connection.close()

    # --- writing ---------------------------------------------------------------------

    def _encode(self, events: Sequence[Event]) -> list[Any]:
        return [
            (
                event.session_id,
                event.seq,
                encode_ts(event.ts),
                event.type,
                encode_json(event.data),
            )
            for event in events
        ]

    async def _write_batch(self, calls: list[PendingAppend], retry: bool) -> list[CallResult]:
        try:
            results: list[CallResult] = await self._run_on_writer(self._write_batch_now, calls)
        except sqlite3.Error as exc:
            message = f"cannot write to {self.path}: {exc}"
            # The primary result code; errors the module raises itself carry none.
            code = getattr(exc, "sqlite_errorcode", None)
            if isinstance(code, int) and code & 0xFF in _PASSING_ERRORS:
                raise StoreUnavailableError(message) from None
            raise StoreError(message) from None
        return results

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _check_identity(self) -> None:
        """After a commit: the file is still the one this store opened. Deleted (`rm
        .harness/harness.db*`) or replaced, the connections would go on writing into a
        file nobody else can open; a stat per commit says so at once."""
        if self._file_identity() != self._identity:
            raise StoreLostError(
                f"the store {self.path} was deleted or replaced while in use; "
                "nothing written since is in it"
            )

    # Runs on the writer thread.
    def _write_batch_now(
        self, db: sqlite3.Connection, calls: list[PendingAppend]
    ) -> list[CallResult]:
        rows = calls[0].rows if len(calls) == 1 else [row for call in calls for row in call.rows]
        db.execute("BEGIN IMMEDIATE")
        try:
            if self._refused(db, calls):
                db.execute("ROLLBACK")
                return self._write_calls_one_by_one(db, calls)
            try:
                db.executemany(_INSERT_EVENT, rows)
            except _CALL_ERRORS:
                db.execute("ROLLBACK")
                return self._write_calls_one_by_one(db, calls)
            # The write lock is held, so nobody else inserted in between: the batch
            # got consecutive positions ending at the last rowid.
            last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
            results = split_positions(calls, last - len(rows) + 1)
            self._write_summaries(db, calls, results)
            _mark_applied(db, calls, results)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._check_identity()
        return results

    def _write_calls_one_by_one(
        self, db: sqlite3.Connection, calls: list[PendingAppend]
    ) -> list[CallResult]:
        """The slow path after a constraint failed: each call under its own savepoint,
        so only the offending calls fail and the rest of the batch still commits."""
        results: list[CallResult] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            refused = self._refused(db, calls)
            for index, call in enumerate(calls):
                if index in refused:
                    results.append(refused[index])
                    continue
                db.execute("SAVEPOINT append_call")
                try:
                    db.executemany(_INSERT_EVENT, call.rows)
                except _CALL_ERRORS as exc:
                    db.execute("ROLLBACK TO append_call")
                    db.execute("RELEASE append_call")
                    results.append(self._call_error(db, call, exc))
                    continue
                db.execute("RELEASE append_call")
                last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                results.extend(split_positions([call], last - len(call.rows) + 1))
            self._write_summaries(db, calls, results)
            _mark_applied(db, calls, results)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._check_identity()
        return results

    def _refused(self, db: sqlite3.Connection, calls: list[PendingAppend]) -> dict[int, StoreError]:
        """The calls that carry on a session retention has deleted, and those fenced by
        a lease their engine lost. Asked inside the write transaction, which retention's
        delete and every lease change also take: either they committed first and the
        call is refused, or the call commits first (and the delete, seeing the session
        touched, leaves it)."""
        refused: dict[int, StoreError] = {}
        fenced = fenced_calls(calls)
        if fenced:
            sids = sorted({fence.session_id for _, fence in fenced})
            holders = {
                row[0]: (row[1], row[2], f"engine {row[1]} (pid {row[4]} on {row[3]})")
                for row in db.execute(
                    "SELECT session_id, owner, token, host, pid FROM leases "
                    "WHERE session_id IN (SELECT value FROM json_each(?1))",
                    (json.dumps(sids),),
                )
            }
            refused.update(refuse_fenced(calls, holders, str(self.path)))
        wanted = sessions_carried_on(calls)
        if not wanted:
            return refused
        existing = {row[0] for row in db.execute(_SESSIONS_AMONG, (json.dumps(sorted(wanted)),))}
        if existing >= wanted:
            return refused
        for index, error in refuse_unknown_sessions(calls, existing, str(self.path)).items():
            refused.setdefault(index, error)
        return refused

    def _call_error(
        self, db: sqlite3.Connection, call: PendingAppend, exc: Exception
    ) -> StoreError:
        if not isinstance(exc, sqlite3.IntegrityError):
            return StoreError(f"event cannot be stored in {self.path}: {exc}")
        repeated = repeated_event(call.events)
        if repeated is not None:
            return duplicate_error(repeated)
        for event in call.events:
            taken = db.execute(
                "SELECT 1 FROM events WHERE session_id = ? AND seq = ?",
                (event.session_id, event.seq),
            ).fetchone()
            if taken:
                return duplicate_error(event)
        return StoreError(f"event cannot be stored in {self.path}: {exc}")

    @staticmethod
    def _write_summaries(
        db: sqlite3.Connection, calls: list[PendingAppend], results: list[CallResult]
    ) -> None:
        touched, full = split_deltas(fold_summaries(calls, results))
        if touched:
            before = db.total_changes
            db.executemany(
                _TOUCH_SESSION,
                [
                    (
                        delta.session_id,
                        delta.updated_at,
                        delta.last_seq,
                        delta.last_position,
                    )
                    for delta in touched
                ],
            )
            if db.total_changes - before < len(touched):
                full.extend(touched)
        if full:
            db.executemany(
                _UPSERT_SESSION,
                [
                    (
                        delta.session_id,
                        delta.created,
                        delta.title,
                        delta.project,
                        delta.provider,
                        delta.model,
                        delta.parent_id,
                        delta.status,
                        delta.created_at,
                        delta.updated_at,
                        delta.last_seq,
                        delta.last_position,
                        delta.input_tokens,
                        delta.output_tokens,
                        delta.cost_usd,
                        delta.preset,
                        delta.approvals,
                        delta.approvals_reset,
                        delta.tasks,
                        delta.system,
                        delta.sandbox_mode,
                        delta.unconfined,
                    )
                    for delta in full
                ],
            )

    # --- reading ---------------------------------------------------------------------

    async def _fetch(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        reader = self._reader_db
        if reader is None or self._closed:
            raise StoreError(f"the store {self.name} is closed")
        try:
            return list(await reader.execute_fetchall(sql, parameters))
        except ValueError:
            # aiosqlite's answer when the connection closed under the query.
            raise StoreError(f"the store {self.name} is closed") from None
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None

    async def read(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (session_id, after_seq, -1 if limit is None else limit),
        )
        return [_event(row) for row in rows]

    async def read_before(self, session_id: str, before_seq: int, limit: int) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = ? AND seq < ? "
            "ORDER BY seq DESC LIMIT ?",
            (session_id, before_seq, limit),
        )
        return [_event(row) for row in reversed(rows)]

    async def read_all(
        self, after_position: int = 0, limit: int = 1000, types: Collection[str] | None = None
    ) -> list[Event]:
        if types is None:
            rows = await self._fetch(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (after_position, limit),
            )
        else:
            rows = await self._fetch(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE position > ? "
                "AND type IN (SELECT value FROM json_each(?)) ORDER BY position LIMIT ?",
                (after_position, json.dumps(sorted(types)), limit),
            )
        return [_event(row) for row in rows]

    async def read_all_before(self, before_position: int, limit: int) -> list[Event]:
        rows = await self._fetch(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE position < ? "
            "ORDER BY position DESC LIMIT ?",
            (before_position, limit),
        )
        return [_event(row) for row in reversed(rows)]

    async def sessions(
        self,
        limit: int | None = None,
        *,
        among: Collection[str] | None = None,
        live: bool = False,
    ) -> list[SessionSummary]:
        conditions = [f"({LIVE_SESSIONS_WHERE})"] if live else []
        chosen: tuple[str, ...] = ()
        if among is not None:
            conditions.append("session_id IN (SELECT value FROM json_each(?))")
            chosen = (json.dumps(sorted(among)),)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        rows = await self._fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions {where}"
            "ORDER BY updated_at DESC, last_position DESC LIMIT ?",
            (*chosen, -1 if limit is None else limit),
        )
        return [_summary(row) for row in rows]

    async def session_counts(self) -> SessionCounts:
        [row] = await self._fetch(SESSION_COUNTS, ())
        return SessionCounts(*row)

    async def session(self, session_id: str) -> SessionSummary | None:
        rows = await self._fetch(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?", (session_id,)
        )
        return _summary(rows[0]) if rows else None

    async def last_position(self) -> int:
        rows = await self._fetch("SELECT coalesce(max(position), 0) FROM events", ())
        position: int = rows[0][0]
        return position

    async def delete_sessions(
        self, seen: Mapping[str, int], *, unless_status: Collection[str] = ()
    ) -> list[str]:
        if not seen:
            return []

        # Runs on the writer thread, between group commits. BEGIN IMMEDIATE takes the
        # write lock every append takes, in any process, before the condition is read.
        def delete(db: sqlite3.Connection) -> list[str]:
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute(_RETENTION_ROWS, (json.dumps(list(seen)),)).fetchall()
                parents = sorted({row[1] for row in rows if row[1] is not None})
                present = {row[0] for row in db.execute(_SESSIONS_AMONG, (json.dumps(parents),))}
                going = still_prunable(rows, seen, unless_status, present)
                ids = [(session_id,) for session_id in going]
                db.executemany("DELETE FROM events WHERE session_id = ?", ids)
                db.executemany("DELETE FROM sessions WHERE session_id = ?", ids)
                # Projections keep per-session parts so that this is all they need: a
                # checkpoint never counts a session that is no longer in the log.
                db.executemany("DELETE FROM projection_sessions WHERE session_id = ?", ids)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return going

        try:
            going: list[str] = await self._run_on_writer(delete)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot delete from {self.path}: {exc}") from None
        return going

    # --- leases ----------------------------------------------------------------------

    async def _write_now(self, function: Callable[[sqlite3.Connection], Any], what: str) -> Any:
        """`function(db)` on the writer thread inside BEGIN IMMEDIATE (the write lock
        every append takes, in any process), retried while the file is busy."""

        def run(db: sqlite3.Connection) -> Any:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = function(db)
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return result

        async def attempt(retry: bool) -> Any:
            if self._closing or self._writer_db is None:
                raise StoreError(f"the store {self.name} is closed")
            try:
                return await self._run_on_writer(run)
            except sqlite3.Error as exc:
                message = f"cannot {what} {self.path}: {exc}"
                code = getattr(exc, "sqlite_errorcode", None)
                if isinstance(code, int) and code & 0xFF in _PASSING_ERRORS:
                    raise StoreUnavailableError(message) from None
                raise StoreError(message) from None

        return await self._retrying(attempt)

    async def acquire_lease(
        self, session_id: str, holder: LeaseHolder, duration_s: float, *, replacing: int = 0
    ) -> Lease:
        def acquire(db: sqlite3.Connection) -> Lease:
            taken = take_lease(db, session_id, holder, duration_s, time.time(), replacing)
            if taken is not None:
                return taken
            current = db.execute(
                f"SELECT {_LEASE_COLUMNS} FROM leases WHERE session_id = ?", (session_id,)
            ).fetchone()
            return _lease(current, time.time())

        lease: Lease = await self._write_now(acquire, "take a lease in")
        return lease

    async def renew_leases(self, fences: Sequence[Fence], duration_s: float) -> set[str]:
        if not fences:
            return set()

        def renew(db: sqlite3.Connection) -> set[str]:
            expires_at = time.time() + duration_s
            renewed: set[str] = set()
            for fence in fences:
                cursor = db.execute(
                    "UPDATE leases SET expires_at = ? "
                    "WHERE session_id = ? AND owner = ? AND token = ?",
                    (expires_at, fence.session_id, fence.owner, fence.token),
                )
                if cursor.rowcount:
                    renewed.add(fence.session_id)
            return renewed

        renewed: set[str] = await self._write_now(renew, "renew leases in")
        return renewed

    async def release_lease(self, fence: Fence) -> None:
        def release(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE leases SET owner = NULL, expires_at = 0 "
                "WHERE session_id = ? AND owner = ? AND token = ?",
                (fence.session_id, fence.owner, fence.token),
            )

        await self._write_now(release, "release a lease in")

    async def leases(self, session_ids: Collection[str] | None = None) -> dict[str, Lease]:
        if session_ids is None:
            rows = await self._fetch(
                f"SELECT {_LEASE_COLUMNS} FROM leases WHERE owner IS NOT NULL", ()
            )
        else:
            rows = await self._fetch(
                f"SELECT {_LEASE_COLUMNS} FROM leases WHERE owner IS NOT NULL "
                "AND session_id IN (SELECT value FROM json_each(?1))",
                (json.dumps(sorted(session_ids)),),
            )
        now = time.time()
        return {row[0]: _lease(row, now) for row in rows}

    # --- commands --------------------------------------------------------------------

    async def issue_command(
        self,
        command_id: str,
        session_id: str,
        kind: str,
        payload: Mapping[str, object],
        issued_by: str,
    ) -> Command:
        issued_at = utcnow()

        def issue(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO commands (command_id, session_id, kind, payload, issued_by, "
                "issued_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    command_id,
                    session_id,
                    kind,
                    command_payload(payload),
                    issued_by,
                    encode_ts(issued_at),
                ),
            )
            number: int = cursor.lastrowid or 0
            return number

        number: int = await self._write_now(issue, "record a command in")
        self._commands_changed()
        return Command(
            command_id, session_id, kind, dict(payload), issued_by, issued_at, number=number
        )

    async def commands(
        self,
        *,
        session_ids: Collection[str] | None = None,
        status: str | None = None,
        after: int = 0,
    ) -> list[Command]:
        sessions = None if session_ids is None else json.dumps(sorted(session_ids))
        # The engines' frequent question (pending commands of their sessions) is asked
        # with a plain `status = ?`, so the index on (status, session_id) serves it.
        sql = (
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE number > ?1 "
            + ("AND status = ?2 " if status is not None else "AND ?2 IS NULL ")
            + "AND (?3 IS NULL OR session_id IN (SELECT value FROM json_each(?3)))"
        )
        parameters = (after, status, sessions)
        rows = await self._fetch(sql + " ORDER BY number", parameters)
        return [_command(row) for row in rows]

    async def command(self, command_id: str) -> Command | None:
        rows = await self._fetch(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE command_id = ?", (command_id,)
        )
        return _command(rows[0]) if rows else None

    async def settle_command(
        self, command_id: str, status: str, reason: str | None = None, *, by: str | None = None
    ) -> bool:
        def settle(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE commands SET status = ?, reason = ?, applied_at = ?, settled_by = ? "
                "WHERE command_id = ? AND status = ?",
                (status, reason, encode_ts(utcnow()), by, command_id, PENDING),
            )
            return bool(cursor.rowcount)

        settled: bool = await self._write_now(settle, "settle a command in")
        self._commands_changed()
        return settled

    # --- checkpoints -------------------------------------------------------------------

    async def load_checkpoint(self, name: str) -> Checkpoint | None:
        # Runs on the reader thread: one read transaction, so the header and the parts
        # are one snapshot even while another process saves.
        def load(db: sqlite3.Connection) -> Checkpoint | None:
            db.execute("BEGIN")
            try:
                header = db.execute(
                    "SELECT version, position, state FROM projection_checkpoints WHERE name = ?",
                    (name,),
                ).fetchone()
                if header is None:
                    return None
                parts = db.execute(
                    "SELECT session_id, state FROM projection_sessions WHERE name = ?", (name,)
                ).fetchall()
            finally:
                db.execute("COMMIT")
            return decode_checkpoint(name, header[0], header[1], header[2], parts)

        if self._reader_db is None or self._closed:
            raise StoreError(f"the store {self.name} is closed")
        try:
            checkpoint: Checkpoint | None = await self._run_on_reader(load)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from None
        return checkpoint

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

        # Runs on the writer thread, between group commits; BEGIN IMMEDIATE takes the
        # write lock, so the check and the write are one step for every process, and
        # no retention delete can fall between them.
        def save(db: sqlite3.Connection) -> bool:
            db.execute("BEGIN IMMEDIATE")
            try:
                saved = db.execute(
                    "SELECT version, position FROM projection_checkpoints WHERE name = ?",
                    (name,),
                ).fetchone()
                if not may_save(saved, version, position, rebuilt=rebuilt):
                    db.execute("ROLLBACK")
                    return False
                if rebuilt:
                    db.execute("DELETE FROM projection_sessions WHERE name = ?", (name,))
                db.execute(
                    _SAVE_CHECKPOINT,
                    (name, version, position, encoded_state, encode_ts(utcnow())),
                )
                db.executemany(_SAVE_PART, [(name, sid, part) for sid, part in parts])
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return True

        if self._writer_db is None or self._closing:
            raise StoreError(f"the store {self.name} is closed")
        try:
            done: bool = await self._run_on_writer(save)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to {self.path}: {exc}") from None
        return done


def _lease(row: Sequence[Any], now: float) -> Lease:
    return Lease(
        session_id=row[0],
        owner=row[1],
        host=row[2],
        pid=row[3],
        pid_start=row[4],
        token=row[5],
        expires_at=datetime.fromtimestamp(row[6], UTC),
        expired=row[6] <= now,
    )


def _command(row: Sequence[Any]) -> Command:
    return Command(
        command_id=row[0],
        session_id=row[1],
        kind=row[2],
        payload=_decode_json(row[3]),
        issued_by=row[4],
        issued_at=_parse_ts(row[5]),
        status=row[6],
        reason=row[7],
        applied_at=_parse_ts(row[8]) if row[8] else None,
        number=row[9],
        settled_by=row[10],
    )


def _mark_applied(
    db: sqlite3.Connection, calls: list[PendingAppend], results: list[CallResult]
) -> None:
    """Mark the commands the written calls apply, in their transaction: a command is
    applied exactly when its events are in the log."""
    marks = [
        (call.command, encode_ts(utcnow()), call.events[0].session_id)
        for call, result in zip(calls, results, strict=True)
        if call.command is not None and not isinstance(result, StoreError)
    ]
    if marks:
        db.executemany(_MARK_APPLIED, marks)


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """`PRAGMA journal_mode = WAL`, retried while another connection holds the lock it
    needs. On a new file opened by two processes at once SQLite refuses the switch with
    "database is locked" without consulting the busy handler, so the busy timeout alone
    does not cover it."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
