"""What the dashboard's one-second read of who runs what costs: the store's held leases
and the queue's unfinished rows (Engine.leases() and Engine.queue(), one query each),
on a store that has seen many sessions.

    .venv/bin/python tests/bench/fleet_runners.py [--sessions N] [--reads N] [--skip-postgres]

The store gets N sessions' leases, of which one in ten is still held (the others ran
and gave theirs up, their rows kept), and N submitted sessions, of which one in ten is
still queued or claimed (the rest done). Then the pair of reads is timed --reads times.
Measured on a fresh SQLite file and a fresh PostgreSQL database
(HARNESS_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test).

Progress goes to stderr; the last line on stdout is one JSON object:
{"sessions", "held", "queued", "sqlite_p50_ms", "sqlite_p99_ms", "postgres_p50_ms",
"postgres_p99_ms"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness_tui.store import EventStore, LeaseHolder, open_store, sqlite_url
from harness_tui.store.queue import CLAIMED, QUEUED, QueuedSession, QueueLimits
from tests.bench.control_latency import drop_database, percentile, postgres_database

HOLDER = LeaseHolder("bench-engine", "build-7.example", 4242, "1")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def fill(store: EventStore, sessions: int) -> tuple[int, int]:
    """Leases and queue rows as a store that ran `sessions` sessions has them."""
    held = 0
    for number in range(sessions):
        session_id = f"s{number:07d}"
        lease = await store.acquire_lease(session_id, HOLDER, 3600)
        if number % 10:
            await store.release_lease(lease.fence)
        else:
            held += 1
    queued = 0
    for number in range(sessions):
        await store.enqueue(
            QueuedSession(session_id=f"q{number:07d}", prompt="do it", project="/p", priority=0)
        )
    # Claimed and finished in submission order: the last tenth stays queued.
    for _ in range(sessions - sessions // 10):
        claim = await store.claim_queued(HOLDER, 3600, QueueLimits())
        assert claim is not None
        await store.finish_queued(claim.session.session_id, HOLDER.owner)
        await store.release_lease(claim.lease.fence)
    queued = len(await store.queued_sessions((QUEUED, CLAIMED)))
    return held, queued


async def time_reads(store: EventStore, reads: int) -> list[float]:
    timings: list[float] = []
    for _ in range(reads):
        started = time.perf_counter()
        await store.leases()
        await store.queued_sessions((QUEUED, CLAIMED))
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def measure(url: str, sessions: int, reads: int) -> tuple[list[float], int, int]:
    store = await open_store(url)
    try:
        held, queued = await fill(store, sessions)
        return await time_reads(store, reads), held, queued
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    result: dict[str, object] = {"sessions": args.sessions}
    with tempfile.TemporaryDirectory() as tmp:
        progress(f"SQLite: {args.sessions} sessions")
        sqlite, held, queued = await measure(
            sqlite_url(Path(tmp) / "harness.db"), args.sessions, args.reads
        )
    result.update(held=held, queued=queued)
    result["sqlite_p50_ms"] = percentile(sqlite, 0.5)
    result["sqlite_p99_ms"] = percentile(sqlite, 0.99)
    result["postgres_p50_ms"] = result["postgres_p99_ms"] = None
    if not args.skip_postgres:
        server, name = await postgres_database()
        try:
            progress(f"PostgreSQL: {args.sessions} sessions")
            url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
            postgres, _, _ = await measure(url, args.sessions, args.reads)
        finally:
            await drop_database(server, name)
        result["postgres_p50_ms"] = percentile(postgres, 0.5)
        result["postgres_p99_ms"] = percentile(postgres, 0.99)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
