"""A background task's output, followed live like `tail -f`, with scrollback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Log, Static

from harness_tui.tui import keys
from harness_tui.tui.format import clock_duration, glyph
from harness_tui.tui.model import Changes
from harness_tui.tui.render import ANSI
from harness_tui.tui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp

# Lines of scrollback the tail keeps; older output stays in the store.
TAIL_LINES = 10_000


class TailScreen(Screen[None]):
    BINDINGS = [*keys.TAIL]
    app: HarnessApp

    def __init__(self, task_id: str) -> None:
        super().__init__(id="tail")
        self.task_id = task_id
        self._seen = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="tail-title")
        log = Log(id="tail-log", max_lines=TAIL_LINES)
        yield log
        yield Static("", id="tail-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        task = self.app.model.tasks[self.task_id]
        log = self.query_one(Log)
        log.border_title = f"{task.kind} · {task.title}"
        self.query_one("#tail-title", Static).update(
            f"Tail · {self.app.session_title(task.session_id)} · task {task.task_id}"
        )
        self._write(follow=True)
        self._status()
        log.focus()
        self.set_interval(1.0, self._status, name="tail clock")

    def model_changed(self, changes: Changes) -> None:
        if self.task_id in changes.task_output:
            log = self.query_one(Log)
            self._write(follow=log.is_vertical_scroll_end)
            self._status()

    def _write(self, *, follow: bool) -> None:
        task = self.app.model.tasks[self.task_id]
        chunks = task.new_output(self._seen)
        self._seen = task.output_count
        if chunks:
            self.query_one(Log).write(ANSI.sub("", "".join(chunks)), scroll_end=follow)

    def _status(self) -> None:
        task = self.app.model.tasks[self.task_id]
        log = self.query_one(Log)
        text = f"{glyph(task.status)} {task.status}"
        duration = task.duration(self.app.clock.now())
        if duration is not None:
            text += f" · {clock_duration(duration)}"
        if task.exit_code is not None:
            text += f" · exit {task.exit_code}"
        if task.summary:
            text += f" · {task.summary.splitlines()[0] if task.summary.strip() else ''}"
        text += f" · {log.line_count:,} lines"
        if log.is_vertical_scroll_end:
            text += " · following"
        else:
            text += f" · paused ({self.app.key_for('follow')} follows)"
        self.query_one("#tail-status", Static).update(text)

    def action_follow(self) -> None:
        self.query_one(Log).scroll_end(animate=False)
        self._status()

    def action_close(self) -> None:
        self.dismiss(None)
