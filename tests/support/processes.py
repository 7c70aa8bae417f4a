"""Processes a test started, found by the pid or process group it knows: one the
events recorded (`task.started` carries `pgid`) or one the command wrote down itself.
Never by a pattern on command lines (`pgrep -f`, `pkill -f`): a parallel run of the
same test has the same command lines, and another run's process would be found, or
killed, in its place."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still runs. Zombies do not count: an orphan's
    zombie lingers until whoever adopted it reaps it, but it runs nothing (and kill(2)
    still finds it, so on Linux this reads /proc)."""
    if sys.platform.startswith("linux"):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue  # it exited while we looked
            # The fields after the command name, which may itself hold spaces or ')'.
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_group(pgid: int) -> None:
    """SIGKILL every process of group `pgid`, if any is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def recorded_groups(record: Path) -> list[int]:
    """The process groups written to `record` so far by bash tool commands that begin
    `echo $$ >> FILE;` (FILE relative to the tool's working directory, which the policy
    lets a command write to). The bash tool starts each command as the leader of a
    process group of its own, so the shell's pid is the group id."""
    try:
        text = record.read_text()
    except FileNotFoundError:
        return []
    # A line still being written has no newline yet.
    return [int(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]
