"""The agent loop: one asyncio task per running session, the session's only writer.

A turn: input.received → turn.started → (maybe budget/step stop) → stream the model
(retrying transient failures, each attempt recorded) → model.completed → for each tool
call: tool.requested → run → tool.completed / tool.failed → steering text injected →
next request … until the model asks for no tools, or max steps, budget, cancel or
failure end it with turn.completed {reason}.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import deque
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev
from harness_tui.engine import compaction
from harness_tui.engine.gate import FILE_WRITERS, Verdict
from harness_tui.engine.owner import current_owner
from harness_tui.engine.session import PendingApproval, SessionState
from harness_tui.events import Event
from harness_tui.providers.base import (
    COMPACTION_SYSTEM,
    Message,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    TextDelta,
    ToolCall,
)
from harness_tui.tools.artifacts import save_artifact
from harness_tui.tools.base import ToolContext, ToolError

if TYPE_CHECKING:
    from harness_tui.engine.engine import Engine
    from harness_tui.engine.worktree_sessions import WorktreeSession

INPUT_MODES = ("prompt", "steer", "follow_up", "auto")
APPROVAL_DECISIONS = ("allow_once", "allow_always", "deny", "edit")


class TurnEnded(Exception):
    """Ends a turn early with a reason from the vocabulary and a message."""

    def __init__(self, reason: str, error: str | None = None) -> None:
        super().__init__(error or reason)
        self.reason = reason
        self.error = error


@dataclass(frozen=True, slots=True)
class Inbound:
    text: str
    mode: str


@dataclass(frozen=True, slots=True)
class Resolution:
    decision: str
    by: str = "user"
    reason: str | None = None
    edited_args: dict[str, Any] | None = None


# After a turn ends, the session's status says what a person should expect next.
_STATUS_AFTER = {
    "no_tool_calls": "done",
    "max_steps": "idle",
    "budget": "idle",
    "cancelled": "cancelled",
    "failed": "failed",
}


class SessionRunner:
    def __init__(self, engine: Engine, state: SessionState, provider: Provider) -> None:
        self.engine = engine
        self.state = state
        self.provider = provider
        self._inbox: deque[Inbound] = deque()
        # Input for the running turn, injected after its current tool round: steering
        # text, and notices of background tasks that finished.
        self._steers: list[Inbound] = []
        self._task: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        # Consecutive failed model requests, across turns; reset by a success.
        self._failures = 0
        # Answers to approvals by id; the loop awaits the future of the one it asked.
        self._answers: dict[str, asyncio.Future[Resolution]] = {}
        # Set when the process leaves a session waiting for an approval: the runner
        # stops without writing, so the request stays pending in the log.
        self._detached = False
        self.tasks = engine.tasks.host_for(self)
        self._compact_requested = False
        # Set for a session that runs in its own git worktree: it takes a slot before
        # its turns, and validates, commits and cleans up after them.
        self.worktree: WorktreeSession | None = None

    @property
    def session_id(self) -> str:
        return self.state.session_id

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- writing -------------------------------------------------------------------

    async def emit(self, type_: str, data: dict[str, Any]) -> Event:
        """Append one event for this session and fold it into the state.

        The append is shielded: once an event is handed to the store it is committed
        and applied even if the turn is being cancelled, so seq never gets reused.
        """
        async with self._write_lock:
            data = self.engine.redactor.data(data)
            event = Event(self.session_id, self.state.last_seq + 1, type_, data)
            append = asyncio.ensure_future(self.engine.store.append([event]))
            try:
                positions = await asyncio.shield(append)
            except asyncio.CancelledError:
                positions = await append
                self._record(event.with_position(positions[0]))
                raise
            stored = event.with_position(positions[0])
            self._record(stored)
            return stored

    def _record(self, event: Event) -> None:
        self.state.apply(event)
        self.engine.on_event(event)

    async def set_status(self, status: str) -> None:
        if self.state.status != status:
            await self.emit(ev.SESSION_STATUS, {"status": status})

    # -- input ---------------------------------------------------------------------

    def submit(self, text: str, mode: str) -> None:
        """Queue input. Steering text joins the running turn after its current tool
        round; anything else (and steering on an idle session) starts or waits for a
        turn of its own."""
        if mode not in INPUT_MODES:
            raise ValueError(f"input mode {mode!r}: expected one of {', '.join(INPUT_MODES)}")
        if mode == "steer" and self.busy and self.state.turn_active:
            self._steers.append(Inbound(text, mode))
        else:
            self._inbox.append(Inbound(text, mode))
        if not self.busy:
            self._task = asyncio.create_task(self._drain(), name=f"session {self.session_id}")

    def wake(self, text: str) -> None:
        """Tell the agent something happened (a background task ended): in the running
        turn after its tool round, or by starting a turn if the session is idle."""
        if self.busy and self.state.turn_active:
            self._steers.append(Inbound(text, "auto"))
        else:
            self.submit(text, "auto")

    async def settle(self) -> None:
        """After a background task ended unannounced: an idle session whose last task
        is gone shows the status its last turn left."""
        if self.worktree is not None:
            return  # its status after the turns is its worktree's end (validated, committed)
        if not self.busy and not self.engine.tasks.running_for(self.session_id):
            await self.set_status(_STATUS_AFTER.get(self.state.last_turn_reason or "", "idle"))

    async def cancel(self) -> None:
        """Stop the running turn at its next await point. Idempotent."""
        self._inbox.clear()
        self._steers.clear()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    def drop_input(self) -> None:
        """Forget queued input that must not run (a worktree session that cannot)."""
        self._inbox.clear()
        self._steers.clear()

    @property
    def detached(self) -> bool:
        """Whether this process left the session waiting for an approval."""
        return self._detached

    @property
    def waiting_for_approval(self) -> bool:
        return self.busy and bool(self.state.approvals)

    async def detach(self) -> None:
        """Stop this process's work on the session without recording an end: a turn
        waiting for an approval stays waiting, to be answered by whoever opens the
        store next."""
        task = self._task
        if task is not None and not task.done():
            self._detached = True
            task.cancel()
            await asyncio.wait([task])

    async def wait(self) -> None:
        """Until the session has no turn running and nothing queued."""
        while self.busy:
            assert self._task is not None
            await asyncio.wait([self._task])

    async def _drain(self) -> None:
        if self.worktree is not None:
            # A slot and the worktree come first; nothing to run needs neither.
            if not self._inbox or not await self.worktree.begin():
                return
        await self._run_inbox()

    async def _run_inbox(self) -> None:
        while True:
            while self._inbox:
                inbound = self._inbox.popleft()
                if not await self._turn(inbound):
                    return  # cancelled or detached: whoever stopped it cleans up
            if self.worktree is None:
                return
            decision = await self.worktree.after_turns()
            if self._inbox:
                continue  # input that came meanwhile runs first; validation runs after it
            if decision.retry is not None:
                self._inbox.append(Inbound(decision.retry, "auto"))
                continue
            await self.worktree.end(decision)
            return

    def resume(self, approval_id: str, answer: Resolution) -> None:
        """Carry on a turn that another process left waiting for `approval_id`."""
        self._answer_future(approval_id).set_result(answer)
        self._task = asyncio.create_task(self._resume(), name=f"session {self.session_id}")

    async def _resume(self) -> None:
        if self.worktree is not None and not await self.worktree.begin():
            return
        if await self._turn(None):
            await self._run_inbox()

    # -- a turn --------------------------------------------------------------------

    async def _turn(self, inbound: Inbound | None) -> bool:
        """Run one turn, or carry on the interrupted one when `inbound` is None.
        False when it was cancelled or detached (nothing further runs)."""
        cancelled = False
        try:
            if inbound is None:
                await self.emit(ev.TURN_RESUMED, {"owner": current_owner(self.engine.id)})
            else:
                await self.emit(ev.INPUT_RECEIVED, {"text": inbound.text, "mode": inbound.mode})
                await self.emit(ev.TURN_STARTED, {"owner": current_owner(self.engine.id)})
            await self.set_status("running")
            reason, error = await self._steps()
        except asyncio.CancelledError:
            if self._detached:
                return False
            cancelled = True
            reason, error = "cancelled", None
        except Exception as exc:  # a bug must end the turn on the record, not vanish
            reason, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        await self._close_turn(reason, error)
        if cancelled:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        return not cancelled

    async def close_interrupted(self) -> None:
        """Close the turn a dead process left open: what it was running is recorded as
        interrupted, and the session can be carried on with new input."""
        note = "interrupted: the process running it exited"
        await self._close_turn("failed", note, call_note=note)

    async def _close_turn(
        self, reason: str, error: str | None, *, call_note: str | None = None
    ) -> None:
        # A cancelled turn's open approvals are answered, so no inbox keeps them.
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
        # Every tool call the model asked for needs a result, or the next request
        # would be refused by the provider: calls that never ran are closed here.
        for call_id in list(self.state.open_calls):
            note = call_note or (
                "cancelled" if reason == "cancelled" else "not run: the turn ended"
            )
            await self.emit(ev.TOOL_FAILED, {"call_id": call_id, "error": note})
        if self.state.turn_active:
            data: dict[str, Any] = {"reason": reason}
            if error:
                data["error"] = error
            await self.emit(ev.TURN_COMPLETED, data)
        status = _STATUS_AFTER[reason]
        if status in ("done", "idle") and self.engine.tasks.running_for(self.session_id):
            status = "running"  # its background tasks go on, and will wake it
        if status == "done" and self.worktree is not None:
            status = "running"  # validation and the commit come first; they end it
        await self.set_status(status)

    async def _steps(self) -> tuple[str, str | None]:
        max_steps = self.engine.max_steps(self.state)
        steps = 0
        try:
            while True:
                if self.state.open_calls:
                    # The calls of the last reply, in order; after a restart, those a
                    # resumed turn has not finished yet.
                    calls = list(self.state.open_calls.values())
                    for call in calls:
                        await self._run_call(call)
                    if any(call.name in FILE_WRITERS for call in calls):
                        await self._check_code_rules()
                    for inbound in self._take_steers():
                        await self.emit(
                            ev.INPUT_RECEIVED, {"text": inbound.text, "mode": inbound.mode}
                        )
                if steps >= max_steps:
                    return "max_steps", f"stopped after {steps} model requests (max_steps)"
                if self._compact_requested or compaction.needs_compaction(
                    self.state, self.engine.config.compaction
                ):
                    forced, self._compact_requested = self._compact_requested, False
                    await self.compact(force=forced)
                self._check_budget()
                response = await self._request()
                steps += 1
                calls = response.tool_calls
                completed: dict[str, Any] = {
                    "text": response.text,
                    "tool_calls": [
                        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls
                    ],
                    "usage": response.usage.to_dict(),
                    "stop_reason": response.stop_reason,
                }
                if response.provider_content is not None:
                    completed["provider_content"] = list(response.provider_content)
                await self.emit(ev.MODEL_COMPLETED, completed)
                if not calls:
                    return "no_tool_calls", None
        except TurnEnded as ended:
            return ended.reason, ended.error

    async def _check_code_rules(self) -> None:
        """After an edit, the project's guards run; what they find goes back to the
        agent in its next request."""
        from harness_tui.gc.coderules import feedback, guards_dir

        if not guards_dir(self.engine.project).is_dir():
            return
        report = await self.engine.gc.check_rules(self.engine.workspace_path(self.state))
        text = feedback(report)
        if text:
            self._steers.append(Inbound(text, "auto"))

    def _take_steers(self) -> list[Inbound]:
        steers, self._steers = self._steers, []
        return steers

    def _check_budget(self) -> None:
        limits = self.engine.config.engine
        if limits.max_total_tokens and self.state.total_tokens >= limits.max_total_tokens:
            raise TurnEnded(
                "budget",
                f"token budget reached: {self.state.total_tokens} of {limits.max_total_tokens}",
            )
        if limits.max_cost_usd and self.state.cost_usd >= limits.max_cost_usd:
            raise TurnEnded(
                "budget",
                f"cost budget reached: ${self.state.cost_usd:.4f} of ${limits.max_cost_usd:.4f}",
            )

    # -- the model -----------------------------------------------------------------

    def _build_request(self) -> ModelRequest:
        return ModelRequest(
            model=self.state.model,
            system=self.engine.system_prompt(self.state),
            messages=tuple(self.state.messages),
            tools=self.engine.tool_specs(self.state),
            max_tokens=self.engine.config.provider.max_tokens,
        )

    async def _request(self) -> ModelResponse:
        settings = self.engine.config.provider
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._stream(self._build_request())
            except ProviderError as exc:
                self._failures += 1
                breaker_open = self._failures >= settings.circuit_breaker_failures
                retry = exc.retryable and attempt <= settings.max_retries and not breaker_open
                failure: dict[str, Any] = {
                    "error": str(exc),
                    "retryable": exc.retryable,
                    "attempt": attempt,
                }
                if exc.status is not None:
                    failure["status"] = exc.status
                if breaker_open:
                    failure["circuit_open"] = True
                await self.emit(ev.MODEL_FAILED, failure)
                if breaker_open:
                    raise TurnEnded(
                        "failed",
                        f"circuit breaker open after {self._failures} consecutive failed "
                        f"requests: {exc}",
                    ) from exc
                if not retry:
                    raise TurnEnded("failed", str(exc)) from exc
                await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                continue
            self._failures = 0
            return response

    async def _stream(self, request: ModelRequest) -> ModelResponse:
        response: ModelResponse | None = None
        async with aclosing(self.provider.stream(request)) as stream:
            async for item in stream:
                if isinstance(item, TextDelta):
                    self.engine.publish_delta(self.session_id, "text", item.text)
                else:
                    response = item
        if response is None:
            raise ProviderError(
                f"{self.provider.name}: the stream ended without a response", retryable=True
            )
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        settings = self.engine.config.provider
        if retry_after is not None:
            # The server said when; waiting less only earns another 429.
            return min(retry_after, settings.retry_max_delay_s * 10)
        ceiling = min(settings.retry_max_delay_s, settings.retry_base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    # -- tools ---------------------------------------------------------------------

    async def _run_call(self, call: ToolCall) -> None:
        pending = next((a for a in self.state.approvals.values() if a.call_id == call.id), None)
        args = call.arguments
        if pending is None:
            await self.emit(
                ev.TOOL_REQUESTED, {"call_id": call.id, "tool": call.name, "args": args}
            )
            if call.name not in self.engine.tools:
                await self.emit(
                    ev.TOOL_FAILED, {"call_id": call.id, "error": f"unknown tool {call.name!r}"}
                )
                return
            verdict = self.engine.judge(self.state, call.name, args)
            await self.emit(ev.POLICY_DECIDED, verdict.to_event(call.id))
            if verdict.decision == "forbid":
                await self._refuse(
                    call, f"forbidden by policy ({verdict.rule_id}): {verdict.reason}"
                )
                return
            if verdict.decision == "prompt":
                pending = await self._request_approval(call, verdict)
        if pending is not None:
            answer = await self._await_answer(pending)
            args = await self._apply_answer(call, pending, answer)
            if args is None:
                return
        await self._execute(call, args)

    async def _refuse(self, call: ToolCall, error: str) -> None:
        await self.emit(ev.TOOL_FAILED, {"call_id": call.id, "error": error, "refused": True})

    async def _request_approval(self, call: ToolCall, verdict: Verdict) -> PendingApproval:
        approval_id = "ap_" + uuid.uuid4().hex[:12]
        data: dict[str, Any] = {
            "approval_id": approval_id,
            "call_id": call.id,
            "tool": call.name,
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
        await self.emit(ev.APPROVAL_REQUESTED, data)
        return self.state.approvals[approval_id]

    def _answer_future(self, approval_id: str) -> asyncio.Future[Resolution]:
        future = self._answers.get(approval_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._answers[approval_id] = future
        return future

    async def _await_answer(self, pending: PendingApproval) -> Resolution:
        await self.set_status("waiting")
        try:
            answer = await self._answer_future(pending.approval_id)
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
        await self.emit(ev.APPROVAL_RESOLVED, resolved)
        if not self.state.approvals:
            await self.set_status("running")
        return answer

    def answer(self, approval_id: str, answer: Resolution) -> None:
        """Called by the facade; the waiting loop records the answer."""
        future = self._answer_future(approval_id)
        if future.done():
            raise ValueError(f"approval {approval_id} is already answered")
        future.set_result(answer)

    async def _apply_answer(
        self, call: ToolCall, pending: PendingApproval, answer: Resolution
    ) -> dict[str, Any] | None:
        """The arguments to run the call with, or None when it must not run."""
        if answer.decision == "deny":
            why = answer.reason or "no reason given"
            await self._refuse(call, f"denied by the user: {why}")
            return None
        if answer.decision == "edit":
            args = answer.edited_args or {}
            # An edited command is judged again: a person's edit cannot get past forbid.
            verdict = self.engine.judge(self.state, call.name, args)
            if verdict.decision == "forbid":
                await self._refuse(
                    call, f"the edited call is forbidden ({verdict.rule_id}): {verdict.reason}"
                )
                return None
            return args
        if answer.decision == "allow_always":
            self.engine.allow_always(pending)
        return call.arguments

    def _tool_context(self, call_id: str) -> ToolContext:
        return ToolContext(
            session_id=self.session_id,
            workspace=self.engine.workspace_path(self.state),
            artifacts_dir=self.engine.artifacts_root,
            env=self.engine.tool_env(),
            limits=self.engine.tool_limits,
            on_output=lambda stream, text: self.engine.publish_delta(
                self.session_id, stream, text, call_id=call_id
            ),
            tasks=self.tasks,
        )

    async def _execute(self, call: ToolCall, args: dict[str, Any]) -> None:
        tool = self.engine.tools[call.name]
        ctx = self._tool_context(call.id)
        started = time.monotonic()
        try:
            result = await tool.run(args, ctx)
        except ToolError as exc:
            await self.emit(ev.TOOL_FAILED, {"call_id": call.id, "error": str(exc)})
            return
        except asyncio.CancelledError:
            await self.emit(ev.TOOL_FAILED, {"call_id": call.id, "error": "cancelled"})
            raise
        except Exception as exc:  # a tool bug is reported to the model, not fatal
            await self.emit(
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
            await self.emit(
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
        await self.emit(ev.TOOL_COMPLETED, completed)

    # -- compaction ----------------------------------------------------------------

    async def compact_now(self) -> bool:
        """Compact an idle session at once, or a running one before its next request.
        Input that arrives meanwhile waits, then runs as usual."""
        if self.busy:
            self._compact_requested = True
            return True
        outcome: list[bool] = []

        async def compact_then_drain() -> None:
            outcome.append(await self.compact(force=True))
            await self._drain()

        self._task = asyncio.create_task(compact_then_drain(), name=f"session {self.session_id}")
        await asyncio.wait([self._task])
        self._task.result()
        return outcome[0]

    async def compact(self, *, force: bool = False) -> bool:
        """Shorten the conversation (see engine.compaction); False if nothing could be.
        `force` summarises even when the conversation is not yet too big."""
        request = self._build_request()
        measured = compaction.estimate_tokens(list(request.messages), request.system, request.tools)
        plan = compaction.plan(
            self.state,
            self.engine.config.compaction,
            max(self.state.last_input_tokens, measured),
            force=force,
        )
        if not plan.elide and not plan.covered_until_seq:
            return False
        ctx = self._tool_context("compaction")
        stubs = []
        for call_id, text in plan.elide:
            art = save_artifact(ctx, text, source=f"compaction: output of call {call_id}")
            stubs.append(
                {
                    "call_id": call_id,
                    "artifact_id": art.artifact_id,
                    "stub": compaction.stub(call_id, art.bytes, str(art.path), art.artifact_id),
                }
            )
        summary = ""
        if plan.covered_until_seq:
            summary = await self._summarise(plan.covered)
        preview = SessionState.from_events(self.session_id, [])
        preview.messages, preview.message_seqs = (
            list(self.state.messages),
            list(self.state.message_seqs),
        )
        data = compaction.event_data(plan, stubs, summary, 0)
        preview.apply(
            Event(self.session_id, self.state.last_seq + 1, ev.COMPACTION_COMPLETED, data)
        )
        data["tokens_after"] = compaction.estimate_tokens(
            preview.messages, request.system, request.tools
        )
        await self.emit(ev.COMPACTION_COMPLETED, data)
        return True

    async def _summarise(self, covered: list[Message]) -> str:
        """The covered part of the conversation, summarised by the session's provider.
        A failure is recorded and compaction makes do with the stubs."""
        request = ModelRequest(
            model=self.state.model,
            system=COMPACTION_SYSTEM,
            messages=(
                *covered,
                Message(role="user", content="Summarise the conversation above."),
            ),
            max_tokens=self.engine.config.provider.max_tokens,
        )
        try:
            response = await self._stream(request)
        except ProviderError as exc:
            await self.emit(
                ev.MODEL_FAILED,
                {"error": f"compaction: {exc}", "retryable": exc.retryable, "attempt": 1},
            )
            return ""
        return response.text.strip()
