"""Fresh databases for the store tests: a file per test, or a database per test on the
PostgreSQL server named by HARNESS_TEST_POSTGRES_URL.

The PostgreSQL tests skip when the server cannot be reached, unless
HARNESS_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from harness_tui.store import sqlite_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_server_url() -> str:
    return os.environ.get("HARNESS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


@pytest.fixture
def sqlite_store_url(tmp_path: Path) -> str:
    (tmp_path / "state").mkdir()
    return sqlite_url(tmp_path / "state" / "harness.db")


async def _admin_connection() -> asyncpg.Connection:
    url = postgres_server_url()
    try:
        return await asyncpg.connect(url, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = f"PostgreSQL at {urlsplit(url).hostname}:{urlsplit(url).port} unreachable: {exc}"
        if os.environ.get("HARNESS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (HARNESS_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)


@pytest.fixture
async def postgres_store_url() -> AsyncIterator[str]:
    """A database of its own for each test, created on the server and dropped after."""
    name = f"harness_test_{uuid.uuid4().hex[:16]}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(postgres_server_url(), name)
    finally:
        admin = await _admin_connection()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def terminate_backends(url: str) -> int:
    """Terminate every connection to the database of `url` but this one, as an
    administrator's `pg_terminate_backend` does; how many were terminated. Only the
    test's own database is touched: the server is shared."""
    database = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(url, timeout=5)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    return len(rows)
