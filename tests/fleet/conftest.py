"""The fleet tests run real `worker` processes on SQLite and on PostgreSQL: `store_url`
is a fresh store of each kind, and `repo` a git project for the sessions."""

from __future__ import annotations

from tests.control.conftest import postgres_store_url, repo, store_url

__all__ = ["postgres_store_url", "repo", "store_url"]
