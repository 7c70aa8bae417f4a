"""A yes/no question, for actions that cannot be taken back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from harness_tui.tui import keys
from harness_tui.tui.widgets.footer import KeyFooter


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [*keys.CONFIRM]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog", classes="dialog") as dialog:
            dialog.border_title = self.title_text
            yield Static(self.question, id="confirm-question")
        yield KeyFooter()

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_dismiss_no(self) -> None:
        self.dismiss(False)
