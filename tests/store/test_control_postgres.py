"""Leases and commands on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.store.control_contract import ControlContract


class TestPostgresControl(ControlContract):
    @pytest.fixture
    def store_url(self, postgres_store_url: str) -> str:
        return postgres_store_url
