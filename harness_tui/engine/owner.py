"""Which engine runs a turn, and whether that engine is still alive.

A turn records its owner in `turn.started`. On start-up an engine recovers only the
turns whose owner is gone, so a dashboard opened beside a running `--exec` never
marks that run as interrupted.

An engine owns a session (is its single writer) while it holds the session's lease in
the store (`engine.leases`): from its claim, a conditional append at the log's next seq
that records the owner (`SessionWriter.claim`), until it leaves the session settled
(idle, done, failed, cancelled). Meanwhile `working_owner` names it to every other
engine, which refuses input for the session instead of writing.

Whether an owner is alive is the lease's to say, on any host: an owner whose lease
expired is gone, wherever it ran. On the owner's own host a dead pid says so sooner.
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
    from harness_tui.store import Lease

# The statuses of a session nobody is working on: any process may claim it.
SETTLED_STATUSES = ev.TERMINAL_STATUSES | {"idle"}


def process_start_time(pid: int) -> str | None:
    # Field 22 of /proc/PID/stat: the process start time, which tells a reused pid apart.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


# Engines open in this process, with the host each names itself by ([control] host):
# an owner record of this process is alive only while the engine that wrote it is open.
_OPEN_ENGINES: dict[str, str] = {}


def machine() -> str:
    """This machine's name, as the kernel has it: where a pid can be checked."""
    host: str = _process()["host"]
    return host


@cache
def _process() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start": process_start_time(pid)}


def current_owner(engine_id: str) -> dict[str, Any]:
    owner = {**_process(), "engine": engine_id}
    host = _OPEN_ENGINES.get(engine_id)
    if host:
        owner["host"] = host
    return owner


def engine_opened(engine_id: str, host: str | None = None) -> None:
    _OPEN_ENGINES[engine_id] = host or machine()


def engine_closed(engine_id: str) -> None:
    _OPEN_ENGINES.pop(engine_id, None)


def pid_gone(host: str | None, pid: Any, start: str | None) -> bool:
    """True when the process is on this machine and we can tell it is gone (its pid
    runs no more, or runs a process started at another time). Another machine's
    process cannot be checked from here: only its lease says."""
    if host != machine() or not isinstance(pid, int):
        return False
    started = process_start_time(pid)
    return started is None or started != start


def owner_alive(owner: dict[str, Any] | None, lease: Lease | None) -> bool:
    """Whether the engine an owner record names still works on the session: it holds
    the session's lease, unexpired (`lease`: the session's lease as last read). An
    engine of this process is alive while it is open; one on this machine whose process
    is gone is dead at once, without waiting for its lease to run out."""
    if not owner:
        return False
    engine = owner.get("engine")
    pid = owner.get("pid")
    if (
        owner.get("host") == _OPEN_ENGINES.get(str(engine), machine())
        and pid == os.getpid()
        and owner.get("start") == _process()["start"]
    ):
        return engine in _OPEN_ENGINES
    if pid_gone(owner.get("host"), pid, owner.get("start")):
        return False
    return lease is not None and lease.owner == engine and not lease.expired


def lease_owner(lease: Lease) -> dict[str, Any]:
    """A lease's holder as an owner record (what SessionBusy names)."""
    return {"host": lease.host, "pid": lease.pid, "start": lease.pid_start, "engine": lease.owner}


def working_owner(state: SessionState, engine_id: str) -> dict[str, Any] | None:
    """The owner record of another live engine still working on the session (a turn
    open, or its status not settled yet: the end of a turn, its background tasks, a
    worktree session's queue or validation); None when `engine_id` may claim it."""
    if state.turn_active:
        owner = state.turn_owner
    elif state.status and state.status not in SETTLED_STATUSES:
        owner = state.owner
    else:
        return None
    if not owner or owner.get("engine") == engine_id or not owner_alive(owner, state.lease):
        return None
    return owner
