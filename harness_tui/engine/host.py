"""The engine's side of one session, handed to its backend (`SessionHost`): the
session's single writer, its policy gate and its approval flow, and the record of a
turn's start and end that every backend shares."""

from __future__ import annotations

from typing import Any

from harness_tui import events as ev
from harness_tui.backends.base import Resolution, Verdict
from harness_tui.engine.approvals import Approvals
from harness_tui.engine.context import EngineContext
from harness_tui.engine.owner import current_owner, owner_alive
from harness_tui.engine.processes import INTERRUPTED, kill_recorded_group, process_record
from harness_tui.engine.session import AGENT_PROCESS, SessionState
from harness_tui.engine.writer import ClaimEvents, SessionWriter

# After a turn ends, the session's status says what a person should expect next.
STATUS_AFTER = {
    "no_tool_calls": "done",
    "max_steps": "idle",
    "budget": "idle",
    "cancelled": "cancelled",
    "failed": "failed",
}


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

    # -- a turn on the record (external agents; the loop keeps its own) -----------

    async def begin_turn(self, text: str, mode: str, *, command: str | None = None) -> None:
        """Claim the session for a turn: its input and turn.started (this engine the
        owner) in one conditional append, then the status running. SessionBusy when
        another process holds the session (nothing written)."""
        owner = current_owner(self.ctx.engine_id)
        claim: ClaimEvents = [
            (ev.INPUT_RECEIVED, {"text": text, "mode": mode}),
            (ev.TURN_STARTED, {"owner": owner}),
        ]
        await self.claim(lambda state: claim, command=command)
        await self.set_status("running")

    async def end_turn(
        self,
        reason: str,
        error: str | None = None,
        *,
        open_calls: list[str] | tuple[str, ...] = (),
        usage: dict[str, Any] | None = None,
        queued: bool = False,
    ) -> None:
        """Close the running turn on the record: its open approvals answered (nobody can
        any more), its tool calls that never ended failed, turn.completed, and the
        status it leaves (running while `queued` input takes the next turn)."""
        for approval in list(self.state.approvals.values()):
            await self.emit(
                ev.APPROVAL_RESOLVED,
                {
                    "approval_id": approval.approval_id,
                    "decision": "deny",
                    "by": "engine",
                    "reason": f"the turn ended ({reason})",
                },
            )
        note = "cancelled" if reason == "cancelled" else "not finished: the turn ended"
        for call_id in open_calls:
            await self.emit(ev.TOOL_FAILED, {"call_id": call_id, "error": note})
        if self.state.turn_active:
            data: dict[str, Any] = {"reason": reason}
            if error:
                data["error"] = error
            if usage:
                data["usage"] = usage
            await self.emit(ev.TURN_COMPLETED, data)
        status = STATUS_AFTER[reason]
        if queued and status in ("done", "idle"):
            status = "running"
        await self.set_status(status)

    async def close_interrupted(self) -> None:
        """Close the turn a dead process left open (one claim: of two processes doing
        it at once, one closes it and the other finds it closed), after stopping what
        that process left running."""
        self.state.lease = await self.ctx.leases.acquire(self.session_id)
        self.stop_left_behind()
        await self.claim(interrupted_turn_end)

    def stop_left_behind(self) -> None:
        """Kill the process groups the log shows running whose owner is gone: commands,
        and an external agent's process, which must not outlive its engine."""
        for data in self.state.processes.values():
            if not owner_alive(data.get("owner"), self.state.lease):
                kill_recorded_group(data)

    # -- an external agent's process ----------------------------------------------

    async def agent_started(self, data: dict[str, Any], pgid: int) -> None:
        """Record the agent's process (agent.started), with what recovery needs to stop
        its group if this engine dies."""
        record = {**data, **process_record(self.ctx.engine_id, pgid)}
        self.ctx.live_groups.add(pgid)
        await self.emit(ev.AGENT_STARTED, record)

    async def agent_exited(self, data: dict[str, Any]) -> None:
        record = self.state.processes.get(AGENT_PROCESS)
        if record is None:
            return
        if isinstance(record.get("pgid"), int):
            self.ctx.live_groups.discard(record["pgid"])
        await self.emit(ev.AGENT_EXITED, data)

    def agent_left_behind(self) -> bool:
        """Whether the log shows an agent process of the session that no engine runs."""
        record = self.state.processes.get(AGENT_PROCESS)
        return record is not None and not owner_alive(record.get("owner"), self.state.lease)


def interrupted_turn_end(state: SessionState) -> ClaimEvents:
    """The events that close a turn whose process died, or none once it is closed."""
    if not state.turn_active:
        return []
    events: list[tuple[str, dict[str, Any]]] = [
        (
            ev.APPROVAL_RESOLVED,
            {
                "approval_id": approval.approval_id,
                "decision": "deny",
                "by": "engine",
                "reason": "the turn ended (failed)",
            },
        )
        for approval in state.approvals.values()
    ]
    events += [(ev.TOOL_FAILED, {"call_id": c, "error": INTERRUPTED}) for c in state.open_calls]
    events.append((ev.TURN_COMPLETED, {"reason": "failed", "error": INTERRUPTED}))
    events.append((ev.SESSION_STATUS, {"status": STATUS_AFTER["failed"]}))
    return events
