"""The event store: one contract, two backends chosen by URL."""

from __future__ import annotations

from pathlib import Path

from harness_tui.store.base import (
    Checkpoint,
    DuplicateEventError,
    EventStore,
    LeaseLostError,
    SessionCounts,
    SessionSummary,
    StoreConfigError,
    StoreError,
    StoreLostError,
    StoreUnavailableError,
    UnknownSessionError,
)
from harness_tui.store.control import Command, Fence, Lease, LeaseHolder

__all__ = [
    "Checkpoint",
    "Command",
    "DuplicateEventError",
    "EventStore",
    "Fence",
    "Lease",
    "LeaseHolder",
    "LeaseLostError",
    "SessionCounts",
    "SessionSummary",
    "StoreConfigError",
    "StoreError",
    "StoreLostError",
    "StoreUnavailableError",
    "UnknownSessionError",
    "open_store",
    "sqlite_url",
]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


async def open_store(url: str, *, retry_s: float | None = None) -> EventStore:
    """Open (and migrate) the store named by `url`.

    `sqlite:///abs/path.db` or `postgresql://user@host:port/db`. Raises StoreError
    with a message that names the file or the host and database; StoreConfigError when
    the URL itself is wrong (an unknown scheme, no file, a SQLite file whose directory
    does not exist), which config validation mostly catches before this is reached.

    `retry_s`: how long an operation failing for a passing reason (PostgreSQL
    restarting, a full disk) is retried before its caller hears of it ([store] retry_s).
    Opening is not retried: a store that cannot be reached now is reported at once.
    """
    from harness_tui.store._common import RETRY_S

    retry = RETRY_S if retry_s is None else retry_s
    if url.startswith("sqlite:///"):
        from harness_tui.store.sqlite import SQLiteEventStore

        return await SQLiteEventStore.open(url, retry_s=retry)
    if url.startswith(("postgresql://", "postgres://")):
        from harness_tui.store.postgres import PostgresEventStore

        return await PostgresEventStore.open(url, retry_s=retry)
    raise StoreConfigError(f"store url {url!r}: expected sqlite:///PATH or postgresql://HOST/DB")
