"""The tool calls of a turn: each is recorded, judged by the policy gate, sent for
approval when the gate says prompt, then run, and its result or failure recorded.

A call runs in the session's sandbox. What a command needs from outside it (the network
the sandbox does not give, paths outside the workspace it writes) it gets only when a
person approved it, this once (or allowed exactly it always)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harness_tui import events as ev
from harness_tui.backends.base import Resolution, Verdict
from harness_tui.engine.context import EngineContext
from harness_tui.engine.host import EngineHost
from harness_tui.engine.processes import process_record
from harness_tui.providers.base import ToolCall
from harness_tui.tools.base import TaskHost, ToolContext, ToolError, ToolResult


class ToolCalls:
    """One session's tool calls."""

    def __init__(self, ctx: EngineContext, host: EngineHost, tasks: TaskHost) -> None:
        self.ctx = ctx
        self.host = host
        self.tasks = tasks
        # The process group of the command each running call started, if any.
        self._groups: dict[str, int] = {}

    async def run(self, call: ToolCall) -> None:
        pending = self.host.approvals.pending_for(call.id)
        args = call.arguments
        grant: Verdict | None = None
        if pending is None:
            await self.host.emit(
                ev.TOOL_REQUESTED, {"call_id": call.id, "tool": call.name, "args": args}
            )
            if call.name not in self.ctx.tools:
                await self.host.emit(
                    ev.TOOL_FAILED, {"call_id": call.id, "error": f"unknown tool {call.name!r}"}
                )
                return
            verdict = self.host.judge(call.name, args)
            await self.host.emit(ev.POLICY_DECIDED, verdict.to_event(call.id))
            if verdict.decision == "forbid":
                await self._refuse(
                    call, f"forbidden by policy ({verdict.rule_id}): {verdict.reason}"
                )
                return
            if verdict.granted:
                grant = verdict
            if verdict.decision == "prompt":
                answer = await self.host.request_approval(call.id, call.name, verdict)
                approved = await self._apply_answer(call, answer)
                if approved is None:
                    return
                args = approved
                grant = self.host.judge(call.name, args)
        else:
            # A turn carried on after a restart: the call waits for its answer.
            answer = await self.host.approvals.await_answer(pending)
            approved = await self._apply_answer(call, answer)
            if approved is None:
                return
            args = approved
            # A person approved the call as it now runs (edited, maybe): judged again,
            # for what it needs from outside the sandbox.
            grant = self.host.judge(call.name, args)
        await self._execute(call, args, grant=grant)

    def context(self, call_id: str, *, grant: Verdict | None = None) -> ToolContext:
        """What a call runs with; `grant`: the verdict on a command a person approved,
        whose network and writes outside the workspace its sandbox then lets through."""
        state = self.host.state
        sandbox = self.ctx.sandbox_for(state)
        if grant is not None:
            sandbox = sandbox.granting(network=grant.network, writes=grant.writes)
        return ToolContext(
            session_id=state.session_id,
            workspace=self.ctx.workspace_path(state),
            artifacts_dir=self.ctx.artifacts_root,
            env=sandbox.env,
            limits=self.ctx.tool_limits,
            on_output=lambda stream, text: self.ctx.publish_delta(
                state.session_id, stream, text, call_id=call_id
            ),
            tasks=self.tasks,
            process_started=lambda pgid: self._process_started(call_id, pgid),
            redactor=self.ctx.redactor,
            sandbox=sandbox,
        )

    async def _process_started(self, call_id: str, pgid: int) -> None:
        """A command of the call started, held until its group is on the record: from
        the commit on, a crash cannot leave it running unseen (recovery stops it)."""
        self._groups[call_id] = pgid
        self.ctx.live_groups.add(pgid)
        await self.host.emit(
            ev.TOOL_STARTED, {"call_id": call_id, **process_record(self.ctx.engine_id, pgid)}
        )

    async def _refuse(self, call: ToolCall, error: str) -> None:
        await self.host.emit(ev.TOOL_FAILED, {"call_id": call.id, "error": error, "refused": True})

    async def _apply_answer(self, call: ToolCall, answer: Resolution) -> dict[str, Any] | None:
        """The arguments to run the call with, or None when it must not run."""
        if answer.decision == "deny":
            why = answer.reason or "no reason given"
            await self._refuse(call, f"denied by the user: {why}")
            return None
        if answer.decision == "edit":
            args = answer.edited_args or {}
            # An edited command is judged again: a person's edit cannot get past forbid.
            verdict = self.host.judge(call.name, args)
            if verdict.decision == "forbid":
                await self._refuse(
                    call, f"the edited call is forbidden ({verdict.rule_id}): {verdict.reason}"
                )
                return None
            return args
        return call.arguments

    async def _run_tool(self, call: ToolCall, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        tool = self.ctx.tools[call.name]
        try:
            return await tool.run(args, ctx)
        finally:
            # Its command ended with it, or runs on as a background task, which knows
            # its group from here.
            pgid = self._groups.pop(call.id, None)
            if pgid is not None:
                self.ctx.live_groups.discard(pgid)

    async def _execute(
        self, call: ToolCall, args: dict[str, Any], *, grant: Verdict | None
    ) -> None:
        ctx = self.context(call.id, grant=grant)
        started = time.monotonic()
        try:
            result = await self._run_tool(call, args, ctx)
        except ToolError as exc:
            await self.host.emit(ev.TOOL_FAILED, {"call_id": call.id, "error": str(exc)})
            return
        except asyncio.CancelledError:
            await self.host.emit(ev.TOOL_FAILED, {"call_id": call.id, "error": "cancelled"})
            raise
        except Exception as exc:  # a tool bug is reported to the model, not fatal
            await self.host.emit(
                ev.TOOL_FAILED,
                {"call_id": call.id, "error": f"{call.name} crashed: {type(exc).__name__}: {exc}"},
            )
            return
        completed: dict[str, Any] = {
            "call_id": call.id,
            "result": result.content,
            "duration_ms": int((time.monotonic() - started) * 1000),
        }
        if result.is_error:
            completed["is_error"] = True
        if result.metadata:
            completed["metadata"] = result.metadata
        if result.artifact is not None:
            art = result.artifact
            await self.host.emit(
                ev.ARTIFACT_CREATED,
                {
                    "artifact_id": art.artifact_id,
                    "path": str(art.path),
                    "bytes": art.bytes,
                    "mime": art.mime,
                    "source": art.source,
                },
            )
            completed["artifact_id"] = art.artifact_id
        await self.host.emit(ev.TOOL_COMPLETED, completed)
