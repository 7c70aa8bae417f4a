"""What an approval is about: the session, the tool, the rule and risk, and the command
or the diff, syntax-highlighted. Shared by the prompt and the inbox."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.style import Style
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from harness_tui.tui.model import ApprovalView

RISK_STYLES = {"high": "bold", "critical": "bold reverse"}


def approval_code(approval: ApprovalView) -> tuple[str, str]:
    """(code, lexer) of what would run: the diff, the command, or the arguments."""
    if approval.diff:
        return approval.diff.rstrip("\n"), "diff"
    if approval.command is not None:
        return approval.command, "bash"
    return json.dumps(approval.args, indent=2, ensure_ascii=False), "json"


class ApprovalDetails(Static):
    COMPONENT_CLASSES = {"approval-details--label", "approval-details--risk"}

    def __init__(self, approval: ApprovalView | None, session_title: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.approval = approval
        self.session_title = session_title

    def on_mount(self) -> None:
        self.update(self._renderable())

    def show(self, approval: ApprovalView | None, session_title: str) -> None:
        self.approval = approval
        self.session_title = session_title
        self.update(self._renderable())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.update(self._renderable())

    def _renderable(self) -> RenderableType:
        approval = self.approval
        if approval is None:
            return Text("No approval selected.")
        label = self.get_component_rich_style("approval-details--label")
        risk = self.get_component_rich_style("approval-details--risk")
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style=label, no_wrap=True)
        facts.add_column(ratio=1)
        facts.add_row("Session", f"{self.session_title}  ({approval.session_id})")
        facts.add_row("Tool", approval.tool)
        facts.add_row("Asks", approval.summary or "—")
        if approval.reason:
            facts.add_row("Why", approval.reason)
        facts.add_row(
            "Rule", approval.rule_id or "no rule allows it (approval mode asks for unknown calls)"
        )
        risk_style = risk + Style.parse(RISK_STYLES.get(approval.risk, "none"))
        facts.add_row("Risk", Text(approval.risk or "unknown", style=risk_style))
        code, lexer = approval_code(approval)
        theme = "monokai" if self.app.current_theme.dark else "friendly"
        syntax = Syntax(
            code,
            lexer,
            theme=theme,
            word_wrap=True,
            # The dialog's own background, so the code sits on it rather than in a box.
            background_color=self.app.theme_variables.get("surface"),
            line_numbers=False,
        )
        heading = {"diff": "Change", "bash": "Command", "json": "Arguments"}[lexer]
        return Group(facts, Text(""), Text(heading, style=label), syntax)
