"""The store contract on SQLite, plus what only a file-backed store can get wrong."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harness_tui.store import (
    StoreConfigError,
    StoreError,
    StoreLostError,
    open_store,
    sqlite_url,
)
from harness_tui.store.sqlite import SQLiteEventStore
from harness_tui.store.sqlite_file import sqlite_path
from tests.store.contract import StoreContract, output, run_append_proc


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def store_url(self, sqlite_store_url: str) -> str:
        return sqlite_store_url

    @pytest.fixture
    def backend(self) -> type:
        return SQLiteEventStore

    @pytest.fixture
    def broken_store(self, tmp_path: Path) -> tuple[str, list[str]]:
        path = tmp_path / "harness.db"
        path.write_bytes(os.urandom(8192))
        return sqlite_url(path), [str(path), "not a valid SQLite database"]

    @pytest.fixture
    def rewind_to_version_2(self) -> Any:
        async def rewind(url: str) -> None:
            with sqlite3.connect(sqlite_path(url)) as db:
                db.execute("DROP INDEX sessions_live")
                for column in (
                    "preset",
                    "pending_approvals",
                    "running_tasks",
                    "system",
                    "sandbox_mode",
                    "unconfined",
                ):
                    db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
                db.execute("DELETE FROM schema_migrations WHERE version = 3")
            db.close()

        return rewind


async def test_a_projects_own_store_gets_its_harness_folder(tmp_path: Path) -> None:
    path = tmp_path / "project" / ".harness" / "harness.db"
    path.parent.parent.mkdir()

    store = await open_store(sqlite_url(path))
    try:
        await store.append([output("s", 1)])
    finally:
        await store.close()

    assert path.is_file()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("deep/er/harness.db", id="nested-folders"),
        pytest.param("nowhere/.harness/harness.db", id="project-folder-missing"),
        pytest.param("project/.harness/other.db", id="not-the-projects-store"),
    ],
)
async def test_a_missing_folder_is_refused_not_made(tmp_path: Path, where: str) -> None:
    (tmp_path / "project").mkdir()
    path = tmp_path / where

    with pytest.raises(StoreConfigError) as caught:
        await open_store(sqlite_url(path))

    assert str(caught.value) == (
        f"cannot open SQLite database {path}: directory {path.parent} does not exist"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]
    assert list((tmp_path / "project").iterdir()) == []


async def test_an_unknown_scheme_is_a_configuration_error() -> None:
    with pytest.raises(StoreConfigError, match="'mysql://x': expected sqlite:///PATH"):
        await open_store("mysql://x")


async def test_a_committed_append_survives_the_process_being_killed(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "harness.db")

    positions = await run_append_proc(url, "doomed", 25, "--kill")

    store = await open_store(url)
    try:
        assert [e.position for e in await store.read("doomed")] == positions
        assert (await store.session("doomed")).last_seq == 25
    finally:
        await store.close()


async def test_unwritable_location_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")

    with pytest.raises(StoreError, match="not-a-folder"):
        await open_store(sqlite_url(blocker / "harness.db"))


def test_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    assert sqlite_path("sqlite:////var/lib/harness.db") == Path("/var/lib/harness.db")
    assert sqlite_path("sqlite:///harness.db") == tmp_path / "harness.db"
    assert sqlite_path("sqlite:///state/h.db?mode=rw") == tmp_path / "state" / "h.db"
    assert sqlite_path("sqlite:///~/h.db") == tmp_path / "home" / "h.db"
    assert sqlite_path(sqlite_url(tmp_path / "x.db")) == tmp_path / "x.db"
    with pytest.raises(StoreConfigError, match="names no database file"):
        sqlite_path("sqlite:///")


async def test_relative_url_opens_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = await open_store("sqlite:///.harness/harness.db")
    await store.close()

    assert (tmp_path / ".harness" / "harness.db").is_file()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "harness.db"
    store = await open_store(sqlite_url(path))
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_migrations VALUES (999, '2099-01-01T00:00:00Z')")

    with pytest.raises(StoreError, match="schema version 999"):
        await open_store(sqlite_url(path))


def _prepare_new_file(path: str, start: Any, results: Any) -> None:
    """One process opening the store's file as `open` does: WAL, then the migrations."""
    store = SQLiteEventStore(sqlite_url(path), Path(path), 0.1)
    start.wait()
    try:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            store._prepare_writer(db)
        finally:
            db.close()
        results.put("ok")
    except Exception as exc:
        results.put(repr(exc))


def test_many_processes_opening_new_files_at_once_never_see_a_lock_error(tmp_path: Path) -> None:
    """The race behind a flaky "database is locked": SQLite refuses the switch to WAL on a
    new file that another process is switching at the same moment, without waiting."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    outcomes = []
    for round_ in range(60):
        path = str(tmp_path / f"{round_}.db")
        start = context.Event()
        processes = [
            context.Process(target=_prepare_new_file, args=(path, start, results)) for _ in range(3)
        ]
        for process in processes:
            process.start()
        start.set()
        for process in processes:
            process.join(timeout=30)
        outcomes += [results.get(timeout=30) for _ in processes]
    assert [o for o in outcomes if o != "ok"] == []


# --- the file deleted or replaced under the store -----------------------------------


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_file_deleted_or_replaced_in_use_stops_every_append(
    tmp_path: Path, how: str
) -> None:
    """`rm .harness/harness.db*` (or a copy put in its place) while the store is open:
    the next commit says so, naming the file, and nothing more is accepted, instead of
    appends that 'succeed' into a file nobody can open any more."""
    path = tmp_path / "harness.db"
    store = await open_store(sqlite_url(path))
    try:
        await store.append([output("s", 1)])
        for leftover in tmp_path.glob("harness.db*"):
            leftover.unlink()
        if how == "replaced":
            sqlite3.connect(path).close()
            path.write_bytes(b"")
        with pytest.raises(StoreLostError) as caught:
            await store.append([output("s", 2)])
        assert str(path) in str(caught.value) and "deleted" in str(caught.value)
        with pytest.raises(StoreLostError):
            await store.append([output("s", 3)])
    finally:
        await store.close()


async def test_a_checkpoint_that_no_longer_decodes_is_rebuilt_not_read(
    sqlite_store_url: str,
) -> None:
    store = await open_store(sqlite_store_url)
    try:
        await store.append([output("a", 1)])
        await store.save_checkpoint("p", 1, 1, {"n": 1}, {"a": 1}, rebuilt=True)
        with sqlite3.connect(sqlite_path(sqlite_store_url)) as db:
            db.execute("UPDATE projection_sessions SET state = '{broken' WHERE name = 'p'")
        assert await store.load_checkpoint("p") is None
        # Rebuilt at the same position, it is whole again.
        assert await store.save_checkpoint("p", 1, 1, {"n": 1}, {"a": 1}, rebuilt=True)
        checkpoint = await store.load_checkpoint("p")
        assert checkpoint is not None and checkpoint.sessions == {"a": 1}
    finally:
        await store.close()


async def test_a_store_from_before_checkpoints_gains_them(sqlite_store_url: str) -> None:
    store = await open_store(sqlite_store_url)
    await store.append([output("a", 1)])
    await store.close()
    with sqlite3.connect(sqlite_path(sqlite_store_url)) as db:
        db.execute("DROP TABLE projection_sessions")
        db.execute("DROP TABLE projection_checkpoints")
        db.execute("DELETE FROM schema_migrations WHERE version = 2")

    store = await open_store(sqlite_store_url)
    try:
        assert [e.seq for e in await store.read("a")] == [1]
        assert await store.save_checkpoint("p", 1, 1, {}, {"a": 1}, rebuilt=True)
    finally:
        await store.close()
