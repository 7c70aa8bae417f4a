"""What the dashboard knows: a bounded fold over the engine's event stream.

The engine's own projection (`SessionState`) keeps every message of a session, which a
model request needs; a screen does not. This fold keeps per session only what is drawn
(status, counters, tasks, pending approvals, children) and a window of log lines, so
the dashboard's memory stays flat however long the log grows. It imports no Textual:
the widgets read it, and tests can drive it directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from harness_tui import events as ev
from harness_tui.events import Event, parse_ts
from harness_tui.gc.service import is_system_session
from harness_tui.store.queue import QUEUED, QueuedSession
from harness_tui.tui.model import (
    ALL_WINDOW,
    OPEN_CALLS_LIMIT,
    SESSION_WINDOW,
    STREAM_TAIL,
    ApprovalView,
    Changes,
    OtherSessions,
    SessionView,
    TaskView,
)
from harness_tui.tui.render import LogLine, render_event
from harness_tui.tui.runners import Runners


class DashboardModel:
    def __init__(self) -> None:
        self.sessions: dict[str, SessionView] = {}
        self.all_lines: deque[LogLine] = deque(maxlen=ALL_WINDOW)
        # Whether all_lines reach back to the log's first event.
        self.all_complete = True
        self.tasks: dict[str, TaskView] = {}
        self.approvals: dict[str, ApprovalView] = {}
        self.streams: dict[str, str] = {}
        # Sessions whose turn is open: the header counts them at every batch.
        self.turns: set[str] = set()
        self.others = OtherSessions()
        self.position = 0
        self.event_count = 0
        # Who runs each session, as the store's leases and queue last said.
        self.runners = Runners()
        # Sessions listed from the queue before any event of theirs (see `queued`).
        self._submitted: set[str] = set()

    # -- reading -------------------------------------------------------------------

    def listed(self) -> list[SessionView]:
        """The agents' sessions, which the session list shows and counts."""
        return [view for view in self.sessions.values() if not view.system]

    def roots(self) -> list[SessionView]:
        """Top-level sessions, newest first, as the session list shows them."""
        roots = [
            view
            for view in self.listed()
            if not view.parent_id or view.parent_id not in self.sessions
        ]
        roots.sort(key=_newest_first)
        return roots

    def children_of(
        self, view: SessionView, by_parent: dict[str, list[SessionView]] | None = None
    ) -> list[SessionView]:
        ordered = [self.sessions[c] for c in view.children if c in self.sessions]
        listed = set(view.children)
        if by_parent is None:
            candidates: Iterable[SessionView] = self.sessions.values()
        else:
            candidates = by_parent.get(view.session_id, ())
        extra = [
            child
            for child in candidates
            if child.parent_id == view.session_id and child.session_id not in listed
        ]
        extra.sort(key=lambda child: child.created_at or _EPOCH)
        return ordered + extra

    def tree(self, roots: int | None = None) -> list[tuple[SessionView, int, bool]]:
        """(session, depth, is_last_sibling) in display order: parents above children;
        of the top-level sessions, the newest `roots` (all when None)."""
        rows: list[tuple[SessionView, int, bool]] = []
        seen: set[str] = set()
        # Children by parent, gathered once: asking every parent to look through every
        # session costs the square of their number.
        by_parent: dict[str, list[SessionView]] = {}
        for child in self.sessions.values():
            if child.parent_id:
                by_parent.setdefault(child.parent_id, []).append(child)

        def visit(view: SessionView, depth: int, last: bool) -> None:
            if view.session_id in seen:  # a malformed log must not loop forever
                return
            seen.add(view.session_id)
            rows.append((view, depth, last))
            children = self.children_of(view, by_parent)
            for index, child in enumerate(children):
                visit(child, depth + 1, index == len(children) - 1)

        for root in self.roots()[:roots]:
            visit(root, 0, False)
        return rows

    def root_count(self) -> int:
        return sum(
            1
            for view in self.sessions.values()
            if not view.system and (not view.parent_id or view.parent_id not in self.sessions)
        )

    def pending_approvals(self) -> list[ApprovalView]:
        """Every pending approval across sessions, oldest first."""
        return sorted(self.approvals.values(), key=lambda a: a.position)

    def tasks_of(self, session_id: str | None) -> list[TaskView]:
        if session_id is None:
            tasks = list(self.tasks.values())
        else:
            view = self.sessions.get(session_id)
            tasks = list(view.tasks.values()) if view else []
        tasks.sort(key=lambda t: (t.status != "running", -(t.started_at or _EPOCH).timestamp()))
        return tasks

    def lines_of(self, session_id: str | None) -> deque[LogLine]:
        if session_id is None:
            return self.all_lines
        view = self.sessions.get(session_id)
        return view.lines if view else deque()

    # -- folding -------------------------------------------------------------------

    def seed(self, summaries: Iterable[Any], counts: Any | None = None) -> None:
        """Session rows from the store's summaries: what the session list shows of a
        session whose log has not been read (see `load_session`). `counts`: what the
        store's summaries add up to (a SessionCounts), when not all are given; the
        rest is kept in `others`, and each further seed takes its sessions from it."""
        if counts is not None:
            self.others = OtherSessions(
                counts.sessions,
                counts.top_level,
                counts.input_tokens,
                counts.output_tokens,
                counts.cost_usd,
            )
        others = self.others
        for summary in summaries:
            view = self.sessions.get(summary.session_id)
            if view is None or view.unlisted:
                if view is None:
                    view = self.sessions[summary.session_id] = self._new_view(summary.session_id)
                    view.loaded = view.lines_complete = False
                view.unlisted = False
                if not getattr(summary, "system", False) and others.sessions > 0:
                    others.sessions -= 1
                    others.top_level -= summary.parent_id is None
                    others.input_tokens -= summary.input_tokens
                    others.output_tokens -= summary.output_tokens
                    others.cost_usd -= summary.cost_usd
            elif view.loaded:
                continue  # its log says more than its summary
            view.counted_through = summary.last_position
            view.system = view.system or getattr(summary, "system", False)
            view.preset = getattr(summary, "preset", None)
            view.sandbox_mode = getattr(summary, "sandbox_mode", None)
            view.unconfined = getattr(summary, "unconfined", None)
            view.title = summary.title
            view.provider = summary.provider
            view.model = summary.model
            view.parent_id = summary.parent_id
            view.status = summary.status
            view.created_at = summary.created_at
            view.updated_at = summary.updated_at
            view.input_tokens = summary.input_tokens
            view.output_tokens = summary.output_tokens
            view.cost_usd = summary.cost_usd

    def queued(self, entries: Iterable[QueuedSession]) -> Changes:
        """Rows for the sessions submitted for a worker that no worker has started yet
        (nothing of theirs is in the log): status queued, their prompt as the title.
        `entries`: the queue's unfinished rows; a row of a session that never started
        and left the queue goes."""
        changes = Changes()
        present = set()
        for entry in entries:
            present.add(entry.session_id)
            if entry.state != QUEUED or entry.session_id in self.sessions:
                continue
            view = self.sessions[entry.session_id] = self._new_view(entry.session_id)
            view.title = " ".join(entry.prompt.split())[:200]
            view.provider = entry.provider or ""
            view.model = Path(entry.model).name if entry.model else ""
            view.status = QUEUED
            view.workspace = entry.project
            view.created_at = entry.submitted_at
            self._submitted.add(entry.session_id)
            changes.structure = True
        for session_id in self._submitted - present:
            self._submitted.discard(session_id)
            started = self.sessions.get(session_id)
            # Its first event sets updated_at: a session that started stays.
            if started is not None and started.updated_at is None:
                del self.sessions[session_id]
                changes.structure = True
        return changes

    def load_session(self, session_id: str, events: Sequence[Event]) -> SessionView:
        """Fold a session's log, from its first event up to `position`, into a fresh
        view in place of what its summary and live events gave: its tasks, pending
        approvals, open turn and the newest window of its lines."""
        old = self.sessions.get(session_id)
        if old is not None:
            self._forget(old)
        view = self.sessions[session_id] = self._new_view(session_id)
        if old is not None:
            # What a summary or the live events said, until the log says otherwise.
            for name in _SUMMARY_FIELDS:
                setattr(view, name, getattr(old, name))
            # Its children come from its subagent.spawned events, in their order; any
            # other child is found by its parent_id.
        changes = Changes()
        for event in events:
            if event.position is None or event.position <= self.position:
                self._apply(event, changes, live=False)
        return view

    def unload_session(self, session_id: str) -> None:
        """Let go of a session's lines (it was read when chosen, and is neither live
        nor chosen any more): memory follows what is on screen, not what was seen."""
        view = self.sessions.get(session_id)
        if view is None or not view.loaded:
            return
        view.lines = deque(maxlen=SESSION_WINDOW)
        view.loaded = view.lines_complete = False
        for task in view.tasks.values():
            task.output.clear()

    def _forget(self, view: SessionView) -> None:
        for task_id in view.tasks:
            self.tasks.pop(task_id, None)
        for approval_id in view.approvals:
            self.approvals.pop(approval_id, None)
        self.streams.pop(view.session_id, None)
        self.turns.discard(view.session_id)

    def start_all_lines(self, events: Sequence[Event], complete: bool) -> None:
        """The "all sessions" log at start-up: the lines of the newest events."""
        self.all_lines.clear()
        self.all_lines.extend(render_page(events))
        self.all_complete = complete

    def prepend_all_lines(self, events: Sequence[Event], complete: bool) -> int:
        """Older events of every session, read as the user scrolled up to them: their
        lines go above the others. Returns how many lines were added."""
        self.all_lines, added = _prepend(self.all_lines, render_page(events), ALL_WINDOW)
        self.all_complete = complete
        return added

    def prepend_session_lines(
        self, session_id: str, events: Sequence[Event], complete: bool
    ) -> int:
        view = self.sessions.get(session_id)
        if view is None:
            return 0
        view.lines, added = _prepend(view.lines, render_page(events), SESSION_WINDOW)
        view.lines_complete = complete
        return added

    def apply(self, events: Sequence[Event], deltas: dict[str, str] | None = None) -> Changes:
        changes = Changes()
        for event in events:
            self._apply(event, changes)
        if events:
            changes.position = self.position
        for session_id, text in (deltas or {}).items():
            # Deltas come straight from the engine, events through the store: the last
            # deltas of a model call often arrive with the event that ended it, or
            # after. Drawn after that event, they would leave a "writing" line that
            # nothing clears any more; only a turn in progress is writing.
            view = self.sessions.get(session_id)
            if session_id in changes.streams_ended or view is None or not view.turn_active:
                continue
            tail = (self.streams.get(session_id, "") + text)[-STREAM_TAIL:]
            self.streams[session_id] = tail
            changes.streams.add(session_id)
        return changes

    def _new_view(self, session_id: str) -> SessionView:
        return SessionView(session_id, system=is_system_session(session_id))

    def _view(self, session_id: str, changes: Changes) -> SessionView:
        view = self.sessions.get(session_id)
        if view is None:
            view = self.sessions[session_id] = self._new_view(session_id)
            changes.structure = True
        return view

    def _apply(self, event: Event, changes: Changes, *, live: bool = True) -> None:
        """Fold one event. `live`: it is the newest in the log (not a session's history
        read later), so it moves the position on and goes into the "all sessions" log."""
        if live:
            self.event_count += 1
            if event.position is not None:
                self.position = event.position
        sid = event.session_id
        known = sid in self.sessions
        view = self._view(sid, changes)
        if not known and live and event.seq > 1:
            # A session older than those read at start, carried on: its summary tells
            # the rest, and its log is read when it is chosen.
            view.loaded = view.lines_complete = False
            view.unlisted = True
            changes.unlisted.add(sid)
        view.updated_at = event.ts
        changes.sessions.add(sid)
        if event.type == ev.SESSION_CREATED and event.data.get("system"):
            view.system = True
        # Rendered before the fold: a result line names its tool from the open call
        # that the fold is about to close. GC's own log draws no lines: its signals,
        # drafts and runs are read on the GC screen, and among the agents' events they
        # would only be noise.
        lines = [] if view.system else render_event(event, view.open_calls, view.tasks)
        if lines:
            if view.loaded:
                if len(view.lines) + len(lines) > (view.lines.maxlen or 0):
                    view.lines_complete = False
                view.lines.extend(lines)
            if live:
                self.all_lines.extend(lines)
                changes.lines.extend(lines)
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, view, event, changes)

    def _drop_approvals(self, view: SessionView, changes: Changes) -> None:
        for approval_id in list(view.approvals):
            self.approvals.pop(approval_id, None)
        if view.approvals:
            view.approvals.clear()
            changes.approvals = True


_EPOCH = datetime(1970, 1, 1).astimezone()

# What a summary tells of a session, kept when its log is read in full (which says
# it again, except of a session whose session.created was never written).
_SUMMARY_FIELDS = (
    "title",
    "provider",
    "model",
    "parent_id",
    "preset",
    "sandbox_mode",
    "unconfined",
    "status",
    "system",
    "created_at",
    "updated_at",
    "input_tokens",
    "output_tokens",
    "cost_usd",
)


def render_page(events: Sequence[Event]) -> list[LogLine]:
    """The log lines of a run of events that may start in the middle of sessions (a
    page of history): folded apart from the model, so that what a session's state
    says is untouched, but with the calls and tasks the page itself opened named."""
    scratch = DashboardModel()
    changes = Changes()
    for event in events:
        scratch._apply(event, changes)
    return changes.lines


def _prepend(
    lines: deque[LogLine], older: list[LogLine], window: int
) -> tuple[deque[LogLine], int]:
    """`older` above `lines`, in a deque that keeps both (the user asked for them)
    and, as new lines arrive, lets the oldest go beyond `window` more. The page ends
    with the event `lines` start with, read again whole: its lines in `lines` go."""
    removed = 0
    if older:
        last = older[-1].position
        while lines and lines[0].position == last:
            lines.popleft()
            removed += 1
    merged = deque(older, maxlen=max(window, len(older) + len(lines)))
    merged.extend(lines)
    return merged, len(older) - removed


def _newest_first(view: SessionView) -> float:
    return -(view.created_at or _EPOCH).timestamp()


Handler = Callable[[DashboardModel, SessionView, Event, Changes], None]


def _created(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    data = event.data
    view.title = data.get("title", "")
    view.provider = data.get("provider", "")
    view.model = data.get("model", "")
    view.parent_id = data.get("parent_id")
    view.preset = data.get("preset")
    view.approval_mode = data.get("approval_mode")
    view.note = data.get("note")
    view.workspace = data.get("workspace", "")
    view.backend = data.get("backend") or ""
    sandbox = data.get("sandbox")
    if isinstance(sandbox, dict):
        view.sandbox_mode = sandbox.get("mode")
        view.sandbox_network = bool(sandbox.get("network"))
    view.created_at = event.ts
    # The log recounts what a summary had seeded.
    view.input_tokens = view.output_tokens = 0
    view.cost_usd = 0.0
    view.counted_through = 0
    if view.parent_id:
        parent = model.sessions.get(view.parent_id)
        if parent is not None and view.session_id not in parent.children:
            parent.children.append(view.session_id)
    changes.structure = True


def _status(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    view.status = event.data.get("status", view.status)


def _approval_mode(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    view.approval_mode = event.data.get("approval_mode", view.approval_mode)


def _unconfined(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    view.unconfined = str(event.data.get("reason") or event.type)


def _turn_started(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    view.turn_active = True
    model.turns.add(view.session_id)
    view.turn_owner = event.data.get("owner")
    view.last_error = None


def _turn_completed(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    view.turn_active = False
    model.turns.discard(view.session_id)
    view.last_error = event.data.get("error")
    view.open_calls.clear()
    if event.data.get("usage"):
        _count_usage(view, event)  # an external agent's account of the whole turn
    # Nobody can answer an approval once its turn is over.
    model._drop_approvals(view, changes)
    _end_stream(model, view, changes)


def _end_stream(model: DashboardModel, view: SessionView, changes: Changes) -> None:
    """The model call ended: its text is in the log, the live line goes."""
    changes.streams_ended.add(view.session_id)
    if model.streams.pop(view.session_id, None) is not None:
        changes.streams.add(view.session_id)


def _model_failed(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    _end_stream(model, view, changes)


def _model_completed(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    _count_usage(view, event)
    _end_stream(model, view, changes)


def _count_usage(view: SessionView, event: Event) -> None:
    # Unless its summary, read after the event was, counted it already.
    if event.position is None or event.position > view.counted_through:
        usage = event.data.get("usage") or {}
        view.input_tokens += int(usage.get("input_tokens") or 0)
        view.output_tokens += int(usage.get("output_tokens") or 0)
        view.cost_usd += float(usage.get("cost_usd") or 0.0)


def _agent_started(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    if event.data.get("asks_permission") is False:
        view.unconfined = ev.AGENT_NEVER_ASKS


def _tool_requested(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    data = event.data
    if len(view.open_calls) >= OPEN_CALLS_LIMIT:
        view.open_calls.pop(next(iter(view.open_calls)))
    view.open_calls[data.get("call_id", "")] = (data.get("tool", "?"), data.get("args") or {})


def _tool_done(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    call_id = event.data.get("call_id", "")
    view.open_calls.pop(call_id, None)


def _approval_requested(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    data = event.data
    call_id = data.get("call_id", "")
    tool, args = view.open_calls.get(call_id, (data.get("tool", "?"), data.get("args") or {}))
    approval = ApprovalView(
        approval_id=data["approval_id"],
        session_id=view.session_id,
        call_id=call_id,
        summary=data.get("summary", ""),
        risk=data.get("risk", ""),
        rule_id=data.get("rule_id"),
        diff=data.get("diff"),
        tool=tool,
        args=dict(args),
        requested_at=event.ts,
        position=event.position or model.position,
        reason=data.get("reason", ""),
        segments=tuple(tuple(argv) for argv in data.get("segments") or ()),
    )
    view.approvals[approval.approval_id] = approval
    model.approvals[approval.approval_id] = approval
    changes.approvals = True
    changes.new_approvals.append(approval)


def _approval_resolved(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    approval_id = event.data.get("approval_id", "")
    view.approvals.pop(approval_id, None)
    model.approvals.pop(approval_id, None)
    changes.new_approvals = [a for a in changes.new_approvals if a.approval_id != approval_id]
    changes.approvals = True


def _task_started(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    data = event.data
    task = TaskView(
        task_id=data["task_id"],
        session_id=view.session_id,
        kind=data.get("kind", "shell"),
        title=data.get("title", ""),
        started_at=_command_started(data) or event.ts,
        child_session_id=data.get("child_session_id"),
    )
    view.tasks[task.task_id] = task
    model.tasks[task.task_id] = task
    changes.tasks.add(view.session_id)


def _command_started(data: dict[str, Any]) -> datetime | None:
    """When a shell task's command started: it ran inline for a while before the task
    was recorded, and its elapsed time counts from then."""
    value = data.get("command_started")
    if not isinstance(value, str):
        return None
    try:
        return parse_ts(value)
    except ValueError:
        return None


def _task_output(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    task = model.tasks.get(event.data.get("task_id", ""))
    if task is None:
        return
    task.output.append(event.data.get("text", ""))
    task.output_count += 1
    changes.task_output.add(task.task_id)


def _task_ended(model: DashboardModel, view: SessionView, event: Event, changes: Changes) -> None:
    task = model.tasks.get(event.data.get("task_id", ""))
    if task is None:
        return
    task.status = event.type.removeprefix("task.")
    task.exit_code = event.data.get("exit_code")
    task.summary = event.data.get("summary", "") or event.data.get("reason", "")
    task.ended_at = event.ts
    changes.tasks.add(task.session_id)
    changes.task_output.add(task.task_id)


def _subagent_spawned(
    model: DashboardModel, view: SessionView, event: Event, changes: Changes
) -> None:
    child_id = event.data.get("child_session_id")
    if child_id and child_id not in view.children:
        view.children.append(child_id)
        changes.structure = True
    task_id = event.data.get("task_id")
    if child_id and task_id and task_id in model.tasks:
        model.tasks[task_id].child_session_id = child_id


_HANDLERS: dict[str, Handler] = {
    ev.SESSION_CREATED: _created,
    ev.SESSION_STATUS: _status,
    ev.SESSION_APPROVAL_MODE: _approval_mode,
    ev.AGENT_STARTED: _agent_started,
    ev.SANDBOX_DISABLED: _unconfined,
    ev.SANDBOX_UNAVAILABLE: _unconfined,
    ev.TURN_STARTED: _turn_started,
    ev.TURN_COMPLETED: _turn_completed,
    ev.MODEL_COMPLETED: _model_completed,
    ev.MODEL_FAILED: _model_failed,
    ev.TOOL_REQUESTED: _tool_requested,
    ev.TOOL_COMPLETED: _tool_done,
    ev.TOOL_FAILED: _tool_done,
    ev.APPROVAL_REQUESTED: _approval_requested,
    ev.APPROVAL_RESOLVED: _approval_resolved,
    ev.TASK_STARTED: _task_started,
    ev.TASK_OUTPUT: _task_output,
    ev.TASK_COMPLETED: _task_ended,
    ev.TASK_FAILED: _task_ended,
    ev.TASK_CANCELLED: _task_ended,
    ev.SUBAGENT_SPAWNED: _subagent_spawned,
}
