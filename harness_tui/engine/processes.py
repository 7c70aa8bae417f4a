"""The process groups of the commands an engine runs, on record so that none outlives a
crash of the engine unseen.

Every command (an inline bash call, a background task, a validation command) runs as
the leader of a process group of its own, and is held at its start until its group is
in the log (`tool.started`, `task.started`, `validation.started` carry `pgid`,
`pgid_start` and `owner`). After a crash, recovery kills the groups the log still shows
running whose owner is gone; while the engine lives, `LiveGroups` knows them for a last
resort kill.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from harness_tui.engine.owner import current_owner, machine, process_start_time

# What is recorded of work whose process died with its engine.
INTERRUPTED = "interrupted: the process running it exited"


def process_record(engine_id: str, pgid: int) -> dict[str, Any]:
    """What an event records of a command's process group: enough to stop it later,
    and to tell it apart from a group that reused its id."""
    return {
        "pgid": pgid,
        "pgid_start": process_start_time(pgid),
        "owner": current_owner(engine_id),
    }


def kill_recorded_group(data: dict[str, Any]) -> None:
    """SIGKILL the process group an event recorded (`pgid`, `pgid_start`), all of it:
    the shell and whatever it started, grandchildren included.

    The shell that led the group may be gone while its children run on: the kernel does
    not give its pid to another process while any process of its group remains, so the
    group is still the recorded one and is killed. Only a leader pid that runs with
    another start time was reused: that group is someone else's and is left alone."""
    pgid = data.get("pgid")
    if not isinstance(pgid, int) or pgid <= 1 or pgid == os.getpgrp():
        return
    owner = data.get("owner")
    if isinstance(owner, dict) and owner.get("host", machine()) != machine():
        return  # another machine's process: its group id means nothing here
    started = process_start_time(pgid)
    if started is not None and started != data.get("pgid_start"):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class LiveGroups:
    """The process groups of the commands this engine runs right now."""

    def __init__(self) -> None:
        self._groups: set[int] = set()

    def add(self, pgid: int) -> None:
        self._groups.add(pgid)

    def discard(self, pgid: int) -> None:
        self._groups.discard(pgid)

    def kill_all(self) -> None:
        """SIGKILL every group, recording nothing: for a process that must exit now."""
        for pgid in list(self._groups):
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
