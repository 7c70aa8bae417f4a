"""Who runs a session, as the dashboard says it from the store's leases and queue: this
dashboard, another process here (its pid), another machine (its name), orphaned, or
queued; and the rows the queue adds to the session list before a worker starts them."""

from __future__ import annotations

from datetime import UTC, datetime

from harness_tui import events as ev
from harness_tui.store import Lease
from harness_tui.store.queue import CLAIMED, QUEUED, QueuedSession
from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.runners import ELSEWHERE, HERE, ORPHANED, WAITING, Runners, runner_of

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def lease(owner: str = "other", host: str = "laptop", *, expired: bool = False) -> Lease:
    return Lease("s1", owner, host, 4312, "1", 7, NOW, expired)


def entry(state: str = QUEUED, worker: str | None = None, sid: str = "s1") -> QueuedSession:
    return QueuedSession(
        sid, "upgrade  the\ndeps", "/p", 3, state=state, worker=worker, submitted_at=NOW
    )


def of(lease_: Lease | None, entry_: QueuedSession | None = None):
    return runner_of(lease_, entry_, engine_id="mine", host="laptop", gone=lambda _: False)


def test_each_runner_in_its_row_and_in_full() -> None:
    assert of(lease(owner="mine")) is not None and of(lease(owner="mine")).kind == HERE
    here_other = of(lease())
    assert (here_other.kind, here_other.short, here_other.long) == (
        ELSEWHERE,
        "pid 4312",
        "run by laptop pid 4312",
    )
    far = of(lease(host="build-7.ci.example"), entry(CLAIMED, "worker-ab12"))
    assert (far.kind, far.short) == (ELSEWHERE, "build-7")
    assert far.long == "run by worker worker-ab12 on build-7.ci.example pid 4312"
    expired = of(lease(expired=True))
    assert (expired.kind, expired.long) == (ORPHANED, "orphaned: laptop pid 4312, lease expired")
    gone = runner_of(lease(), None, engine_id="mine", host="laptop", gone=lambda _: True)
    assert gone is not None and gone.long == "orphaned: laptop pid 4312, process gone"
    queued = of(None, entry())
    assert (queued.kind, queued.short, queued.mark) == (WAITING, "queued", "…")
    let_go = of(None, entry(CLAIMED, "worker-ab12"))
    assert let_go is not None and let_go.kind == ORPHANED
    assert of(None) is None


def test_a_new_reading_says_which_runners_changed() -> None:
    runners = Runners()
    runners.engine_id, runners.host = "mine", "laptop"
    assert runners.update({"s1": lease(owner="mine")}, [entry(sid="s2")]) == {"s1", "s2"}
    assert runners.update({"s1": lease(owner="mine")}, [entry(sid="s2")]) == set()
    # s1 settled (its lease given up), s2 claimed and started elsewhere.
    moved = {"s2": Lease("s2", "w", "laptop", 9, "1", 1, NOW, False)}
    assert runners.update(moved, [entry(CLAIMED, "worker-1", sid="s2")]) == {"s1", "s2"}
    assert runners.of("s1") is None and runners.of("s2").kind == ELSEWHERE


def test_queued_sessions_are_listed_until_they_start_or_leave_the_queue() -> None:
    model = DashboardModel()
    changes = model.queued([entry(sid="q1"), entry(sid="q2")])
    assert changes.structure
    assert {(v.session_id, v.status, v.title) for v in model.roots()} == {
        ("q1", "queued", "upgrade the deps"),
        ("q2", "queued", "upgrade the deps"),
    }
    assert not model.queued([entry(sid="q1"), entry(sid="q2")]).structure
    # q1 is claimed and starts: its events take over its row; q2 left the queue unrun.
    created = ev.Event(
        session_id="q1", seq=1, type=ev.SESSION_CREATED, data={"title": "upgrade"}, ts=NOW
    )
    model.apply([created])
    assert model.queued([entry(CLAIMED, "w", sid="q1")]).structure
    assert [v.session_id for v in model.roots()] == ["q1"]
    assert model.sessions["q1"].title == "upgrade"
