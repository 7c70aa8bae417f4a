"""Background tasks and subagents of the selected session (or of all sessions)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable

from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.format import clock_duration, ellipsize, glyph
from harness_tui.tui.model import Clock, SessionView, TaskView

# Task statuses and the session statuses a subagent row borrows.
_STATUSES = ("running", "completed", "failed", "cancelled", "waiting", "idle", "done", "queued")
_CHILD = "child:"
_FIXED = {"glyph": 1, "kind": 8, "status": 9, "time": 7}
# A long-lived session can have run thousands of tasks; the list shows the newest.
MAX_ROWS = 200


class TasksTable(DataTable[Text]):
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {f"tasks--{s}" for s in _STATUSES}

    def __init__(self, model: DashboardModel, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.model = model
        self.clock = clock
        self.session_id: str | None = None
        self._order: list[str] = []
        self._title_width = 20
        # What each cell shows now: an unchanged cell is not updated (nor repainted).
        self._shown: dict[tuple[str, str], Text] = {}

    @property
    def selected_task(self) -> TaskView | None:
        key = self._selected_key()
        return self.model.tasks.get(key) if key else None

    @property
    def selected_child(self) -> str | None:
        key = self._selected_key()
        return key.removeprefix(_CHILD) if key and key.startswith(_CHILD) else None

    def _selected_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self._order):
            return self._order[self.cursor_row]
        return None

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        title = max(10, width - sum(_FIXED.values()) - 2 * (len(_FIXED) + 1))
        if title != self._title_width:
            self._title_width = title
            self.rebuild()

    def on_mount(self) -> None:
        # Glyph colours come from the theme: repaint them when it changes.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.restyle())

    def show(self, session_id: str | None) -> None:
        self.session_id = session_id
        if [key for key, _ in self._rows()] == self._order:
            # The same rows: refreshing their cells avoids a relayout of the screen.
            self.tick()
        else:
            self.rebuild()
        self.move_cursor(row=0, animate=False)

    def _rows(self) -> list[tuple[str, tuple[Text, ...]]]:
        now = self.clock.now()
        rows = [(task.task_id, self._task_cells(task, now)) for task in self._tasks()]
        if self.session_id is not None:
            view = self.model.sessions.get(self.session_id)
            linked = {t.child_session_id for t in self.model.tasks.values() if t.child_session_id}
            for child in self.model.children_of(view) if view else []:
                if child.session_id not in linked:
                    rows.append((_CHILD + child.session_id, self._child_cells(child, now)))
        return rows

    def _tasks(self) -> list[TaskView]:
        return self.model.tasks_of(self.session_id)[:MAX_ROWS]

    def rebuild(self) -> None:
        selected = self._selected_key()
        self.clear(columns=True)
        self._shown.clear()
        self.add_column("", width=_FIXED["glyph"], key="glyph")
        self.add_column("Task", width=self._title_width, key="title")
        self.add_column("Kind", width=_FIXED["kind"], key="kind")
        self.add_column("Status", width=_FIXED["status"], key="status")
        self.add_column(Text("Time", justify="right"), width=_FIXED["time"], key="time")
        self._order = []
        for key, cells in self._rows():
            self._order.append(key)
            self.add_row(*cells, key=key)
        if selected in self._order:
            self.move_cursor(row=self._order.index(selected), animate=False)

    def sync(self, sessions: set[str]) -> None:
        """Tasks of these sessions changed."""
        if self.session_id is None or self.session_id in sessions or self._has_child_in(sessions):
            keys = [key for key, _ in self._rows()]
            if keys != self._order:
                self.rebuild()
                return
            self.tick()

    def _has_child_in(self, sessions: set[str]) -> bool:
        view = self.model.sessions.get(self.session_id or "")
        return bool(view and sessions.intersection(view.children))

    def _set(self, key: str, column: str, value: Text) -> None:
        if self._shown.get((key, column)) != value:
            self._shown[(key, column)] = value
            self.update_cell(key, column, value)

    def restyle(self) -> None:
        # Text equality ignores the style, so forget what was shown: every glyph is
        # drawn again in the new colours.
        self._shown.clear()
        self.tick()

    def tick(self) -> None:
        now = self.clock.now()
        for key in self._order:
            if key.startswith(_CHILD):
                child = self.model.sessions.get(key.removeprefix(_CHILD))
                if child is not None:
                    cells = self._child_cells(child, now)
                    self._set(key, "glyph", cells[0])
                    self._set(key, "status", cells[3])
                continue
            task = self.model.tasks.get(key)
            if task is None:
                continue
            self._set(key, "glyph", self._glyph(task.status))
            self._set(key, "status", Text(task.status))
            self._set(key, "time", Text(clock_duration(task.duration(now)), justify="right"))

    def _glyph(self, status: str) -> Text:
        style = self.get_component_rich_style(f"tasks--{status if status in _STATUSES else 'idle'}")
        return Text(glyph(status), style=style)

    def _task_cells(self, task: TaskView, now: datetime) -> tuple[Text, ...]:
        return (
            self._glyph(task.status),
            Text(ellipsize(task.title or task.task_id, self._title_width)),
            Text(task.kind),
            Text(task.status),
            Text(clock_duration(task.duration(now)), justify="right"),
        )

    def _child_cells(self, child: SessionView, now: datetime) -> tuple[Text, ...]:
        status = child.display_status
        title = f"[{child.preset}] {child.title}" if child.preset else child.title
        age = (now - child.created_at) if child.created_at else None
        return (
            self._glyph(status),
            Text(ellipsize(title or child.session_id, self._title_width)),
            Text("subagent"),
            Text(status),
            Text(clock_duration(age) if status in ("running", "waiting") else "", justify="right"),
        )
