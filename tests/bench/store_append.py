"""Append throughput of the event store against the fastest plain write of the same rows.

    .venv/bin/python tests/bench/store_append.py [--events N] [--sessions N] [--skip-postgres]

Every session is its own task and appends its events in order, awaiting each append()
call, which returns only once its events are committed. The main figures append
--burst events per call (a session writing what it produced since its last write);
the serial figures (*_serial_*) append one event per call, the agent loop's pattern.
With 100 sessions a serial commit carries at most 100 events, one per session, and
each rewrites its session's page of the (session_id, seq) index: that, not the store,
bounds the serial rate (see --explain).
The baselines write the same rows into the same table shape in the cheapest way each
driver offers: sqlite3 executemany in one transaction (with the store's pragmas), and
asyncpg copy_records_to_table in 1,000-row transactions. Each run uses a fresh SQLite
file and fresh PostgreSQL databases.

Progress goes to stderr; the last line on stdout is one JSON object with the rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness_tui.events import TASK_OUTPUT, Event
from harness_tui.store._common import PendingAppend, encode_json
from harness_tui.store.base import StoreError
from harness_tui.store.postgres import PostgresEventStore
from harness_tui.store.sqlite import MIGRATIONS, SQLiteEventStore, encode_ts

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_events(sessions: int, per_session: int) -> list[list[Event]]:
    """Events of a typical chatty session: task output chunks of a line or two."""
    run = uuid.uuid4().hex[:8]
    return [
        [
            Event(
                session_id=f"bench-{run}-{index:04d}",
                seq=seq,
                type=TASK_OUTPUT,
                data={
                    "task_id": "t1",
                    "stream": "stdout",
                    "text": f"line {seq} of the build log\n",
                },
            )
            for seq in range(1, per_session + 1)
        ]
        for index in range(sessions)
    ]


def interleaved(streams: list[list[Event]]) -> list[Event]:
    # The order in which concurrent sessions' events reach the store.
    return [stream[i] for i in range(len(streams[0])) for stream in streams]


async def drive_store(store, streams: list[list[Event]], burst: int = 1) -> float:
    """Each session appends its events in order, `burst` events per append() call,
    awaiting each call (it returns once its events are committed) before the next.
    burst=1 is the agent loop writing one event at a time; a larger burst is a session
    writing what it has produced since its last write, as coalesced output does."""

    async def session(events: list[Event]) -> None:
        for start in range(0, len(events), burst):
            await store.append(events[start : start + burst])

    started = time.perf_counter()
    await asyncio.gather(*(session(events) for events in streams))
    return time.perf_counter() - started


async def sqlite_store_rate(
    path: Path, streams: list[list[Event]], total: int, burst: int
) -> float:
    store = await SQLiteEventStore.open(f"sqlite:///{path}")
    try:
        elapsed = await drive_store(store, streams, burst)
        stored = await store.last_position()
    finally:
        await store.close()
    assert stored == total, f"store holds {stored} events, expected {total}"
    return total / elapsed


def sqlite_baseline_rate(path: Path, streams: list[list[Event]], total: int) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    for _, statements in MIGRATIONS:
        for statement in statements:
            db.execute(statement)
    events = interleaved(streams)
    started = time.perf_counter()
    rows = [(e.session_id, e.seq, encode_ts(e.ts), e.type, encode_json(e.data)) for e in events]
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO events (session_id, seq, ts, type, data) VALUES (?, ?, ?, ?, ?)", rows
    )
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    stored = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    assert stored == total, f"baseline holds {stored} events, expected {total}"
    return total / elapsed


# --explain: the same rounds of work the store's writer gets at this concurrency (one
# transaction per round of one event per session), driven directly, without callers,
# futures or the event loop. What no group-committing store can beat here.


def rounds_of_calls(store, streams: list[list[Event]]) -> list[list[PendingAppend]]:
    events = interleaved(streams)
    width = len(streams)
    return [
        [PendingAppend([e], store._encode([e]), None) for e in events[start : start + width]]
        for start in range(0, len(events), width)
    ]


def sqlite_ceiling_rates(path: Path, streams: list[list[Event]]) -> tuple[float, float]:
    """(events only, events with summary rows) in rounds, through plain sqlite3."""
    rates = []
    for with_summaries in (False, True):
        db_path = path.with_name(f"{path.stem}-{with_summaries}.db")
        store = SQLiteEventStore(f"sqlite:///{db_path}", db_path, 1.0)
        db = sqlite3.connect(db_path, isolation_level=None)
        store._prepare_writer(db)
        started = time.perf_counter()
        total = 0
        for calls in rounds_of_calls(store, streams):
            if with_summaries:
                store._write_batch_now(db, calls)
            else:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(
                    "INSERT INTO events (session_id, seq, ts, type, data) VALUES (?, ?, ?, ?, ?)",
                    [call.rows[0] for call in calls],
                )
                db.execute("COMMIT")
            total += len(calls)
        rates.append(total / (time.perf_counter() - started))
        db.close()
    return rates[0], rates[1]


async def postgres_ceiling_rates(url: str, streams: list[list[Event]]) -> tuple[float, float]:
    """(events only, events with summary rows) in rounds, through the store's statements."""
    from harness_tui.store import postgres

    store = await PostgresEventStore.open(url)
    assert store._pool is not None
    conn = await store._pool.acquire()
    rates = []
    try:
        for with_summaries in (False, True):
            started = time.perf_counter()
            total = 0
            for calls in rounds_of_calls(store, streams):
                if with_summaries:
                    await store._write_together(conn, calls)
                else:
                    await conn.execute(postgres._BEGIN_WRITE)
                    await conn.fetchval(
                        postgres._INSERT_EVENTS, *postgres._columns([c.rows[0] for c in calls])
                    )
                    await conn.execute("COMMIT")
                total += len(calls)
            rates.append(total / (time.perf_counter() - started))
            await conn.execute("TRUNCATE events, sessions")
    finally:
        await store._pool.release(conn)
        await store.close()
    return rates[0], rates[1]


async def run_sqlite(
    sessions: int, per_session: int, explain: bool, burst: int
) -> dict[str, float]:
    total = sessions * per_session
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        progress(
            f"sqlite: store API, {sessions} sessions x {per_session} events, "
            f"{burst} per append() call"
        )
        store_rate = await sqlite_store_rate(
            Path(tmp) / "store.db", make_events(sessions, per_session), total, burst
        )
        progress(f"sqlite: store {store_rate:,.0f} events/s")
        progress("sqlite: store API again, one event per append() call (serial)")
        serial_rate = await sqlite_store_rate(
            Path(tmp) / "serial.db", make_events(sessions, per_session), total, 1
        )
        progress(f"sqlite: store, serial {serial_rate:,.0f} events/s")
        baseline_rate = sqlite_baseline_rate(
            Path(tmp) / "baseline.db", make_events(sessions, per_session), total
        )
        progress(f"sqlite: executemany baseline {baseline_rate:,.0f} events/s")
        if explain:
            events_only, with_summaries = sqlite_ceiling_rates(
                Path(tmp) / "ceiling.db", make_events(sessions, per_session)
            )
            progress(
                f"sqlite: ceiling, plain sqlite3 in {per_session} transactions of {sessions}: "
                f"{events_only:,.0f} events/s for the events alone, "
                f"{with_summaries:,.0f} events/s with the session summaries"
            )
    return {
        "sqlite_events_per_s": round(store_rate),
        "sqlite_baseline_per_s": round(baseline_rate),
        "sqlite_ratio": round(store_rate / baseline_rate, 3),
        "sqlite_serial_events_per_s": round(serial_rate),
        "sqlite_serial_ratio": round(serial_rate / baseline_rate, 3),
    }


@asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the server; dropped afterwards."""
    import asyncpg

    name = f"harness_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server_url, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def postgres_baseline_rate(url: str, streams: list[list[Event]], total: int) -> float:
    import asyncpg

    # The store creates the tables, so the baseline writes into the very same shape.
    store = await PostgresEventStore.open(url)
    await store.close()
    events = interleaved(streams)
    conn = await asyncpg.connect(url)
    try:
        started = time.perf_counter()
        records = [(e.session_id, e.seq, e.ts, e.type, encode_json(e.data)) for e in events]
        for start in range(0, len(records), 1000):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "events",
                    records=records[start : start + 1000],
                    columns=["session_id", "seq", "ts", "type", "data"],
                )
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()
    assert stored == total, f"baseline holds {stored} events, expected {total}"
    return total / elapsed


async def postgres_store_rate(
    server_url: str, streams: list[list[Event]], total: int, burst: int
) -> float:
    async with scratch_database(server_url) as url:
        store = await PostgresEventStore.open(url)
        try:
            elapsed = await drive_store(store, streams, burst)
            stored = await store.read_all(0, limit=total + 1)
        finally:
            await store.close()
    assert len(stored) == total, f"store holds {len(stored)} events, expected {total}"
    return total / elapsed


async def run_postgres(
    server_url: str, sessions: int, per_session: int, explain: bool, burst: int
) -> dict[str, float]:
    total = sessions * per_session
    progress(
        f"postgres: store API, {sessions} sessions x {per_session} events, "
        f"{burst} per append() call"
    )
    store_rate = await postgres_store_rate(
        server_url, make_events(sessions, per_session), total, burst
    )
    progress(f"postgres: store {store_rate:,.0f} events/s")
    serial_rate = await postgres_store_rate(
        server_url, make_events(sessions, per_session), total, 1
    )
    progress(f"postgres: store, serial {serial_rate:,.0f} events/s")
    async with scratch_database(server_url) as url:
        baseline_rate = await postgres_baseline_rate(url, make_events(sessions, per_session), total)
    progress(f"postgres: COPY baseline {baseline_rate:,.0f} events/s")
    if explain:
        async with scratch_database(server_url) as url:
            events_only, with_summaries = await postgres_ceiling_rates(
                url, make_events(sessions, per_session)
            )
        progress(
            f"postgres: ceiling, the store's statements in {per_session} transactions of "
            f"{sessions}: {events_only:,.0f} events/s for the events alone, "
            f"{with_summaries:,.0f} events/s with the session summaries"
        )
    return {
        "postgres_events_per_s": round(store_rate),
        "postgres_baseline_per_s": round(baseline_rate),
        "postgres_ratio": round(store_rate / baseline_rate, 3),
        "postgres_serial_events_per_s": round(serial_rate),
        "postgres_serial_ratio": round(serial_rate / baseline_rate, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events in total")
    parser.add_argument("--sessions", type=int, default=100, help="concurrent sessions")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--burst",
        type=int,
        default=50,
        help="events per append() call for the main figures (default 50); the serial "
        "figures append one event per call",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="also time the store's write path driven directly (the ceiling), on stderr",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("HARNESS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="server to create the scratch databases on",
    )
    args = parser.parse_args()
    per_session = max(1, args.events // args.sessions)

    result: dict[str, float | None] = {}
    result.update(asyncio.run(run_sqlite(args.sessions, per_session, args.explain, args.burst)))
    if args.skip_postgres:
        result.update(postgres_events_per_s=None, postgres_baseline_per_s=None, postgres_ratio=None)
    else:
        try:
            result.update(
                asyncio.run(
                    run_postgres(
                        args.postgres_url, args.sessions, per_session, args.explain, args.burst
                    )
                )
            )
        except (OSError, StoreError) as exc:
            progress(f"postgres: skipped, the server is not reachable ({exc})")
            result.update(
                postgres_events_per_s=None, postgres_baseline_per_s=None, postgres_ratio=None
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
