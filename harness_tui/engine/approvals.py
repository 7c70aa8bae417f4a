"""The approval flow of one session: `approval.requested` is appended, the turn awaits
a future, and whoever answers (any face, through the Engine facade) resolves it; the
answer is recorded as `approval.resolved`. "Allow always" also writes a rule for the
command into the project's policy file. Pending approvals are a projection of the
log, so one left by a dead process can still be answered.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from harness_tui import events as ev
from harness_tui.backends.base import Resolution, Verdict
from harness_tui.engine.context import EngineContext
from harness_tui.engine.gate import approved_rule
from harness_tui.engine.session import PendingApproval
from harness_tui.engine.writer import SessionWriter
from harness_tui.policy.rules import project_rules_path


class Approvals:
    def __init__(self, ctx: EngineContext, writer: SessionWriter) -> None:
        self.ctx = ctx
        self.writer = writer
        # Answers by approval id; the turn awaits the future of the one it asked.
        self._answers: dict[str, asyncio.Future[Resolution]] = {}

    def pending_for(self, call_id: str) -> PendingApproval | None:
        """The approval the log shows pending for a call (a turn carried on after a
        restart finds it there)."""
        approvals = self.writer.state.approvals.values()
        return next((a for a in approvals if a.call_id == call_id), None)

    async def request(self, call_id: str, tool: str, verdict: Verdict) -> PendingApproval:
        approval_id = "ap_" + uuid.uuid4().hex[:12]
        data: dict[str, Any] = {
            "approval_id": approval_id,
            "call_id": call_id,
            "tool": tool,
            "summary": verdict.summary,
            "reason": verdict.reason,
            "risk": verdict.risk,
        }
        if verdict.rule_id:
            data["rule_id"] = verdict.rule_id
        if verdict.diff:
            data["diff"] = verdict.diff
        if verdict.prompted_segments:
            data["segments"] = [list(argv) for argv in verdict.prompted_segments]
        await self.writer.emit(ev.APPROVAL_REQUESTED, data)
        return self.writer.state.approvals[approval_id]

    async def await_answer(self, pending: PendingApproval) -> Resolution:
        """Wait for the answer, with the session shown waiting, and record it."""
        await self.writer.set_status("waiting")
        try:
            answer = await self._future(pending.approval_id)
        finally:
            self._answers.pop(pending.approval_id, None)
        resolved: dict[str, Any] = {
            "approval_id": pending.approval_id,
            "decision": answer.decision,
            "by": answer.by,
        }
        if answer.reason:
            resolved["reason"] = answer.reason
        if answer.edited_args is not None:
            resolved["edited_args"] = answer.edited_args
        await self.writer.emit(ev.APPROVAL_RESOLVED, resolved, command=answer.command_id)
        if not self.writer.state.approvals:
            await self.writer.set_status("running")
        if answer.decision == "allow_always":
            self._allow_always(pending)
        return answer

    def answer(self, approval_id: str, answer: Resolution) -> None:
        """Give the answer; the waiting turn records it (or the turn that carries on
        the one a dead process left waiting, when it gets there)."""
        future = self._future(approval_id)
        if future.done():
            raise ValueError(f"approval {approval_id} is already answered")
        future.set_result(answer)

    def _future(self, approval_id: str) -> asyncio.Future[Resolution]:
        future = self._answers.get(approval_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._answers[approval_id] = future
        return future

    def _allow_always(self, approval: PendingApproval) -> None:
        """Write an allow rule for exactly this command into the project's policy
        file (the user's comments kept), then use it from the next call on."""
        if not approval.segments:
            return  # Only shell commands have rules; other tools are allowed once.
        from harness_tui.config import update_toml

        def add_rules(document: Any) -> None:
            import tomlkit

            rules = document.get("rule")
            if rules is None:
                rules = tomlkit.aot()
                document.append("rule", rules)
            for argv in approval.segments:
                rules.append(tomlkit.item(approved_rule(tuple(argv), approval.approval_id)))

        update_toml(project_rules_path(self.ctx.project), add_rules)
        self.ctx.reload_policy()
