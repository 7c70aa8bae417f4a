"""Leases and commands on SQLite."""

from __future__ import annotations

import pytest

from tests.store.control_contract import ControlContract


class TestSQLiteControl(ControlContract):
    @pytest.fixture
    def store_url(self, sqlite_store_url: str) -> str:
        return sqlite_store_url
