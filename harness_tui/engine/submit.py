"""Queueing a session for the workers (`harness-tui submit`, the dashboard's "Queue for
a worker"): a row in the store's queue, nothing run here. The worker that claims it
creates the session with its own provider keys, in the project it names."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from harness_tui.engine.commands import issuer
from harness_tui.engine.owner import machine
from harness_tui.engine.scheduler import project_key
from harness_tui.store import EventStore
from harness_tui.store.queue import QueuedSession

if TYPE_CHECKING:
    from harness_tui.config import Config


async def submit_session(
    store: EventStore,
    config: Config,
    prompt: str,
    *,
    project: str | Path | None = None,
    priority: int | None = None,
    provider: str | None = None,
    model: str | None = None,
    worktree: bool | None = None,
    approval_mode: str | None = None,
    sandbox_mode: str | None = None,
) -> QueuedSession:
    """Queue `prompt` as a new session of `project` (default: the config's) and return
    it, with the id it will run under. `priority` defaults to the project's
    ([[projects]] priority, else 0). A `model` that names a file here (a script of the
    scripted provider) is queued as its absolute path, so a worker started elsewhere
    finds it. `approval_mode` and `sandbox_mode` (None: the worker's config) are how
    it will run."""
    key = project_key(project or config.project)
    if priority is None:
        priority = next((p.priority for p in config.projects if project_key(p.path) == key), 0)
    if model and Path(model).is_file():
        model = str(Path(model).resolve())
    entry = QueuedSession(
        session_id=uuid.uuid4().hex[:12],
        prompt=prompt,
        project=key,
        priority=priority,
        provider=provider,
        model=model,
        worktree=worktree,
        approval_mode=approval_mode,
        sandbox_mode=sandbox_mode,
        submitted_by=issuer(config.control.host or machine()),
    )
    return await store.enqueue(entry)
