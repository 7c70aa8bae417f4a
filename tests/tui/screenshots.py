"""Regenerate the README's screenshots, from the top of the repository:
`.venv/bin/python -m tests.tui.screenshots`.

Each screen is drawn over a showcase store (every session state, or for the GC screen
sessions with recurring trouble and GC's log; hand-made events, fixed timestamps) with
a fixed clock, so the pictures change only when the dashboard does. They are written
to screenshots/ at the top of the repository, or to the folder given as the first
argument.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot

from harness_tui.config import load_config
from harness_tui.store import open_store, sqlite_url
from harness_tui.tui.app import HarnessApp
from harness_tui.tui.factory import make_app
from harness_tui.tui.screens.gc import GCScreen
from tests.tui.gc_showcase import write_gc_showcase
from tests.tui.showcase import (
    FIX_TEST,
    FIXED_CLOCK,
    PYTEST_TASK,
    showcase_project,
    write_showcase,
)

SIZE = (160, 45)
REPO_SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


@dataclass(frozen=True)
class Shot:
    name: str
    title: str
    keys: tuple[str, ...] = ()
    theme: str = "harness-dark"
    before: Callable[[HarnessApp], Awaitable[None]] | None = None
    # Which store it is drawn over: "showcase" or "gc".
    store: str = "showcase"


async def _select_fix(app: HarnessApp) -> None:
    app.dashboard.select_when_listed(FIX_TEST)


async def _tail_pytest(app: HarnessApp) -> None:
    await _select_fix(app)
    app.open_tail(PYTEST_TASK)


async def _open_gc(app: HarnessApp) -> None:
    await app.push_screen(GCScreen())
    # The screen reads the store in a worker: the picture waits for it.
    await app.workers.wait_for_complete([w for w in app.workers if w.group == "gc-status"])


SHOTS = (
    Shot("dashboard", "harness-tui: every session state"),
    Shot("subagents", "harness-tui: a session, its subagents and tasks", before=_select_fix),
    Shot("approval-command", "harness-tui: approving a command", keys=("ctrl+y",)),
    Shot("approval-diff", "harness-tui: approving an edit", keys=("ctrl+o", "down", "enter")),
    Shot("inbox", "harness-tui: the approval inbox", keys=("ctrl+o",)),
    Shot("task-tail", "harness-tui: tailing a background task", before=_tail_pytest),
    Shot("help", "harness-tui: keys", keys=("f1",)),
    Shot("gc", "harness-tui: GC signals, drafts and the grade", before=_open_gc, store="gc"),
    Shot("theme-light", "harness-tui: harness-light theme", theme="harness-light"),
)


async def _shoot(project: Path, shot: Shot) -> str:
    config = load_config(
        project=project, flags={"provider.name": "scripted", "ui.theme": shot.theme}
    )
    app = make_app(config, clock=FIXED_CLOCK, watch_theme_files=False, key_guard_ms=0)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.pause()
        if shot.before is not None:
            await shot.before(app)
            await pilot.pause()
        await _press(pilot, shot.keys)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        svg = app.export_screenshot(title=shot.title)
        await app.shutdown()
    return svg


async def _press(pilot: Pilot, keys: tuple[str, ...]) -> None:
    if keys:
        await pilot.press(*keys)
        await pilot.pause()


async def generate(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        projects = {
            "showcase": await _project(Path(tmp) / "showcase", gc=False),
            "gc": await _project(Path(tmp) / "gc", gc=True),
        }
        for shot in SHOTS:
            path = out / f"{shot.name}.svg"
            path.write_text(await _shoot(projects[shot.store], shot), encoding="utf-8")
            written.append(path)
    return written


async def _project(directory: Path, *, gc: bool) -> Path:
    """A "shop" project with the showcase store, or the GC screen's."""
    project = showcase_project(directory)
    db = project / ".harness" / "harness.db"
    db.parent.mkdir(parents=True)
    store = await open_store(sqlite_url(db))
    try:
        await (write_gc_showcase(store, project) if gc else write_showcase(store))
    finally:
        await store.close()
    return project


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else REPO_SCREENSHOTS
    for path in asyncio.run(generate(out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
