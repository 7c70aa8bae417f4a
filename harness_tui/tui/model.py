"""What the dashboard knows, record by record: a session, its tasks, a pending
approval, and what one batch of events changed. `fold.py` keeps them up to date from
the event stream; the widgets read them. It imports no Textual.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from harness_tui.events import utcnow
from harness_tui.tui.render import LogLine

# How many log lines the "all sessions" view keeps, and each session's view, while
# new ones arrive; pages of older history the user scrolls back to are kept on top.
ALL_WINDOW = 10_000
SESSION_WINDOW = 5_000
# Events read for one page of older history (a session's, or of all sessions), and
# for the "all sessions" log at start-up.
HISTORY_PAGE = 1_000
# Output chunks kept per background task for the tail view's scrollback.
TASK_OUTPUT_WINDOW = 4_000
# Tool calls without a result yet, per session; a bound in case results never come.
OPEN_CALLS_LIMIT = 256
# Live model text kept per session for the "streaming" line.
STREAM_TAIL = 400


@dataclass(frozen=True, slots=True)
class Clock:
    """Where "now" and the display time zone come from. Tests and snapshots pass a
    fixed clock so ages and durations do not change between runs."""

    now: Callable[[], datetime] = utcnow
    # None: the machine's local time zone.
    tz: tzinfo | None = None

    def local(self, ts: datetime) -> datetime:
        return ts.astimezone(self.tz)


@dataclass(slots=True)
class TaskView:
    task_id: str
    session_id: str
    kind: str
    title: str
    status: str = "running"
    exit_code: int | None = None
    summary: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # The session a subagent task runs in, when the engine says so.
    child_session_id: str | None = None
    output: deque[str] = field(default_factory=lambda: deque(maxlen=TASK_OUTPUT_WINDOW))
    # Chunks ever received: a tail view compares it with what it has shown.
    output_count: int = 0

    def duration(self, now: datetime) -> timedelta | None:
        if self.started_at is None:
            return None
        return (self.ended_at or now) - self.started_at

    def new_output(self, seen: int) -> list[str]:
        """Chunks after the first `seen`; those that fell out of the window are gone."""
        missing = self.output_count - seen
        if missing <= 0:
            return []
        if missing >= len(self.output):
            return list(self.output)
        return list(self.output)[-missing:]


@dataclass(slots=True)
class ApprovalView:
    approval_id: str
    session_id: str
    call_id: str
    summary: str
    risk: str
    rule_id: str | None
    diff: str | None
    tool: str
    args: dict[str, Any]
    requested_at: datetime
    position: int
    # Why the policy asks, e.g. "git clean -f deletes untracked files for good".
    reason: str = ""
    # The commands (argv) "allow always" would write rules for; none for other tools.
    segments: tuple[tuple[str, ...], ...] = ()

    @property
    def command(self) -> str | None:
        command = self.args.get("command")
        return command if isinstance(command, str) else None


@dataclass(slots=True)
class SessionView:
    session_id: str
    title: str = ""
    provider: str = ""
    model: str = ""
    parent_id: str | None = None
    preset: str | None = None
    status: str = ""
    approval_mode: str | None = None
    note: str | None = None
    workspace: str = ""
    # The external agent it runs on (session.created's `backend`); empty for our loop.
    backend: str = ""
    # The sandbox its commands run in, as chosen when it started (None: logged before
    # sandboxes, when the config's mode applied) and whether it may reach the network.
    sandbox_mode: str | None = None
    sandbox_network: bool = False
    # Why its commands run unconfined, when an engine said so (sandbox.disabled or
    # sandbox.unavailable): the dashboard shows it loudly.
    unconfined: str | None = None
    # GC's own log: folded like any session, but neither listed nor in the log panes.
    system: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    turn_active: bool = False
    # turn.started's owner: which process and engine run the turn.
    turn_owner: dict[str, Any] | None = None
    last_error: str | None = None
    children: list[str] = field(default_factory=list)
    tasks: dict[str, TaskView] = field(default_factory=dict)
    approvals: dict[str, ApprovalView] = field(default_factory=dict)
    # tool.requested by call_id until its result, so an approval can show the tool.
    open_calls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    lines: deque[LogLine] = field(default_factory=lambda: deque(maxlen=SESSION_WINDOW))
    # Whether the session's log has been folded in (it started while the dashboard
    # watched, or it was read when it was live at start-up or chosen): its tasks,
    # approvals and lines are all there. A session listed from its summary alone is
    # read when it is chosen, and its lines are not kept meanwhile.
    loaded: bool = True
    # Whether `lines` reach back to the session's first event; older pages are read
    # when the user scrolls up to them.
    lines_complete: bool = True
    # The newest position its summary's counters account for: usage in events up to
    # it is counted already when they arrive live.
    counted_through: int = 0
    # Known only from live events so far (a session older than those read at start
    # carried on): its summary is read, and it comes out of `others`.
    unlisted: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def model_label(self) -> str:
        if self.provider and self.model:
            return f"{self.provider}/{self.model}"
        return self.provider or self.model

    @property
    def display_status(self) -> str:
        # A pending approval is what a person must act on, whatever else is going on.
        if self.approvals:
            return "waiting"
        return self.status or "idle"


@dataclass(slots=True)
class OtherSessions:
    """The agents' sessions in the store that the model does not hold (older than
    those listed), counted so the "all sessions" row still adds up every one."""

    sessions: int = 0
    top_level: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(slots=True)
class Changes:
    """What one batch changed, so each widget redraws only its part."""

    sessions: set[str] = field(default_factory=set)
    # A session appeared or moved in the tree: the session list is rebuilt.
    structure: bool = False
    approvals: bool = False
    new_approvals: list[ApprovalView] = field(default_factory=list)
    tasks: set[str] = field(default_factory=set)
    task_output: set[str] = field(default_factory=set)
    lines: list[LogLine] = field(default_factory=list)
    streams: set[str] = field(default_factory=set)
    # Sessions whose model call ended in this batch (its text is in the log now).
    streams_ended: set[str] = field(default_factory=set)
    # The newest position in the batch (0 when it carried no events).
    position: int = 0
    # Sessions the model did not hold that carried on in this batch (not started).
    unlisted: set[str] = field(default_factory=set)
