"""The control-plane tests run on SQLite and on PostgreSQL: `store_url` is a fresh store
of each kind, and `repo` a git project for the sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_tui.store import sqlite_url
from tests.store.conftest import postgres_store_url
from tests.support.projects import commit_all, init_repo

__all__ = ["postgres_store_url", "repo", "store_url"]


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_store_url")
        return url
    (tmp_path / "state").mkdir()
    return sqlite_url(tmp_path / "state" / "harness.db")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("hi\n")
    commit_all(repo)
    return repo
