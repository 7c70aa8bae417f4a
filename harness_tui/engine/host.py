"""The engine's side of one session, handed to its backend (`SessionHost`): the
session's single writer, its policy gate and its approval flow."""

from __future__ import annotations

from typing import Any

from harness_tui.backends.base import Resolution, Verdict
from harness_tui.engine.approvals import Approvals
from harness_tui.engine.context import EngineContext
from harness_tui.engine.session import SessionState
from harness_tui.engine.writer import SessionWriter


class EngineHost(SessionWriter):
    def __init__(self, ctx: EngineContext, state: SessionState) -> None:
        super().__init__(ctx, state)
        self.approvals = Approvals(ctx, self)

    def judge(self, tool: str, args: dict[str, Any]) -> Verdict:
        return self.ctx.judge(self.state, tool, args)

    async def request_approval(self, call_id: str, tool: str, verdict: Verdict) -> Resolution:
        pending = self.approvals.pending_for(call_id) or await self.approvals.request(
            call_id, tool, verdict
        )
        return await self.approvals.await_answer(pending)
