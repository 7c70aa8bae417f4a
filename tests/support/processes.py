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


def running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


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


def running_groups() -> dict[int, list[int]]:
    """Every process group with a running process (zombies do not count), and the pids
    of those processes: one look at /proc for many groups."""
    groups: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] not in (b"Z", b"X"):
            groups.setdefault(int(fields[2]), []).append(int(entry))
    return groups


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat, as the events record it (`pgid_start`)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2 :].split()[19].decode()


def recorded_group_alive(pgid: int, pgid_start: str | None, running: dict[int, list[int]]) -> bool:
    """Whether the group an event recorded still runs a process. A group whose leader's
    pid now runs with another start time is a new one that reused the id: not it."""
    if pgid not in running:
        return False
    leader = start_time(pgid)
    return leader is None or leader == pgid_start
