"""Every pending approval across sessions, oldest first, answered in turn.

The inbox itself decides nothing: an approval arriving while it is open could move
another one under the cursor. Its keys open the approval's prompt, which shows what
is being decided and holds keys for a moment, as it does wherever it opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Static

from harness_tui.tui import keys
from harness_tui.tui.format import ellipsize, short_duration
from harness_tui.tui.model import ApprovalView, Changes
from harness_tui.tui.widgets.approval_details import ApprovalDetails
from harness_tui.tui.widgets.footer import KeyFooter

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp


class InboxScreen(Screen[None]):
    BINDINGS = [*keys.INBOX]
    app: HarnessApp

    def __init__(self) -> None:
        super().__init__(id="inbox")
        self._order: list[str] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="inbox-body"):
            table: DataTable[Text] = DataTable(id="inbox-table", cursor_type="row")
            table.border_title = "Approval inbox · oldest first"
            # The table takes Enter itself, so the footer cannot show it.
            table.border_subtitle = (
                f"{self.app.key_for('open_approval')} answers the highlighted one"
            )
            yield table
            with VerticalScroll(id="inbox-preview"):
                yield ApprovalDetails(None, id="inbox-details")
            yield Static("", id="inbox-empty")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#inbox-table", DataTable)
        table.add_column("Waiting", key="age", width=7)
        table.add_column("Session", key="session", width=28)
        table.add_column("Tool", key="tool", width=10)
        table.add_column("Asks", key="asks")
        table.add_column("Risk", key="risk", width=8)
        table.add_column("Rule", key="rule", width=20)
        self._fill()
        table.focus()

    def on_screen_resume(self) -> None:
        # Back from a prompt: the approval just answered leaves the list at once.
        self._fill()

    def model_changed(self, changes: Changes) -> None:
        if changes.approvals:
            self._fill()

    def _pending(self) -> list[ApprovalView]:
        return self.app.approvals.pending()

    def _fill(self) -> None:
        table = self.query_one("#inbox-table", DataTable)
        pending = self._pending()
        keys_now = [a.approval_id for a in pending]
        if keys_now == self._order:
            return
        row = table.cursor_row
        table.clear()
        now = self.app.clock.now()
        for approval in pending:
            table.add_row(
                Text(short_duration(now - approval.requested_at), justify="right"),
                ellipsize(self.app.session_title(approval.session_id), 28),
                approval.tool,
                ellipsize(approval.summary.replace("\n", " "), 80),
                approval.risk,
                approval.rule_id or "—",
                key=approval.approval_id,
            )
        self._order = keys_now
        if pending:
            # The next one in turn sits where the answered one was.
            table.move_cursor(row=min(max(row, 0), len(pending) - 1), animate=False)
        self.set_class(not pending, "-empty")
        self.query_one("#inbox-empty", Static).update(
            "" if pending else "No approvals are pending. Esc goes back to the dashboard."
        )
        self._preview()

    def _current(self) -> ApprovalView | None:
        table = self.query_one("#inbox-table", DataTable)
        if self._order and 0 <= table.cursor_row < len(self._order):
            return self.app.model.approvals.get(self._order[table.cursor_row])
        return None

    @on(DataTable.RowHighlighted, "#inbox-table")
    def _preview(self) -> None:
        approval = self._current()
        title = self.app.session_title(approval.session_id) if approval else ""
        self.query_one("#inbox-details", ApprovalDetails).show(approval, title)

    @on(DataTable.RowSelected, "#inbox-table")
    def action_open(self) -> None:
        approval = self._current()
        if approval is not None:
            self.app.approvals.prompt(approval)

    def action_deny(self) -> None:
        approval = self._current()
        if approval is not None:
            self.app.approvals.prompt(approval, start="deny")

    def action_edit(self) -> None:
        approval = self._current()
        if approval is not None:
            self.app.approvals.prompt(approval, start="edit")

    def action_close(self) -> None:
        # Seen here and left pending: they do not pop up again on the dashboard.
        self.app.approvals.deferred.update(a.approval_id for a in self._pending())
        self.dismiss(None)
