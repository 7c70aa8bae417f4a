"""The store contract on PostgreSQL, plus what only a server-backed store can get wrong.

Each test runs in a database of its own (see conftest.py).
"""

from __future__ import annotations

import pytest

from harness_tui.store import StoreError, open_store
from harness_tui.store.postgres import PostgresEventStore
from tests.store.contract import (
    NEVER_POLL,
    StoreContract,
    output,
    run_append_proc,
    take,
)

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_url(self, postgres_store_url: str) -> str:
        return postgres_store_url

    @pytest.fixture
    def backend(self) -> type:
        return PostgresEventStore

    @pytest.fixture
    def broken_store(self) -> tuple[str, list[str]]:
        # Port 1 on the loopback: nothing listens there, the refusal is immediate.
        return "postgresql://postgres@127.0.0.1:1/test", [
            "cannot reach PostgreSQL",
            "127.0.0.1:1",
            "database test",
            "refused",
        ]


async def test_notify_wakes_a_subscriber_in_another_process(postgres_store_url: str) -> None:
    # The poll never fires, so only LISTEN/NOTIFY can deliver the other process's events.
    store = await PostgresEventStore.open(postgres_store_url, poll_interval=NEVER_POLL)
    try:
        await store.append([output("local", 1)])
        stream = store.subscribe()
        try:
            await take(stream, 1)
            positions = await run_append_proc(postgres_store_url, "remote", 3)
            remote = await take(stream, 3)
        finally:
            await stream.aclose()
        assert [e.position for e in remote] == positions
    finally:
        await store.close()


async def test_missing_database_is_named(postgres_store_url: str) -> None:
    url = postgres_store_url.rsplit("/", 1)[0] + "/harness_no_such_database"

    with pytest.raises(StoreError, match="harness_no_such_database"):
        await open_store(url)


async def test_password_never_appears_in_errors() -> None:
    with pytest.raises(StoreError) as caught:
        await open_store("postgresql://harness:s3cret@127.0.0.1:1/test")

    assert "s3cret" not in str(caught.value)
