"""Who runs each session the dashboard lists: this dashboard, another process or worker
(host, pid), nobody any more (orphaned: its lease ran out or its process is gone), or
nobody yet (queued for a worker). It imports no Textual.

What it knows comes from two reads of the store, whatever the number of sessions: the
held leases, and the queue's unfinished rows (store.control, store.queue). The
dashboard reads both on its one-second tick, so a row's runner is at most that old.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from harness_tui.engine.owner import pid_gone
from harness_tui.store import Lease
from harness_tui.store.queue import CLAIMED, QUEUED, QueuedSession
from harness_tui.tui.format import ellipsize

# The session list's runner cell: "here", "pid 12345", a host, "orphaned", "queued";
# where the list is narrow, one of MARKS.
RUNNER_WIDTH = 14

HERE = "here"
ELSEWHERE = "elsewhere"
ORPHANED = "orphaned"
WAITING = "queued"
MARKS = {HERE: "·", ELSEWHERE: "⇄", ORPHANED: "!", WAITING: "…"}


@dataclass(frozen=True, slots=True)
class Runner:
    # HERE, ELSEWHERE, ORPHANED or WAITING.
    kind: str
    # What the session's row shows (RUNNER_WIDTH at most).
    short: str
    # What the selected session's log title says.
    long: str

    @property
    def mark(self) -> str:
        """The one-cell form of `short`, for a narrow session list."""
        return MARKS[self.kind]


def runner_of(
    lease: Lease | None,
    entry: QueuedSession | None,
    *,
    engine_id: str,
    host: str,
    gone: Callable[[Lease], bool] | None = None,
) -> Runner | None:
    """Who runs a session, from its lease and its queue row (either may be None);
    None when nobody runs it and nobody is meant to (it is settled). `engine_id` and
    `host`: this dashboard's engine and the name it gives its machine. `gone`: whether
    a lease's process is known dead (default: its pid, on this machine)."""
    worker = entry.worker if entry is not None and entry.state == CLAIMED else None
    if lease is not None:
        where = f"{lease.host} pid {lease.pid}"
        if lease.owner == engine_id:
            return Runner(HERE, HERE, "run by this dashboard")
        if lease.expired:
            return Runner(ORPHANED, ORPHANED, f"orphaned: {where}, lease expired")
        if (gone or _pid_gone)(lease):
            return Runner(ORPHANED, ORPHANED, f"orphaned: {where}, process gone")
        # Another machine by its first name ("build-7" of build-7.ci.example).
        short = f"pid {lease.pid}" if lease.host == host else lease.host.split(".")[0]
        by = f"worker {worker} on " if worker else ""
        return Runner(ELSEWHERE, ellipsize(short, RUNNER_WIDTH), f"run by {by}{where}")
    if entry is None:
        return None
    if entry.state == QUEUED:
        return Runner(WAITING, WAITING, f"queued for a worker, priority {entry.priority}")
    if worker:
        # Claimed, and its lease given up: the next worker that claims adopts it.
        return Runner(ORPHANED, ORPHANED, f"orphaned: worker {worker} let it go")
    return None


def _pid_gone(lease: Lease) -> bool:
    return pid_gone(lease.host, lease.pid, lease.pid_start)


class Runners:
    """The runner of every session, as last read from the store."""

    def __init__(self) -> None:
        self.engine_id = ""
        self.host = ""
        self._leases: dict[str, Lease] = {}
        self._queue: dict[str, QueuedSession] = {}
        self._runners: dict[str, Runner] = {}

    def of(self, session_id: str) -> Runner | None:
        return self._runners.get(session_id)

    def waiting(self) -> list[QueuedSession]:
        """The submitted sessions no worker has claimed yet."""
        return [entry for entry in self._queue.values() if entry.state == QUEUED]

    def update(self, leases: dict[str, Lease], queue: Iterable[QueuedSession]) -> set[str]:
        """Take a new reading; returns the sessions whose runner changed."""
        self._leases = leases
        self._queue = {entry.session_id: entry for entry in queue}
        runners: dict[str, Runner] = {}
        for session_id in self._leases.keys() | self._queue.keys():
            runner = runner_of(
                self._leases.get(session_id),
                self._queue.get(session_id),
                engine_id=self.engine_id,
                host=self.host,
            )
            if runner is not None:
                runners[session_id] = runner
        changed = {
            session_id
            for session_id in runners.keys() | self._runners.keys()
            if runners.get(session_id) != self._runners.get(session_id)
        }
        self._runners = runners
        return changed
