"""Every key binding, where it applies, and the id that remaps it in `[keys]`."""

from __future__ import annotations

from dataclasses import replace

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from harness_tui.tui import keys
from harness_tui.tui.widgets.footer import KeyFooter


class HelpScreen(ModalScreen[None]):
    BINDINGS = [*keys.HELP]

    def __init__(self, keymap: dict[str, str]) -> None:
        super().__init__()
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = r"remap any of them by id in \[keys] of the config"
            with VerticalScroll(id="help-body"):
                yield Static(self._table(), id="help-table")
        yield KeyFooter()

    def _table(self) -> Table:
        table = Table.grid(padding=(0, 2), expand=True)
        table.add_column("key", no_wrap=True, width=12)
        table.add_column("what", ratio=1)
        table.add_column("id", no_wrap=True, style="dim")
        table.add_row(
            Text("a–z, 0–9, …", style="bold"),
            "On the dashboard, typed text always goes to the input bar, never to an action:"
            " actions are chords. Letters act only where they show what they act on: the"
            " approval prompt (which ignores keys for a moment after it opens, and asks"
            " for a confirming chord to allow always), GC, a yes/no question.",
            "",
        )
        table.add_row("", "", "")
        for index, (context, bindings) in enumerate(keys.CONTEXTS):
            if index:
                table.add_row("", "", "")
            table.add_row("", Text(context, style="bold underline"), "")
            for binding in bindings:
                key = self.keymap.get(binding.id or "", binding.key)
                shown = replace(
                    binding,
                    key=key,
                    key_display=None if key != binding.key else binding.key_display,
                )
                display = ", ".join(
                    self.app.get_key_display(replace(shown, key=part.strip()))
                    for part in key.split(",")
                )
                description = binding.description
                if binding.tooltip:
                    description = f"{description} — {binding.tooltip}"
                table.add_row(Text(display, style="bold"), description, binding.id or "")
        table.add_row("", "", "")
        table.add_row(
            Text("ctrl+p", style="bold"),
            "Command palette: every action, sessions, themes (a theme chosen is saved)",
            "",
        )
        return table

    def action_close(self) -> None:
        self.dismiss(None)
