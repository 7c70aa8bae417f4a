"""Which process runs a turn, and whether that process is still alive.

A turn records its owner in `turn.started`. On start-up an engine recovers only the
turns whose owner is gone, so a dashboard opened beside a running `--exec` never
marks that run as interrupted.

A process owns a session (is its single writer) from its claim, a conditional append
at the log's next seq that records the owner (`SessionWriter.claim`), until it leaves
the session settled (idle, done, failed, cancelled). Meanwhile `working_owner` names it
to every other process, which refuses input for the session instead of writing.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev

if TYPE_CHECKING:
    from harness_tui.engine.session import SessionState

# The statuses of a session nobody is working on: any process may claim it.
SETTLED_STATUSES = ev.TERMINAL_STATUSES | {"idle"}


def process_start_time(pid: int) -> str | None:
    # Field 22 of /proc/PID/stat: the process start time, which tells a reused pid apart.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


# Engines open in this process: an owner record of this process is alive only while
# the engine that wrote it is open.
_OPEN_ENGINES: set[str] = set()


@cache
def _process() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": process_start_time(pid)}


def current_owner(engine_id: str) -> dict[str, Any]:
    return {**_process(), "engine": engine_id}


def engine_opened(engine_id: str) -> None:
    _OPEN_ENGINES.add(engine_id)


def engine_closed(engine_id: str) -> None:
    _OPEN_ENGINES.discard(engine_id)


def owner_alive(owner: dict[str, Any] | None) -> bool:
    """False only when we can tell the owner is gone. Another host's process cannot
    be checked from here, so it counts as alive."""
    if not owner:
        return False
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int):
        return False
    if pid == os.getpid() and owner.get("start") == _process()["start"]:
        return owner.get("engine") in _OPEN_ENGINES
    started = process_start_time(pid)
    return started is not None and started == owner.get("start")


def working_owner(state: SessionState, engine_id: str) -> dict[str, Any] | None:
    """The owner record of another live process still working on the session (a turn
    open, or its status not settled yet: the end of a turn, its background tasks, a
    worktree session's queue or validation); None when `engine_id` may claim it."""
    if state.turn_active:
        owner = state.turn_owner
    elif state.status and state.status not in SETTLED_STATUSES:
        owner = state.owner
    else:
        return None
    if not owner or owner.get("engine") == engine_id or not owner_alive(owner):
        return None
    return owner
