"""The queue of submitted sessions (store.queue) on PostgreSQL: every change in one
transaction under the advisory write lock every append takes, so a claim's count and
its lease are decided with no other writer in between, on any host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import asyncpg

from harness_tui.store.control import Lease, LeaseHolder
from harness_tui.store.queue import CLAIMED, DONE, QUEUED, Claim, QueuedSession, QueueLimits, pick

QUEUE_MIGRATION = (
    5,
    (
        """
        CREATE TABLE queue (
            number BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            session_id TEXT NOT NULL UNIQUE,
            prompt TEXT NOT NULL,
            project TEXT NOT NULL,
            priority BIGINT NOT NULL DEFAULT 0,
            provider TEXT,
            model TEXT,
            worktree BOOLEAN,
            approval_mode TEXT,
            sandbox_mode TEXT,
            submitted_by TEXT NOT NULL,
            submitted_at TIMESTAMPTZ NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            worker TEXT,
            claimed_at TIMESTAMPTZ,
            finished_at TIMESTAMPTZ
        )
        """,
        "CREATE INDEX queue_by_state ON queue (state, priority DESC, number)",
    ),
)

_QUEUE_COLUMNS = (
    "session_id, prompt, project, priority, provider, model, worktree, submitted_by, "
    "submitted_at, state, worker, number, approval_mode, sandbox_mode"
)
_Q_COLUMNS = ", ".join(f"q.{column.strip()}" for column in _QUEUE_COLUMNS.split(","))


class PostgresQueue:
    """The queue's operations, for PostgresEventStore (which provides these three)."""

    _write_now: Callable[..., Awaitable[Any]]
    _fetch: Callable[..., Awaitable[list[Any]]]
    _take_lease: Callable[..., Awaitable[Lease | None]]

    async def enqueue(self, entry: QueuedSession) -> QueuedSession:
        async def insert(conn: asyncpg.Connection) -> Any:
            return await conn.fetchrow(
                "INSERT INTO queue (session_id, prompt, project, priority, provider, model, "
                "worktree, submitted_by, submitted_at, approval_mode, sandbox_mode) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp(), $9, $10) "
                "RETURNING submitted_at, number",
                entry.session_id,
                entry.prompt,
                entry.project,
                entry.priority,
                entry.provider,
                entry.model,
                entry.worktree,
                entry.submitted_by,
                entry.approval_mode,
                entry.sandbox_mode,
            )

        row = await self._write_now(insert, "cannot queue a session in")
        return replace(entry, submitted_at=row[0], number=row[1])

    async def claim_queued(
        self, holder: LeaseHolder, duration_s: float, limits: QueueLimits
    ) -> Claim | None:
        async def claim(conn: asyncpg.Connection) -> Claim | None:
            # An orphan first: it holds its slot already, and waits for nobody.
            row = await conn.fetchrow(
                f"SELECT {_Q_COLUMNS} FROM queue AS q "
                "LEFT JOIN leases AS l ON l.session_id = q.session_id "
                "WHERE q.state = 'claimed' "
                "AND (l.owner IS NULL OR l.expires_at <= clock_timestamp()) "
                "ORDER BY q.priority DESC, q.number LIMIT 1"
            )
            adopted = row is not None
            if row is not None:
                entry = _entry(row)
            else:
                counted = await conn.fetch(
                    "SELECT project, count(*) FROM queue WHERE state = 'claimed' GROUP BY project"
                )
                queued = await conn.fetch(
                    f"SELECT {_QUEUE_COLUMNS} FROM queue WHERE state = 'queued' "
                    "ORDER BY priority DESC, number"
                )
                chosen = pick([_entry(r) for r in queued], {r[0]: r[1] for r in counted}, limits)
                if chosen is None:
                    return None
                entry = chosen
            lease = await self._take_lease(conn, entry.session_id, holder, duration_s)
            if lease is None:
                return None  # a live engine holds it (it took the session over itself)
            await conn.execute(
                "UPDATE queue SET state = 'claimed', worker = $2, claimed_at = clock_timestamp() "
                "WHERE session_id = $1",
                entry.session_id,
                holder.owner,
            )
            return Claim(replace(entry, state=CLAIMED, worker=holder.owner), lease, adopted)

        result: Claim | None = await self._write_now(claim, "cannot claim a queued session in")
        return result

    async def finish_queued(self, session_id: str, worker: str) -> bool:
        async def finish(conn: asyncpg.Connection) -> bool:
            done = await conn.execute(
                "UPDATE queue SET state = 'done', finished_at = clock_timestamp() "
                "WHERE session_id = $1 AND worker = $2 AND state = 'claimed'",
                session_id,
                worker,
            )
            return bool(int(done.rsplit(" ", 1)[-1]))

        finished: bool = await self._write_now(finish, "cannot finish a queued session in")
        return finished

    async def queued_sessions(
        self, states: Sequence[str] = (QUEUED, CLAIMED, DONE)
    ) -> list[QueuedSession]:
        rows = await self._fetch(
            f"SELECT {_QUEUE_COLUMNS} FROM queue WHERE state = ANY($1::text[]) ORDER BY number",
            list(states),
        )
        return [_entry(row) for row in rows]


def _entry(row: Sequence[Any]) -> QueuedSession:
    return QueuedSession(
        session_id=row[0],
        prompt=row[1],
        project=row[2],
        priority=row[3],
        provider=row[4],
        model=row[5],
        worktree=row[6],
        submitted_by=row[7],
        submitted_at=row[8],
        state=row[9],
        worker=row[10],
        number=row[11],
        approval_mode=row[12],
        sandbox_mode=row[13],
    )
