"""The queue of submitted sessions (store.queue) on SQLite: every change in one
BEGIN IMMEDIATE transaction, the write lock every append takes in any process, so a
claim's count and its lease are decided with nobody else writing."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from harness_tui.events import format_ts, utcnow
from harness_tui.store.control import LeaseHolder
from harness_tui.store.queue import CLAIMED, DONE, QUEUED, Claim, QueuedSession, QueueLimits, pick
from harness_tui.store.sqlite_leases import take_lease

QUEUE_MIGRATION = (
    5,
    (
        # AUTOINCREMENT: numbers give the order sessions were submitted in.
        """
        CREATE TABLE queue (
            number INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id TEXT NOT NULL UNIQUE,
            prompt TEXT NOT NULL,
            project TEXT NOT NULL,
            priority INTEGER NOT NULL DEFAULT 0,
            provider TEXT,
            model TEXT,
            worktree INTEGER,
            approval_mode TEXT,
            sandbox_mode TEXT,
            submitted_by TEXT NOT NULL,
            submitted_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued',
            worker TEXT,
            claimed_at TEXT,
            finished_at TEXT
        )
        """,
        "CREATE INDEX queue_by_state ON queue (state, priority DESC, number)",
    ),
)

_QUEUE_COLUMNS = (
    "session_id, prompt, project, priority, provider, model, worktree, submitted_by, "
    "submitted_at, state, worker, number, approval_mode, sandbox_mode"
)
_ORDER = "ORDER BY priority DESC, number"


class SQLiteQueue:
    """The queue's operations, for SQLiteEventStore (which provides these three)."""

    _write_now: Callable[..., Awaitable[Any]]
    _fetch: Callable[..., Awaitable[list[Any]]]

    async def enqueue(self, entry: QueuedSession) -> QueuedSession:
        submitted_at = utcnow()

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                f"INSERT INTO queue ({_QUEUE_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', NULL, NULL, ?, ?)",
                (
                    entry.session_id,
                    entry.prompt,
                    entry.project,
                    entry.priority,
                    entry.provider,
                    entry.model,
                    entry.worktree,
                    entry.submitted_by,
                    format_ts(submitted_at),
                    entry.approval_mode,
                    entry.sandbox_mode,
                ),
            )
            number: int = cursor.lastrowid or 0
            return number

        number = await self._write_now(insert, "queue a session in")
        return _replace(entry, submitted_at=submitted_at, number=number)

    async def claim_queued(
        self, holder: LeaseHolder, duration_s: float, limits: QueueLimits
    ) -> Claim | None:
        def claim(db: sqlite3.Connection) -> Claim | None:
            now = time.time()
            # An orphan first: it holds its slot already, and waits for nobody.
            rows = db.execute(
                f"SELECT {_prefixed('q')} FROM queue AS q "
                "LEFT JOIN leases AS l ON l.session_id = q.session_id "
                "WHERE q.state = 'claimed' AND (l.owner IS NULL OR l.expires_at <= ?) "
                "ORDER BY q.priority DESC, q.number LIMIT 1",
                (now,),
            ).fetchall()
            adopted = bool(rows)
            if adopted:
                entry = _entry(rows[0])
            else:
                running = dict(
                    db.execute(
                        "SELECT project, count(*) FROM queue WHERE state = 'claimed' "
                        "GROUP BY project"
                    ).fetchall()
                )
                queued = [
                    _entry(row)
                    for row in db.execute(
                        f"SELECT {_QUEUE_COLUMNS} FROM queue WHERE state = 'queued' {_ORDER}"
                    )
                ]
                chosen = pick(queued, running, limits)
                if chosen is None:
                    return None
                entry = chosen
            lease = take_lease(db, entry.session_id, holder, duration_s, now)
            if lease is None:
                return None  # a live engine holds it (it took the session over itself)
            db.execute(
                "UPDATE queue SET state = 'claimed', worker = ?, claimed_at = ? "
                "WHERE session_id = ?",
                (holder.owner, format_ts(utcnow()), entry.session_id),
            )
            return Claim(_replace(entry, state=CLAIMED, worker=holder.owner), lease, adopted)

        result: Claim | None = await self._write_now(claim, "claim a queued session in")
        return result

    async def finish_queued(self, session_id: str, worker: str) -> bool:
        def finish(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE queue SET state = 'done', finished_at = ? "
                "WHERE session_id = ? AND worker = ? AND state = 'claimed'",
                (format_ts(utcnow()), session_id, worker),
            )
            return bool(cursor.rowcount)

        done: bool = await self._write_now(finish, "finish a queued session in")
        return done

    async def queued_sessions(
        self, states: Sequence[str] = (QUEUED, CLAIMED, DONE)
    ) -> list[QueuedSession]:
        rows = await self._fetch(
            f"SELECT {_QUEUE_COLUMNS} FROM queue WHERE state IN (SELECT value FROM json_each(?)) "
            "ORDER BY number",
            (_json_list(states),),
        )
        return [_entry(row) for row in rows]


def _prefixed(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in _QUEUE_COLUMNS.split(","))


def _json_list(values: Sequence[str]) -> str:
    import json

    return json.dumps(list(values))


def _entry(row: Sequence[Any]) -> QueuedSession:
    return QueuedSession(
        session_id=row[0],
        prompt=row[1],
        project=row[2],
        priority=row[3],
        provider=row[4],
        model=row[5],
        worktree=None if row[6] is None else bool(row[6]),
        submitted_by=row[7],
        submitted_at=datetime.fromisoformat(row[8]) if row[8] else None,
        state=row[9],
        worker=row[10],
        number=row[11],
        approval_mode=row[12],
        sandbox_mode=row[13],
    )


def _replace(entry: QueuedSession, **changes: Any) -> QueuedSession:
    from dataclasses import replace

    return replace(entry, **changes)
