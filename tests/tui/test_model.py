"""The dashboard's fold over events: what it keeps, and that it keeps it bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.store import SessionSummary
from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.model import ALL_WINDOW, SESSION_WINDOW, TASK_OUTPUT_WINDOW
from harness_tui.tui.render import render_event
from tests.tui.showcase import showcase_events

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Writer:
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.seq = 0
        self.position = 0

    def __call__(self, type_: str, **data) -> Event:
        self.seq += 1
        Writer.position += 1
        return Event(
            self.session_id,
            self.seq,
            type_,
            data,
            ts=T0 + timedelta(seconds=self.seq),
            position=Writer.position,
        )


Writer.position = 0


def test_showcase_folds_into_every_state():
    model = DashboardModel()
    model.apply(showcase_events())
    states = {view.display_status for view in model.sessions.values()}
    assert states == {"running", "waiting", "idle", "queued", "done", "failed", "cancelled"}
    assert [a.tool for a in model.pending_approvals()] == ["bash", "edit_file"]
    fix = next(v for v in model.sessions.values() if v.title.startswith("Fix the failing"))
    assert len(model.children_of(fix)) == 2
    assert {t.status for t in fix.tasks.values()} == {"running", "failed"}


def test_windows_stay_bounded_however_long_the_log():
    model = DashboardModel()
    write = Writer("s1")
    model.apply(
        [
            write(ev.SESSION_CREATED, title="busy"),
            write(ev.TASK_STARTED, task_id="t", kind="shell", title="yes"),
        ]
    )
    for _ in range(3):
        batch = [
            write(ev.TASK_OUTPUT, task_id="t", stream="stdout", text="y\n")
            for _ in range(ALL_WINDOW)
        ]
        model.apply(batch)
    assert len(model.all_lines) == ALL_WINDOW
    assert len(model.sessions["s1"].lines) == SESSION_WINDOW
    task = model.tasks["t"]
    assert len(task.output) == TASK_OUTPUT_WINDOW
    assert task.output_count == 3 * ALL_WINDOW
    assert len(task.new_output(task.output_count - 5)) == 5


def test_an_approval_is_dropped_when_its_turn_ends():
    model = DashboardModel()
    write = Writer("s2")
    model.apply(
        [
            write(ev.SESSION_CREATED, title="t"),
            write(ev.TURN_STARTED),
            write(ev.TOOL_REQUESTED, call_id="c1", tool="bash", args={"command": "rm -rf build"}),
            write(
                ev.APPROVAL_REQUESTED,
                approval_id="a1",
                call_id="c1",
                summary="rm -rf build",
                risk="high",
            ),
        ]
    )
    (approval,) = model.pending_approvals()
    assert approval.tool == "bash" and approval.command == "rm -rf build"
    assert model.sessions["s2"].display_status == "waiting"
    changes = model.apply([write(ev.TURN_COMPLETED, reason="cancelled")])
    assert changes.approvals and not model.pending_approvals()


def test_each_event_kind_reads_at_a_glance():
    write = Writer("s3")
    calls = {"c1": ("bash", {"command": "pytest -q"})}
    cases = {
        ev.TOOL_REQUESTED: (
            dict(call_id="c1", tool="bash", args={"command": "pytest -q\necho"}),
            "bash  pytest -q …",
        ),
        ev.TOOL_COMPLETED: (
            dict(call_id="c1", result="3 passed\nok", duration_ms=12),
            "bash ✓ 3 passed  (+1 lines)  · 12 ms",
        ),
        ev.POLICY_DECIDED: (
            dict(call_id="c1", decision="forbid", rule_id="sudo", risk="high", reason="root"),
            "forbid · rule sudo · risk high · root",
        ),
        ev.APPROVAL_RESOLVED: (
            dict(approval_id="a", decision="deny", by="user", reason="no"),
            "deny by user · no",
        ),
    }
    for type_, (data, expected) in cases.items():
        (line,) = render_event(write(type_, **data), calls)
        assert line.text == expected
    lines = render_event(write(ev.MODEL_COMPLETED, text="one\ntwo", tool_calls=[]), calls)
    assert [(line.label, line.text) for line in lines] == [("model", "one"), ("", "two")]
    # Terminal escapes in tool output never reach the screen.
    (line,) = render_event(write(ev.TASK_OUTPUT, task_id="t", text="\x1b[31mred\x1b[0m\tx"), calls)
    assert line.text == "red    x"


def test_writing_line_ends_with_the_model_call_whatever_order_deltas_come_in():
    """Deltas come straight from the engine, events through the store: a model call's
    last deltas arrive with the event that ended it, or after the turn is over. Neither
    may bring back a "… is writing" line that nothing would clear."""
    model = DashboardModel()
    write = Writer("s1")
    model.apply([write(ev.SESSION_CREATED, title="t"), write(ev.TURN_STARTED)])
    model.apply([], {"s1": "Looking at "})
    assert model.streams == {"s1": "Looking at "}
    # The reply's event and its last delta in one batch.
    changes = model.apply([write(ev.MODEL_COMPLETED, text="Looking at it.")], {"s1": "it."})
    assert model.streams == {} and "s1" in changes.streams
    # The next model call streams again, then the turn ends; a straggler comes later.
    model.apply([], {"s1": "Done"})
    assert model.streams == {"s1": "Done"}
    model.apply([write(ev.MODEL_FAILED, error="overloaded", retryable=False)])
    assert model.streams == {}
    model.apply([write(ev.TURN_COMPLETED, reason="failed")])
    model.apply([], {"s1": " late"})
    assert model.streams == {}


def test_task_time_counts_from_when_its_command_started():
    """The command ran inline for `inline_ms` before the task was recorded: a task that
    started 6 s ago shows 0:06, not the time since task.started."""
    model = DashboardModel()
    write = Writer("s1")
    started = write(ev.TASK_STARTED, task_id="t", kind="shell", title="sleep 6")
    command_started = started.ts - timedelta(seconds=5)
    started = Event(
        started.session_id,
        started.seq,
        started.type,
        {**started.data, "command_started": command_started.isoformat()},
        ts=started.ts,
        position=started.position,
    )
    model.apply([write(ev.SESSION_CREATED, title="t"), started])
    task = model.tasks["t"]
    assert task.started_at == command_started
    assert task.duration(started.ts + timedelta(seconds=1)) == timedelta(seconds=6)


def test_a_failed_model_request_says_retrying_only_when_another_attempt_follows():
    write = Writer("s4")
    error = "anthropic (127.0.0.1:9): no data from the model server for 30 s"
    retried = write(ev.MODEL_FAILED, error=error, retryable=True, will_retry=True, attempt=1)
    last = write(ev.MODEL_FAILED, error=error, retryable=True, will_retry=False, attempt=5)
    assert render_event(retried, {})[0].text == f"{error} · attempt 1, retrying"
    assert render_event(last, {})[0].text == f"{error} · attempt 5"


def _summary(session_id: str, *, last_position: int, tokens: int) -> SessionSummary:
    return SessionSummary(
        session_id=session_id,
        title=session_id,
        project="",
        provider="scripted",
        model="demo",
        parent_id=None,
        status="idle",
        created_at=T0,
        updated_at=T0,
        last_seq=3,
        last_position=last_position,
        input_tokens=tokens,
        output_tokens=0,
        cost_usd=0.0,
    )


def test_usage_a_summary_counted_is_not_counted_again_when_its_event_arrives():
    """The summaries are read after the position the live stream starts from: an event
    between the two is in a summary's counters already when it arrives."""
    model = DashboardModel()
    model.seed([_summary("s", last_position=12, tokens=100)])
    usage = {"input_tokens": 40}
    model.apply([Event("s", 2, ev.MODEL_COMPLETED, {"usage": usage}, T0, position=12)])
    assert model.sessions["s"].input_tokens == 100
    model.apply([Event("s", 3, ev.MODEL_COMPLETED, {"usage": usage}, T0, position=13)])
    assert model.sessions["s"].input_tokens == 140


def test_a_session_read_whole_replaces_what_its_summary_said():
    model = DashboardModel()
    write = Writer("s")
    events = [
        write(ev.SESSION_CREATED, title="Fix it", provider="scripted", model="demo"),
        write(ev.TASK_STARTED, task_id="t1", kind="shell", title="make"),
        write(ev.MODEL_COMPLETED, usage={"input_tokens": 5}),
    ]
    model.seed([_summary("s", last_position=Writer.position, tokens=999)])
    model.position = Writer.position
    # An event after the model's position comes live later: not folded now.
    late = write(ev.TASK_COMPLETED, task_id="t1")
    view = model.load_session("s", [*events, late])
    assert view.loaded and view.input_tokens == 5
    assert model.tasks["t1"].status == "running"
    assert [line.type for line in view.lines][-1] == ev.MODEL_COMPLETED
