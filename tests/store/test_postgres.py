"""The store contract on PostgreSQL, plus what only a server-backed store can get wrong.

Each test runs in a database of its own (see conftest.py).
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from harness_tui.events import MODEL_COMPLETED, Event
from harness_tui.store import StoreError, StoreUnavailableError, open_store
from harness_tui.store.postgres import PostgresEventStore
from tests.store.conftest import terminate_backends
from tests.store.contract import (
    NEVER_POLL,
    StoreContract,
    output,
    run_append_proc,
    take,
)
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def store_url(self, postgres_store_url: str) -> str:
        return postgres_store_url

    @pytest.fixture
    def backend(self) -> type:
        return PostgresEventStore

    @pytest.fixture
    def rewind_to_version_2(self) -> Any:
        async def rewind(url: str) -> None:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("DROP INDEX sessions_live")
                await conn.execute(
                    "ALTER TABLE sessions DROP COLUMN preset, DROP COLUMN pending_approvals, "
                    "DROP COLUMN running_tasks, DROP COLUMN system, DROP COLUMN sandbox_mode, "
                    "DROP COLUMN unconfined"
                )
                await conn.execute("DELETE FROM schema_migrations WHERE version = 3")
            finally:
                await conn.close()

        return rewind

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


# --- the server going away ---------------------------------------------------------


async def test_appends_and_reads_go_on_after_the_server_terminates_the_connections(
    postgres_store_url: str,
) -> None:
    """`pg_terminate_backend` on every connection of the store, again and again: each
    next operation gets a connection of its own that works (none is handed a dropped
    one, nor one mid-way through reading the server's goodbye)."""
    store = await open_store(postgres_store_url)
    try:
        for seq in range(1, 9):
            await store.append([output("s", seq)])
            assert [e.seq for e in await store.read("s")] == list(range(1, seq + 1))
            assert await terminate_backends(postgres_store_url) >= 1
        summary = await store.session("s")
        assert summary is not None and summary.last_seq == 8
    finally:
        await store.close()


async def test_a_commit_whose_answer_was_lost_counts_once(postgres_store_url: str) -> None:
    """The connection drops after COMMIT reached the server and before its answer came
    back: the batch is tried again, finds its own events stored, and takes their
    positions, neither writing them twice, calling them duplicates, nor counting their
    usage twice."""
    server = urlsplit(postgres_store_url)
    usage = {"input_tokens": 100, "output_tokens": 7}
    with TcpProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
        store = await open_store(proxy.route(postgres_store_url))
        try:
            await store.append([output("s", 1)])
            proxy.cut_after(b"COMMIT\0")
            positions = await store.append(
                [Event("s", 2, MODEL_COMPLETED, {"text": "hi", "usage": usage}), output("s", 3)]
            )
            assert proxy.cut == 1
            events = await store.read("s")
            summary = await store.session("s")
        finally:
            await store.close()
    assert [e.seq for e in events] == [1, 2, 3]
    assert positions == [e.position for e in events[1:]]
    assert summary is not None
    assert (summary.last_seq, summary.input_tokens, summary.output_tokens) == (3, 100, 7)


async def test_a_server_away_past_retry_s_fails_naming_it_then_works_again(
    postgres_store_url: str,
) -> None:
    server = urlsplit(postgres_store_url)
    with TcpProxy(server.hostname or "127.0.0.1", server.port or 5432) as proxy:
        store = await open_store(proxy.route(postgres_store_url), retry_s=0.3)
        try:
            await store.append([output("s", 1)])
            proxy.down()
            with pytest.raises(StoreUnavailableError) as caught:
                await store.append([output("s", 2)])
            assert f"127.0.0.1:{proxy.port}" in str(caught.value)
            assert proxy.refused >= 2, "it was not tried again"
            with pytest.raises(StoreUnavailableError):
                await store.read("s")
            proxy.up()
            await store.append([output("s", 2)])
            assert [e.seq for e in await store.read("s")] == [1, 2]
        finally:
            await store.close()


async def test_operations_cancelled_while_connecting_leave_nothing_behind(
    postgres_store_url: str,
) -> None:
    """A subscriber that goes away while the pool connects for it (the run ended) must
    not leave asyncpg's half-made connection behind: its unretrieved exception would
    be printed after the run's last line ("Future exception was never retrieved")."""
    leftovers: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: leftovers.append(context["message"]))
    try:
        store = await open_store(postgres_store_url)
        try:
            for step in range(1, 30):
                await terminate_backends(postgres_store_url)  # the next read connects
                reading = asyncio.ensure_future(store.read("s"))
                await asyncio.sleep(step * 0.0005)
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
        finally:
            await store.close()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert leftovers == []


async def test_a_checkpoint_that_no_longer_decodes_is_rebuilt_not_read(
    postgres_store_url: str,
) -> None:
    store = await open_store(postgres_store_url)
    try:
        await store.append([output("a", 1)])
        await store.save_checkpoint("p", 1, 1, {"n": 1}, {"a": 1}, rebuilt=True)
        admin = await asyncpg.connect(postgres_store_url)
        try:
            await admin.execute("UPDATE projection_checkpoints SET state = '[' WHERE name = 'p'")
        finally:
            await admin.close()
        assert await store.load_checkpoint("p") is None
        assert await store.save_checkpoint("p", 1, 1, {"n": 1}, {"a": 1}, rebuilt=True)
        checkpoint = await store.load_checkpoint("p")
        assert checkpoint is not None and checkpoint.state == {"n": 1}
    finally:
        await store.close()


async def test_a_store_from_before_checkpoints_gains_them(postgres_store_url: str) -> None:
    store = await open_store(postgres_store_url)
    await store.append([output("a", 1)])
    await store.close()
    admin = await asyncpg.connect(postgres_store_url)
    try:
        await admin.execute("DROP TABLE projection_sessions, projection_checkpoints")
        await admin.execute("DELETE FROM schema_migrations WHERE version = 2")
    finally:
        await admin.close()

    store = await open_store(postgres_store_url)
    try:
        assert [e.seq for e in await store.read("a")] == [1]
        assert await store.save_checkpoint("p", 1, 1, {}, {"a": 1}, rebuilt=True)
    finally:
        await store.close()
