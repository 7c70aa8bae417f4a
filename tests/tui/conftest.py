"""Fixtures for the dashboard's tests: real stores in temporary folders, the real
engine, and a fixed clock wherever a picture is compared."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input

from harness_tui.config import Config, load_config
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.app import HarnessApp
from harness_tui.tui.factory import make_app
from tests.support.projects import demo_repo
from tests.support.waiting import wait_for
from tests.tui.gc_showcase import write_gc_showcase
from tests.tui.showcase import (
    FIXED_CLOCK,
    showcase_project,
    write_showcase,
)


@pytest.fixture(autouse=True)
def _steady_cursor(monkeypatch):
    """A blinking cursor would make two screenshots of the same screen differ: the
    cursor stays as it was drawn first."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def _store_path(project: Path) -> Path:
    return project / ".harness" / "harness.db"


@pytest.fixture
def showcase_config(tmp_path) -> Callable[..., Config]:
    """A project whose store holds a session in every state (see showcase.py)."""
    project = showcase_project(tmp_path)
    db = _store_path(project)
    db.parent.mkdir(parents=True)

    async def write() -> None:
        store = await open_store(sqlite_url(db))
        try:
            await write_showcase(store)
        finally:
            await store.close()

    asyncio.run(write())

    def make(**flags: Any) -> Config:
        return load_config(project=project, flags={"provider.name": "scripted", **flags})

    return make


class RecordingApp(HarnessApp):
    """The app, keeping every notification it showed so a test can read them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notices: list[str] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.notices.append(message)
        super().notify(message, *args, **kwargs)


@pytest.fixture
def showcase_app(showcase_config) -> Callable[..., HarnessApp]:
    def make(**flags: Any) -> RecordingApp:
        config = showcase_config(**flags)
        return make_app(
            config,
            app_class=RecordingApp,
            clock=FIXED_CLOCK,
            watch_theme_files=False,
            key_guard_ms=0,
        )

    return make


@pytest.fixture
def gc_showcase_app(tmp_path) -> Callable[..., RecordingApp]:
    """The app on the fixed clock over the GC screen's store: sessions that kept running
    into the same walls, and GC's log of them (see gc_showcase.py)."""
    project = showcase_project(tmp_path)
    db = _store_path(project)
    db.parent.mkdir(parents=True)

    async def write() -> None:
        store = await open_store(sqlite_url(db))
        try:
            await write_gc_showcase(store, project)
        finally:
            await store.close()

    asyncio.run(write())

    def make(**flags: Any) -> RecordingApp:
        config = load_config(project=project, flags={"provider.name": "scripted", **flags})
        return make_app(
            config,
            app_class=RecordingApp,
            clock=FIXED_CLOCK,
            watch_theme_files=False,
            key_guard_ms=0,
        )

    return make


@pytest.fixture
def demo_project(tmp_path) -> Path:
    return demo_repo(tmp_path / "demo")


def live_config(project: Path, *, script: Path | None = None, **flags: Any) -> Config:
    """A config for a live run with the scripted provider: quick replies, background
    tasks after a fraction of a second."""
    settings = {
        "provider.name": "scripted",
        "scripted.delay_ms": 20,
        "tools.inline_ms": 300,
        # The demo's slow check, shortened as in tests/support/projects.py QUICK_DEMO,
        # still outlives inline_ms.
        "scripted.slow_step_s": 1.0,
        **flags,
    }
    if script is not None:
        settings["scripted.script"] = str(script)
    return load_config(project=project, flags=settings)


def live_app(config: Config, **kwargs: Any) -> RecordingApp:
    """The app for a live run, built as the command line builds it; the approval
    prompt takes keys at once (the tests that check it holds them set key_guard_ms)."""
    kwargs.setdefault("key_guard_ms", 0)
    app = make_app(config, app_class=RecordingApp, watch_theme_files=False, **kwargs)
    assert isinstance(app, RecordingApp)
    return app


async def wait_until(pilot, predicate: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Let the app run until `predicate` holds; a test fails only if it never does, and
    then with what the app showed."""
    await wait_for(
        predicate,
        timeout=timeout,
        interval=0.05,
        pause=pilot.pause,
        message=lambda: f"{predicate}\n{_screen_state(pilot.app)}",
    )


def _screen_state(app: Any) -> str:
    """What the app showed when a wait timed out, to tell why."""
    lines = [f"screen: {type(app.screen).__name__}, focus: {app.focused}"]
    lines += [f"  notice: {notice}" for notice in getattr(app, "notices", [])]
    model = getattr(app, "model", None)
    if model is not None:
        lines += [f"  {line.label:<10} {line.text[:120]}" for line in list(model.all_lines)[-20:]]
    return "\n".join(lines)


async def stored_app(tmp_path: Path, *sessions: Any, **flags: Any) -> RecordingApp:
    """The dashboard over a project whose store holds `sessions` (SessionLogs), as
    the command line builds it, on the showcase's fixed clock."""
    project = showcase_project(tmp_path)
    db = project / ".harness" / "harness.db"
    db.parent.mkdir(parents=True)
    store = await open_store(sqlite_url(db))
    try:
        for session in sessions:
            await store.append(session.events)
    finally:
        await store.close()
    config = load_config(project=project, flags={"provider.name": "scripted", **flags})
    return make_app(config, app_class=RecordingApp, clock=FIXED_CLOCK, watch_theme_files=False)
