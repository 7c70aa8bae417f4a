"""The top line: project, store, provider/model, and what needs a person's attention."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class DashboardHeader(Horizontal):
    COMPONENT_CLASSES = {
        "dashboard-header--title",
        "dashboard-header--label",
        "dashboard-header--note",
    }

    def __init__(self, *, project: str, store: str, provider: str, note: str | None) -> None:
        super().__init__(id="header")
        self.project = project
        self.store = store
        self.provider = provider
        self.note = note
        self.pending = 0
        self.active = 0

    def compose(self) -> ComposeResult:
        yield Static(id="header-info")
        yield Static(id="header-activity")
        yield Static(id="header-approvals")

    def on_mount(self) -> None:
        self._draw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self._draw()

    def set_counts(self, *, pending: int, active: int) -> None:
        if (pending, active) != (self.pending, self.active):
            self.pending, self.active = pending, active
            self._draw_counts()

    def _draw(self) -> None:
        if not self.children:
            return
        title = self.get_component_rich_style("dashboard-header--title")
        label = self.get_component_rich_style("dashboard-header--label")
        text = Text.assemble(
            (" harness-tui ", title),
            "  ",
            ("project ", label),
            self.project,
            "  ",
            ("store ", label),
            self.store,
            "  ",
            ("model ", label),
            self.provider,
            no_wrap=True,
            overflow="ellipsis",
        )
        if self.note:
            text.append(f" · {self.note}", self.get_component_rich_style("dashboard-header--note"))
        self.query_one("#header-info", Static).update(text)
        self._draw_counts()

    def _draw_counts(self) -> None:
        activity = f" ▶ {self.active} running " if self.active else ""
        self.query_one("#header-activity", Static).update(activity)
        approvals = self.query_one("#header-approvals", Static)
        if self.pending:
            noun = "approval" if self.pending == 1 else "approvals"
            approvals.update(f" ◆ {self.pending} {noun} pending ")
        else:
            approvals.update(" no approvals pending ")
        approvals.set_class(bool(self.pending), "-attention")
