"""Reaching a PostgreSQL server, and bringing its database's schema up to date.

Errors name the server and database (`describe`), never the password, and say in a few
words why the connection failed.
"""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from harness_tui.store._common import migrations_to_apply
from harness_tui.store.base import StoreError
from harness_tui.store.postgres_queue import QUEUE_MIGRATION

CONNECT_TIMEOUT = 5.0

# Advisory lock key (arbitrary, fixed): serialises migrations when several processes
# open a new database at once.
_MIGRATION_LOCK = 7_274_102

MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            """
            CREATE TABLE events (
                position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                session_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                ts TIMESTAMPTZ NOT NULL,
                type TEXT NOT NULL,
                data JSONB NOT NULL,
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
                created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                last_seq BIGINT NOT NULL DEFAULT 0,
                last_position BIGINT NOT NULL DEFAULT 0,
                input_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX sessions_by_update ON sessions (updated_at, last_position)",
        ),
    ),
    # As in sqlite.py: projection checkpoints, and their per-session parts in rows of
    # their own so retention deletes them with their session. A gap before a later
    # version is harmless: migrations apply by version, each on its own.
    (
        2,
        (
            """
            CREATE TABLE projection_checkpoints (
                name TEXT PRIMARY KEY,
                version INTEGER NOT NULL,
                position BIGINT NOT NULL,
                state TEXT NOT NULL,
                saved_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE projection_sessions (
                name TEXT NOT NULL,
                session_id TEXT NOT NULL,
                state TEXT NOT NULL,
                PRIMARY KEY (name, session_id)
            )
            """,
            "CREATE INDEX projection_sessions_by_session ON projection_sessions (session_id)",
        ),
    ),
    (
        3,
        (
            # What a dashboard needs to find the live sessions and draw the subagent
            # tree from the summaries alone, backfilled from the log once.
            """
            ALTER TABLE sessions
                ADD COLUMN preset TEXT,
                ADD COLUMN pending_approvals BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN running_tasks BIGINT NOT NULL DEFAULT 0,
                ADD COLUMN system BOOLEAN NOT NULL DEFAULT false,
                ADD COLUMN sandbox_mode TEXT,
                ADD COLUMN unconfined TEXT
            """,
            """
            UPDATE sessions AS s SET preset = e.data->>'preset',
                system = coalesce((e.data->>'system')::boolean, false),
                sandbox_mode = e.data->'sandbox'->>'mode'
            FROM events AS e
            WHERE e.session_id = s.session_id AND e.type = 'session.created'
            """,
            """
            UPDATE sessions AS s SET unconfined = u.reason
            FROM (
                SELECT DISTINCT ON (session_id) session_id,
                    coalesce(data->>'reason', type) AS reason
                FROM events WHERE type IN ('sandbox.disabled', 'sandbox.unavailable')
                ORDER BY session_id, position DESC
            ) AS u
            WHERE u.session_id = s.session_id
            """,
            """
            UPDATE sessions AS s SET running_tasks = t.n
            FROM (
                SELECT session_id, count(*) AS n FROM (
                    SELECT session_id, data->>'task_id' AS task_id,
                        count(*) FILTER (WHERE type = 'task.started') AS started,
                        count(*) FILTER (WHERE type <> 'task.started') AS ended
                    FROM events
                    WHERE type IN ('task.started', 'task.completed', 'task.failed',
                        'task.cancelled')
                    GROUP BY session_id, task_id
                ) AS x WHERE started > 0 AND ended = 0 GROUP BY session_id
            ) AS t
            WHERE t.session_id = s.session_id
            """,
            # The live sessions, found without reading every summary.
            "CREATE INDEX sessions_live ON sessions (updated_at, last_position) "
            "WHERE status IN ('running', 'waiting', 'queued') "
            "OR pending_approvals > 0 OR running_tasks > 0",
            # Asked after the session's last turn ended, and not answered.
            """
            UPDATE sessions AS s SET pending_approvals = p.n
            FROM (
                SELECT a.session_id, count(*) AS n FROM (
                    SELECT session_id, data->>'approval_id' AS approval_id,
                        max(position) FILTER (WHERE type = 'approval.requested') AS asked,
                        count(*) FILTER (WHERE type = 'approval.resolved') AS answered
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
            WHERE p.session_id = s.session_id
            """,
        ),
    ),
    (
        4,
        (
            # The control plane (store.control). A released lease keeps its row, owner
            # NULL, so its token only grows. expires_at is by the server's clock, the
            # one every engine on every host reads.
            """
            CREATE TABLE leases (
                session_id TEXT PRIMARY KEY,
                owner TEXT,
                host TEXT NOT NULL DEFAULT '',
                pid BIGINT NOT NULL DEFAULT 0,
                pid_start TEXT,
                token BIGINT NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL
            )
            """,
            """
            CREATE TABLE commands (
                number BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                command_id TEXT NOT NULL UNIQUE,
                session_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                payload JSONB NOT NULL,
                issued_by TEXT NOT NULL,
                issued_at TIMESTAMPTZ NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending',
                reason TEXT,
                applied_at TIMESTAMPTZ,
                settled_by TEXT
            )
            """,
            "CREATE INDEX commands_by_status ON commands (status, session_id, number)",
        ),
    ),
    QUEUE_MIGRATION,
]


def describe(url: str) -> str:
    """`HOST:PORT (database NAME)` for messages; never includes the password."""
    try:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        host = parts.hostname or query.get("host", ["localhost"])[0]
        port = parts.port or int(query.get("port", ["5432"])[0])
        database = (
            unquote(parts.path.lstrip("/"))
            or query.get("dbname", [""])[0]
            or unquote(parts.username or "")
            or "postgres"
        )
    except ValueError:
        return "an unparsable PostgreSQL URL"
    return f"{host}:{port} (database {database})"


def reason(exc: BaseException) -> str:
    """Why talking to the server failed, in a few words."""
    if isinstance(exc, ConnectionRefusedError):
        return "Connection refused"
    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT:g} s"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "the database does not exist"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def connect(url: str, name: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreError(f"cannot reach PostgreSQL at {name}: {reason(exc)}") from None


async def migrate(conn: asyncpg.Connection, name: str) -> None:
    """Apply the migrations `conn`'s database lacks; `name` says which one in errors."""
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, statements in migrations_to_apply(MIGRATIONS, applied, name):
            for statement in statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())",
                version,
            )
