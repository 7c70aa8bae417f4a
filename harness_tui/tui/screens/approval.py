"""The approval prompt: allow once, allow always, deny (with an optional reason), edit
then allow, or decide later. It returns the decision; the app hands it to the engine.

It may open by itself while the user is busy with something else, so it never takes a
key meant for something else as a decision: for a moment after it opens, and after
every key pressed in that moment, it ignores every key but Esc (the user is still
typing, not reading). Allow always also shows the rule it would write and waits for
a confirming chord.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Label, Static, TextArea

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


def always_rules(approval: ApprovalView) -> list[str]:
    """The commands "allow always" would allow from now on, one rule each."""
    return [shlex.join(argv) for argv in approval.segments]


# Actions that decide, or open a form that decides: held while keys are held.
DECIDING = ("allow_once", "allow_always", "deny", "edit", "confirm")


class ApprovalScreen(ModalScreen[ApprovalDecision | None]):
    BINDINGS = [*keys.APPROVAL, *keys.APPROVAL_FORM]

    def __init__(
        self,
        approval: ApprovalView,
        session_title: str,
        *,
        start: str = "choose",
        hold_s: float = 0.0,
        rules_file: str = ".harness/policy.toml",
        confirm_key: str = "ctrl+s",
    ) -> None:
        super().__init__()
        self.approval = approval
        self.session_title = session_title
        # choose: the keys; deny: typing a reason; edit: changing the call;
        # always: the rule allow always would write, waiting for the confirming chord.
        self.mode = "choose"
        self._start = start
        self.hold_s = hold_s
        self.rules_file = rules_file
        # How the confirming chord is shown, after the user's remapping.
        self.confirm_key = confirm_key
        self._held_until = 0.0

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
            yield Static(self._always_text(), id="always-note")
        yield Footer()

    def _always_text(self) -> str:
        rules = "\n".join(f"  allow  {rule}" for rule in always_rules(self.approval))
        return (
            f"Allow always runs it now and adds to {self.rules_file}:\n{rules}\n"
            "From then on these run without asking, in every session of this project.\n"
            f"{self.confirm_key} allows always · Esc goes back"
        )

    def on_mount(self) -> None:
        self.query_one("#approval-body").focus()
        self._hold()
        if self._start == "deny":
            self.action_deny()
        elif self._start == "edit":
            self.action_edit()

    # -- holding keys ----------------------------------------------------------------

    @property
    def holding_keys(self) -> bool:
        return time.monotonic() < self._held_until

    def _hold(self) -> None:
        """Ignore keys for hold_s from now: the prompt has just opened, or a key came
        while it was still holding them (someone is typing, not reading)."""
        if self.hold_s <= 0:
            return
        was_holding = self.holding_keys
        self._held_until = time.monotonic() + self.hold_s
        if not was_holding:
            self.query_one("#approval-dialog").border_subtitle = "keys work in a moment"
            self.refresh_bindings()
            self.set_timer(self.hold_s, self._release)

    def _release(self) -> None:
        left = self._held_until - time.monotonic()
        if left > 0:
            self.set_timer(left, self._release)
            return
        self.query_one("#approval-dialog").border_subtitle = ""
        self.refresh_bindings()
        self._focus_mode()

    def on_key(self, event: events.Key) -> None:
        # Keys reach the screen before its bindings run (the app checks those once
        # the key has passed the focused widget and the screen). Esc, help and quit
        # decide nothing and always pass.
        if not self.holding_keys:
            return
        binding = self.active_bindings.get(event.key)
        if binding is not None and binding.binding.action in ("later", "back", "help", "quit"):
            return
        event.stop()
        event.prevent_default()
        self._hold()

    # -- modes -----------------------------------------------------------------------

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.set_class(mode == "deny", "-deny")
        self.set_class(mode == "edit", "-edit")
        self.set_class(mode == "always", "-always")
        self.query_one("#approval-error", Label).update("")
        self.refresh_bindings()
        self._focus_mode()

    def _focus_mode(self) -> None:
        # A field takes keys only once keys are not held: text typed before the
        # prompt was read must not become a reason, let alone be sent with Enter.
        if self.mode == "deny" and not self.holding_keys:
            self.query_one("#deny-reason", Input).focus()
        elif self.mode == "edit" and not self.holding_keys:
            self.query_one("#edit-args", TextArea).focus()
        else:
            self.query_one("#approval-body").focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "allow_always" and not self.approval.segments:
            # Only a command can be allowed always (a rule for it is written); other
            # calls are allowed once, so the choice is not offered.
            return False
        if action in ("allow_once", "allow_always", "deny", "edit", "later"):
            if self.mode != "choose":
                return False
        elif action in ("confirm", "back"):
            if self.mode == "choose":
                return False
        if action in DECIDING and self.holding_keys:
            return None  # shown, dimmed: it works in a moment
        return True

    def _decide(self, decision: str, **extra: Any) -> None:
        if self.holding_keys:
            self._hold()
            return
        self.dismiss(ApprovalDecision(self.approval.approval_id, decision, **extra))

    def action_allow_once(self) -> None:
        self._decide("allow_once")

    def action_allow_always(self) -> None:
        self._set_mode("always")

    def action_deny(self) -> None:
        self._set_mode("deny")

    def action_edit(self) -> None:
        self._set_mode("edit")

    def action_later(self) -> None:
        self.dismiss(None)

    def action_back(self) -> None:
        self._set_mode("choose")

    def action_confirm(self) -> None:
        if self.mode == "always":
            self._decide("allow_always")
        elif self.mode == "deny":
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
