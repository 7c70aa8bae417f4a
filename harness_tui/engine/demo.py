"""The offline demo's own project. Each demo session works on a fresh copy of it: a git
repository of its own under the user's data directory, never the user's checkout,
wherever the demo is started from.

Inside the user's tree the copy would be part of the user's repository (its `git clean`
would act there) and, under a `.gitignore`d `.harness/`, its stray file would be
ignored and `git clean -f` would leave it.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness_tui import paths
from harness_tui.engine.worktrees import commit_all, init_repository
from harness_tui.providers.select import seed_demo_project

# The stray file the demo asks to delete: untracked in the copy, and not ignored.
DEMO_STRAY = "debug.log"


def in_demo_copy(workspace: str | Path | None) -> bool:
    """Whether `workspace` is (inside) a demo copy, e.g. a demo session's subagent's."""
    if workspace is None:
        return False
    return Path(workspace).resolve().is_relative_to(paths.demo_copies_dir().resolve())


async def seed_demo_copy(session_id: str) -> Path:
    """A new copy for one session: the module and its failing test committed, the
    stray file beside them."""
    workspace = paths.demo_copies_dir() / session_id
    seed_demo_project(workspace)
    stray = workspace / DEMO_STRAY
    content = stray.read_bytes()
    stray.unlink()
    # The user's global excludes (a "*.log" line, say) would hide the stray file from
    # git clean; the copy's own config points them at nothing.
    await init_repository(workspace, {"core.excludesFile": os.devnull})
    await commit_all(workspace, "The offline demo's project")
    stray.write_bytes(content)
    return workspace.resolve()
