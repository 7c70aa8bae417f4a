"""The event store: one contract, two backends chosen by URL."""

from __future__ import annotations

from pathlib import Path

from harness_tui.store.base import (
    DuplicateEventError,
    EventStore,
    SessionSummary,
    StoreConfigError,
    StoreError,
    UnknownSessionError,
)

__all__ = [
    "DuplicateEventError",
    "EventStore",
    "SessionSummary",
    "StoreConfigError",
    "StoreError",
    "UnknownSessionError",
    "open_store",
    "sqlite_url",
]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


async def open_store(url: str) -> EventStore:
    """Open (and migrate) the store named by `url`.

    `sqlite:///abs/path.db` or `postgresql://user@host:port/db`. Raises StoreError
    with a message that names the file or the host and database; StoreConfigError when
    the URL itself is wrong (an unknown scheme, no file, a SQLite file whose directory
    does not exist), which config validation mostly catches before this is reached.
    """
    if url.startswith("sqlite:///"):
        from harness_tui.store.sqlite import SQLiteEventStore

        return await SQLiteEventStore.open(url)
    if url.startswith(("postgresql://", "postgres://")):
        from harness_tui.store.postgres import PostgresEventStore

        return await PostgresEventStore.open(url)
    raise StoreConfigError(f"store url {url!r}: expected sqlite:///PATH or postgresql://HOST/DB")
