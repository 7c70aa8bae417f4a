"""Pick a session's approval mode."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from harness_tui.tui import keys
from harness_tui.tui.widgets.footer import KeyFooter

APPROVAL_MODES = (
    ("untrusted", "ask for anything no rule allows"),
    ("on-request", "ask only where a rule says to ask"),
    ("auto", "allow everything that is not forbidden"),
    ("never", "never ask: what would ask is denied"),
)


class ApprovalModeScreen(ModalScreen[str | None]):
    BINDINGS = [*keys.PICKER]

    def __init__(self, session_title: str, current: str | None) -> None:
        super().__init__()
        self.session_title = session_title
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="mode-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Approval mode · {self.session_title}"
            yield OptionList(
                *(
                    Option(f"{'●' if mode == self.current else ' '} {mode:<11} {what}", id=mode)
                    for mode, what in APPROVAL_MODES
                ),
                id="modes",
            )
        yield KeyFooter()

    def on_mount(self) -> None:
        options = self.query_one("#modes", OptionList)
        modes = [mode for mode, _ in APPROVAL_MODES]
        if self.current in modes:
            options.highlighted = modes.index(self.current)
        options.focus()

    @on(OptionList.OptionSelected, "#modes")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)
