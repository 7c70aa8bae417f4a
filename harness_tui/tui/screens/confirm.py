"""A yes/no question, for actions that cannot be taken back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from harness_tui.tui import keys
from harness_tui.tui.format import ellipsize
from harness_tui.tui.widgets.footer import KeyFooter


def quit_question(*, working: list[str], waiting: list[str]) -> str:
    """What quitting does to the turns this dashboard runs (by session title), as the
    engine closes them: a turn at work is cancelled, one waiting for an approval is
    left waiting, and can be answered after a restart."""
    parts = []
    if working:
        turns = "turn" if len(working) == 1 else "turns"
        parts.append(
            f"Quitting cancels the running {turns} of {_titles(working)}; "
            "what was done so far stays in the store."
        )
    if waiting:
        one = len(waiting) == 1
        wait, stay, it = ("waits", "stays", "it") if one else ("wait", "stay", "them")
        goes_on = "the turn goes on" if one else "their turns go on"
        parts.append(
            f"{_titles(waiting)} {wait} for an approval and {stay} pending: answer {it} "
            f"when the dashboard opens again, and {goes_on}."
        )
    parts.append("Background tasks started here are stopped.")
    return " ".join(parts)


def _titles(titles: list[str]) -> str:
    names = [f"“{ellipsize(title, 30)}”" for title in titles[:3]]
    if len(titles) > 3:
        names.append(f"{len(titles) - 3} more")
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


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
