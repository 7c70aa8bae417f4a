"""The top line: project, provider/model, store, and what needs a person's attention.

What needs attention (pending approvals, the offline demo, running turns, the sandbox
the selected session's commands run in, loud when there is none) sits on the right and
is never cut: when the line is short, the project, store and model give way
first, and the attention items switch to their short forms.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from harness_tui.tui.labels import SandboxLabel

# Below this width the attention items take their short forms ("◆ 2 pending").
SHORT_BELOW = 120


class DashboardHeader(Horizontal):
    COMPONENT_CLASSES = {
        "dashboard-header--title",
        "dashboard-header--label",
    }

    def __init__(
        self, *, project: str, store: str, provider: str, note: str | None, sandbox: SandboxLabel
    ) -> None:
        super().__init__(id="header")
        self.project = project
        self.store = store
        self.provider = provider
        self.note = note
        self.sandbox = sandbox
        self.pending = 0
        self.active = 0
        self._short = False

    def compose(self) -> ComposeResult:
        yield Static(id="header-info")
        yield Static(id="header-note")
        yield Static(id="header-activity")
        yield Static(id="header-sandbox")
        yield Static(id="header-approvals")

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        short = self.size.width < SHORT_BELOW
        if short != self._short:
            self._short = short
            self._draw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self._draw()

    def set_counts(self, *, pending: int, active: int) -> None:
        if (pending, active) != (self.pending, self.active):
            self.pending, self.active = pending, active
            self._draw_counts()

    def set_sandbox(self, sandbox: SandboxLabel) -> None:
        if sandbox != self.sandbox:
            self.sandbox = sandbox
            self._draw_sandbox()

    def _draw_sandbox(self) -> None:
        if not self.children:
            return
        label = self.sandbox.short if self._short else self.sandbox.long
        widget = self.query_one("#header-sandbox", Static)
        widget.update(f" {label} ")
        widget.set_class(self.sandbox.loud, "-danger")

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
            ("model ", label),
            self.provider,
            "  ",
            # Last: of the three, the store is the one to give way on a short line.
            ("store ", label),
            self.store,
            no_wrap=True,
            overflow="ellipsis",
        )
        self.query_one("#header-info", Static).update(text)
        note = self.note or ""
        if note and self._short:
            # The gist: "offline demo" says what matters; the notification says why.
            note = note.split(",")[0]
        note_widget = self.query_one("#header-note", Static)
        note_widget.update(f" {note} " if note else "")
        note_widget.display = bool(note)
        self._draw_sandbox()
        self._draw_counts()

    def _draw_counts(self) -> None:
        if not self.children:
            return
        if self.active:
            activity = f" ▶ {self.active} " if self._short else f" ▶ {self.active} running "
        else:
            activity = ""
        self.query_one("#header-activity", Static).update(activity)
        approvals = self.query_one("#header-approvals", Static)
        if self.pending:
            noun = "approval" if self.pending == 1 else "approvals"
            approvals.update(
                f" ◆ {self.pending} pending "
                if self._short
                else f" ◆ {self.pending} {noun} pending "
            )
        else:
            approvals.update(" no approvals " if self._short else " no approvals pending ")
        approvals.set_class(bool(self.pending), "-attention")
