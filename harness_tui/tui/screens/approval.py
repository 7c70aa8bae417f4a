"""The approval prompt: allow once, allow always, deny (with an optional reason), edit
then allow, or decide later. It returns the decision; the app hands it to the engine."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, TextArea

from harness_tui.tui import keys
from harness_tui.tui.model import ApprovalView
from harness_tui.tui.widgets.approval_details import ApprovalDetails


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    approval_id: str
    decision: str  # allow_once | allow_always | deny | edit
    reason: str | None = None
    edited_args: dict[str, Any] | None = None


def edited_args(approval: ApprovalView, text: str) -> dict[str, Any]:
    """The arguments after an edit: a command is edited as text, anything else as JSON.
    Raises ValueError with a message for the person editing."""
    if approval.command is not None and not approval.diff:
        command = text.strip()
        if not command:
            raise ValueError("the command is empty")
        return {**approval.args, "command": command}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise ValueError("the arguments must be a JSON object")
    return value


def edit_text(approval: ApprovalView) -> str:
    if approval.command is not None and not approval.diff:
        return approval.command
    return json.dumps(approval.args, indent=2, ensure_ascii=False)


class ApprovalScreen(ModalScreen[ApprovalDecision | None]):
    BINDINGS = [*keys.APPROVAL, *keys.APPROVAL_FORM]

    def __init__(
        self, approval: ApprovalView, session_title: str, *, start: str = "choose"
    ) -> None:
        super().__init__()
        self.approval = approval
        self.session_title = session_title
        # choose: the five keys; deny: typing a reason; edit: changing the call.
        self.mode = "choose"
        self._start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="approval-dialog") as dialog:
            dialog.border_title = "Approval needed"
            with VerticalScroll(id="approval-body"):
                yield ApprovalDetails(self.approval, self.session_title, id="approval-details")
            yield Label("", id="approval-error")
            yield Input(
                placeholder="Why not? (optional) · Enter denies · Esc goes back",
                id="deny-reason",
            )
            yield TextArea(edit_text(self.approval), id="edit-args", soft_wrap=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#approval-body").focus()
        if self._start == "deny":
            self.action_deny()
        elif self._start == "edit":
            self.action_edit()

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.set_class(mode == "deny", "-deny")
        self.set_class(mode == "edit", "-edit")
        self.query_one("#approval-error", Label).update("")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("allow_once", "allow_always", "deny", "edit", "later"):
            return self.mode == "choose"
        if action in ("confirm", "back"):
            return self.mode != "choose"
        return True

    def _decide(self, decision: str, **extra: Any) -> None:
        self.dismiss(ApprovalDecision(self.approval.approval_id, decision, **extra))

    def action_allow_once(self) -> None:
        self._decide("allow_once")

    def action_allow_always(self) -> None:
        self._decide("allow_always")

    def action_deny(self) -> None:
        self._set_mode("deny")
        self.query_one("#deny-reason", Input).focus()

    def action_edit(self) -> None:
        self._set_mode("edit")
        self.query_one("#edit-args", TextArea).focus()

    def action_later(self) -> None:
        self.dismiss(None)

    def action_back(self) -> None:
        self._set_mode("choose")
        self.query_one("#approval-body").focus()

    def action_confirm(self) -> None:
        if self.mode == "deny":
            reason = self.query_one("#deny-reason", Input).value.strip()
            self._decide("deny", reason=reason or None)
        elif self.mode == "edit":
            text = self.query_one("#edit-args", TextArea).text
            try:
                args = edited_args(self.approval, text)
            except ValueError as exc:
                self.query_one("#approval-error", Label).update(f"Cannot allow the edit: {exc}")
                return
            self._decide("edit", edited_args=args)

    @on(Input.Submitted, "#deny-reason")
    def _deny_submitted(self) -> None:
        self.action_confirm()
