"""Which process runs a turn, and whether that process is still alive.

A turn records its owner in `turn.started`. On start-up an engine recovers only the
turns whose owner is gone, so a dashboard opened beside a running `--exec` never
marks that run as interrupted.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from pathlib import Path
from typing import Any


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
