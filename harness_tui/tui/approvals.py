"""Approval prompts in the dashboard: which pending approval pops up by itself and
when, and the answers sent to the engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness_tui.engine.engine import EngineError
from harness_tui.tui.format import ellipsize
from harness_tui.tui.model import ApprovalView
from harness_tui.tui.render import edited_summary
from harness_tui.tui.screens.approval import ApprovalDecision, ApprovalScreen, always_rules
from harness_tui.tui.screens.dashboard import DashboardScreen

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp


def asks(approval: ApprovalView) -> str:
    """What an approval asks, naming the tool once: a file edit's summary already
    starts with it ("edit_file calc.py"), a command's is the command alone."""
    summary = approval.summary.replace("\n", " ")
    if summary.split(" ", 1)[0] == approval.tool:
        return summary
    return f"{approval.tool}: {summary}" if summary else approval.tool


class ApprovalPrompts:
    def __init__(self, app: HarnessApp) -> None:
        self.app = app
        # Approvals answered here whose approval.resolved has not arrived yet, and
        # those the user put off with Esc: neither is prompted for again by itself.
        self.answered: set[str] = set()
        self.deferred: set[str] = set()
        # Approvals that arrived while the dashboard was open: those pop up by
        # themselves. Older ones are announced once and wait in the inbox.
        self.announced: set[str] = set()

    def pending(self) -> list[ApprovalView]:
        return [a for a in self.app.model.pending_approvals() if a.approval_id not in self.answered]

    def announce(self, approvals: list[ApprovalView]) -> None:
        app = self.app
        self.announced.update(approval.approval_id for approval in approvals)
        app.bell()
        for approval in approvals:
            app.notify(
                f"{app.session_title(approval.session_id)}: {ellipsize(asks(approval), 60)}",
                title="Approval needed",
                severity="warning",
                timeout=6,
            )
        self.prompt_next(auto=True)

    def prompt_next(self, *, auto: bool = False) -> bool:
        """Show the oldest pending approval. `auto`: only one that arrived while this
        dashboard was open and was not put off, and only over an idle dashboard."""
        app = self.app
        pending = self.pending()
        if auto:
            pending = [
                a
                for a in pending
                if a.approval_id in self.announced and a.approval_id not in self.deferred
            ]
            # Never pop a prompt under someone typing: a "y" meant for the input bar
            # must not approve a command.
            focused = app.focused
            if app.screen is not app.dashboard or (
                focused is not None and focused.id in ("input", "filter")
            ):
                return False
        if not pending:
            return False
        self.prompt(pending[0])
        return True

    def prompt(self, approval: ApprovalView, *, start: str = "choose") -> None:
        app = self.app
        if isinstance(app.screen, ApprovalScreen):
            return
        title = app.session_title(approval.session_id)

        def decided(decision: ApprovalDecision | None) -> None:
            if decision is None:
                self.deferred.add(approval.approval_id)
                return
            self._resolve(approval, decision)
            if isinstance(app.screen, DashboardScreen):
                self.prompt_next(auto=True)

        app.push_screen(
            ApprovalScreen(
                approval,
                title,
                start=start,
                hold_s=app.key_guard_ms / 1000,
                rules_file=app.rules_file_label,
                confirm_key=app.key_for("confirm_form"),
            ),
            decided,
        )

    def _resolve(self, approval: ApprovalView, decision: ApprovalDecision) -> None:
        self.answered.add(approval.approval_id)
        self.app.dashboard.refresh_header()
        self.app.run_worker(
            self._send(approval, decision),
            name="answer approval",
            group="actions",
            exit_on_error=False,
        )

    async def _send(self, approval: ApprovalView, decision: ApprovalDecision) -> None:
        app = self.app
        try:
            outcome = await app.opened_engine().resolve_approval(
                decision.approval_id,
                decision.decision,
                reason=decision.reason,
                edited_args=decision.edited_args,
            )
        except EngineError as exc:
            self.answered.discard(approval.approval_id)
            app.dashboard.refresh_header()
            app.notify(str(exc), title="Approval not sent", severity="error")
            return
        answer = decision.decision.replace("_", " ")
        app.tell_outcome(outcome, f"{answer.capitalize()} “{ellipsize(asks(approval), 40)}”")
        if decision.decision == "allow_always":
            allowed = ", ".join(always_rules(approval))
            app.notify(
                f"Allowed {allowed} from now on: the rule is in {app.rules_file_label}.",
                title="Allowed always",
            )
        elif decision.decision == "edit" and decision.edited_args is not None:
            app.notify(f"Allowed the edited call: {edited_summary(decision.edited_args)}")
