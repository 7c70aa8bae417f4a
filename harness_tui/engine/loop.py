"""The in-process session backend: our own agent loop, one asyncio task per running
session, writing through the session's host (its single writer).

A turn: input.received → turn.started → (maybe compaction, a budget or step stop) →
the model call (engine.model_call) → model.completed → each tool call through policy,
approval and its run (engine.tool_calls) → steering text injected → next request …
until the model asks for no tools and no input is waiting for it, or max steps,
budget, cancel or failure end it with turn.completed {reason}.

Input for the running turn (steering, a background task's end) may arrive at any
await: the turn takes it before each request, a reply without tool calls does not end
the turn while some is waiting, and what is left when the turn closes starts the next
one. The session's task loops until its inbox is empty, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Coroutine
from dataclasses import dataclass
from typing import Any

from harness_tui import events as ev
from harness_tui.backends.acceptances import Acceptances
from harness_tui.backends.base import INPUT_MODES
from harness_tui.engine import compaction
from harness_tui.engine.context import EngineContext
from harness_tui.engine.errors import SessionBusy, SessionFenced
from harness_tui.engine.gate import FILE_WRITERS
from harness_tui.engine.host import STATUS_AFTER, EngineHost
from harness_tui.engine.model_call import ModelCall, TurnEnded
from harness_tui.engine.owner import current_owner
from harness_tui.engine.session import SessionState
from harness_tui.engine.tasks import TaskManager
from harness_tui.engine.tool_calls import ToolCalls
from harness_tui.engine.worktree_lifecycle import WorktreeSession
from harness_tui.engine.writer import ClaimEvents
from harness_tui.events import Event
from harness_tui.providers.base import Provider
from harness_tui.store import LeaseLostError, StoreError, UnknownSessionError


@dataclass(frozen=True, slots=True)
class Inbound:
    text: str
    mode: str
    # The command (store.control) this input came in, marked applied with its event.
    command: str | None = None


class SessionLoop:
    """A SessionBackend (harness_tui.backends.base) running providers, tools and the
    policy gate in this process."""

    def __init__(
        self,
        ctx: EngineContext,
        host: EngineHost,
        provider: Provider | None,
        tasks: TaskManager,
        worktree: WorktreeSession | None = None,
    ) -> None:
        self.ctx = ctx
        self.host = host
        self.model = ModelCall(ctx, host, provider)
        self._tasks = tasks
        self.tools = ToolCalls(ctx, host, tasks.host_for(self))
        # Set for a session that runs in its own git worktree: it takes a slot before
        # its turns, and validates, commits and cleans up after them.
        self.worktree = worktree
        self._inbox: deque[Inbound] = deque()
        # Input for the running turn, injected before its next request: steering text,
        # and notices of background tasks that finished.
        self._steers: list[Inbound] = []
        self._task: asyncio.Task[None] | None = None
        # Set when the process leaves a session waiting for an approval: the loop
        # stops without writing, so the request stays pending in the log.
        self._detached = False
        self._compact_requested = False
        # Whoever submitted input while the session was not this engine's, waiting to
        # hear whether the claim that runs it commits (`submit`).
        self._acceptances = Acceptances()
        # Whether this engine said, in the log, that the session's commands run
        # unconfined (once, at its first turn here).
        self._sandbox_noted = False
        host.on_claim.append(self._accept)
        host.working = lambda: self.busy
        # Why the session stopped, when its log could not be written: wait() raises it.
        self.failure: StoreError | None = None

    @property
    def state(self) -> SessionState:
        return self.host.state

    @property
    def session_id(self) -> str:
        return self.host.session_id

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def waiting_for_approval(self) -> bool:
        return self.busy and bool(self.state.approvals)

    async def emit(self, type_: str, data: dict[str, Any]) -> Event:
        return await self.host.emit(type_, data)

    # -- input ---------------------------------------------------------------------

    def submit(self, text: str, mode: str, *, command: str | None = None) -> asyncio.Future[None]:
        """Queue input. Steering text joins the running turn before its next request;
        anything else (and steering on an idle session) starts or waits for a turn of
        its own.

        Returns when the input is accepted: at once while this engine runs the session,
        else once its claim of the session committed. Raises SessionBusy (the input is
        dropped, nothing of it written) when another process claimed it first."""
        if mode not in INPUT_MODES:
            raise ValueError(f"input mode {mode!r}: expected one of {', '.join(INPUT_MODES)}")
        if mode == "steer" and self.busy and self.state.turn_active:
            self._steers.append(Inbound(text, mode, command))
        else:
            self._inbox.append(Inbound(text, mode, command))
        accepted = self._acceptance()
        if not self.busy:
            self._start(self._drain())
        return accepted

    def _acceptance(self) -> asyncio.Future[None]:
        return self._acceptances.new(running=self.busy)

    def _accept(self) -> None:
        """The claim committed: the input waiting for it will run here (a claim of the
        session's task, not of a one-off change, holds while the task runs)."""
        self._acceptances.accept(running=self.busy)

    def _refuse(self, busy: SessionBusy) -> None:
        """Another process runs the session: the input queued here is dropped, unwritten,
        and whoever sent it hears why."""
        self._drop_input()
        self._acceptances.refuse(lambda: SessionBusy(busy.session_id, busy.owner))

    async def _own(self, work: Awaitable[None]) -> None:
        """Run the session's task: the input it runs is accepted when its claim commits,
        refused when another process holds the session; input the task ends without
        running (a worktree session that cannot run it) is not waited for either."""
        try:
            await work
        except SessionFenced as fenced:
            # Another engine took the session over: nothing more is written here, and
            # whoever waits for the session hears why.
            self._refuse(fenced)
            self.store_failed(LeaseLostError(str(fenced)))
        except SessionBusy as busy:
            self._refuse(busy)
        finally:
            self._acceptances.release()

    def wake(self, text: str) -> None:
        """Tell the agent something happened (a background task ended): in the running
        turn before its next request, or in a turn of its own."""
        if self.busy and self.state.turn_active:
            self._steers.append(Inbound(text, "auto"))
        else:
            self.submit(text, "auto")

    async def settle(self) -> None:
        """After a background task ended unannounced: an idle session whose last task
        is gone shows the status its last turn left."""
        if self.worktree is not None:
            return  # its status after the turns is its worktree's end (validated, committed)
        if not self.busy and not self._tasks.running_for(self.session_id):
            await self.host.set_status(STATUS_AFTER.get(self.state.last_turn_reason or "", "idle"))

    async def cancel(self) -> None:
        """Stop the running turn at its next await point. Idempotent."""
        self._drop_input()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    def _drop_input(self) -> None:
        self._inbox.clear()
        self._steers.clear()

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
        """Until the session has no turn running and nothing queued. Raises StoreError
        when it stopped because its log could not be written, UnknownSessionError in
        particular when the session was deleted before its turn could start."""
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
        failure = self.failure
        if failure is not None:
            raise type(failure)(*failure.args)

    def store_failed(self, exc: StoreError) -> None:
        """The session's log cannot be written (the store gave up retrying, its file is
        gone, or the session was deleted): nothing more is attempted, since nothing more
        could be recorded. The turn stays open in the log as it is; once this process is
        gone, the next engine to open the store closes it as interrupted (recovery).
        Waiters hear of it."""
        if self.failure is None:
            self.failure = exc
            self.ctx.session_failed(self.session_id, str(exc))
        self._drop_input()

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run the session's work as its one task. A store failure ends the task and is
        kept for wait(); it is never left in the task for nobody to retrieve."""
        self.failure = None

        async def guarded() -> None:
            try:
                await work
            except StoreError as exc:
                self.store_failed(exc)

        self._task = asyncio.create_task(guarded(), name=f"session {self.session_id}")
        # Once nothing runs here any more, a settled session's lease is given up.
        self._task.add_done_callback(lambda _: self.host.release_when_settled())
        return self._task

    async def _drain(self) -> None:
        await self._own(self._drain_inbox())

    async def _drain_inbox(self) -> None:
        # Input queued while this task runs found it busy and started no task of its
        # own: this one ends only once the inbox is empty, with no await in between.
        while self._inbox:
            # A worktree session needs its slot and worktree first.
            if self.worktree is not None and not await self.worktree.begin():
                self._drop_input()  # the session ended, or cannot run it
                return
            if not await self._run_inbox():
                return

    async def _run_inbox(self) -> bool:
        """Run the queued input; False when a turn was cancelled or detached (whoever
        stopped it cleans up)."""
        while True:
            while self._inbox:
                inbound = self._inbox.popleft()
                if not await self._turn(inbound):
                    return False
            if self.worktree is None:
                return True
            decision = await self.worktree.after_turns()
            if self._inbox:
                continue  # input that came meanwhile runs first; validation runs after it
            if decision.retry is not None:
                self._inbox.append(Inbound(decision.retry, "auto"))
                continue
            await self.worktree.end(decision)
            return True

    def resume(self) -> asyncio.Future[None]:
        """Carry on a turn that another process left waiting for an approval. Returns
        when this engine holds the session (SessionBusy: another process took it)."""
        accepted = self._acceptance()
        self._start(self._own(self._resume()))
        return accepted

    async def _resume(self) -> None:
        if self.worktree is not None and not await self.worktree.begin():
            self._drop_input()
            return
        if await self._turn(None) and await self._run_inbox():
            await self._drain_inbox()

    # -- a turn --------------------------------------------------------------------

    async def _turn(self, inbound: Inbound | None) -> bool:
        """Run one turn, or carry on the interrupted one when `inbound` is None.
        False when it was cancelled or detached (nothing further runs)."""
        owner = current_owner(self.ctx.engine_id)
        claim: ClaimEvents
        command = None if inbound is None else inbound.command
        if inbound is None:
            claim = [(ev.TURN_RESUMED, {"owner": owner})]
        else:
            # The input and the turn that takes it commit together, at the seq this
            # engine expects next: if another process got there first, neither is
            # written and the input is refused (SessionBusy), never run twice or lost.
            claim = [
                (ev.INPUT_RECEIVED, {"text": inbound.text, "mode": inbound.mode}),
                (ev.TURN_STARTED, {"owner": owner}),
            ]
        cancelled = False
        try:
            await self.host.claim(lambda state: claim, command=command)
            await self.host.set_status("running")
            await self._note_sandbox()
            reason, error = await self._steps()
        except SessionBusy:
            raise  # the session is another process's: nothing more may be written
        except asyncio.CancelledError:
            if self._detached:
                return False
            cancelled = True
            reason, error = "cancelled", None
        except UnknownSessionError:
            # GC retention deleted the session after this process read it (it was
            # untouched since retention's decision): the store refused the turn's first
            # event, and there is no log left to close the turn in. The task ends with
            # the error, for wait() to give to whoever sent the input.
            self._drop_input()
            raise
        except StoreError:
            raise  # nothing more can be recorded: the session stops (see _start)
        except Exception as exc:  # a bug must end the turn on the record, not vanish
            reason, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        await self._close_turn(reason, error)
        if cancelled:
            self._drop_input()  # what came while it was being stopped goes with it
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        return not cancelled

    async def _note_sandbox(self) -> None:
        """Say once in the log, before this engine runs the session's first command,
        that its commands run unconfined: by choice (danger-full-access), or because
        the sandbox cannot start here (the policy then fails closed)."""
        if self._sandbox_noted:
            return
        self._sandbox_noted = True
        sandbox = self.ctx.sandbox_for(self.state)
        if sandbox.disabled:
            await self.host.emit(
                ev.SANDBOX_DISABLED,
                {
                    "mode": sandbox.mode,
                    "reason": "danger-full-access: commands run with the user's full access",
                },
            )
        elif sandbox.fallback:
            await self.host.emit(
                ev.SANDBOX_UNAVAILABLE,
                {
                    "mode": sandbox.mode,
                    "reason": sandbox.unavailable,
                    "fallback": "the policy alone judges commands; any no rule allows prompts",
                },
            )

    async def close_interrupted(self) -> None:
        """Close the turn a dead process left open: what it was running is recorded as
        interrupted, and the session can be carried on with new input."""
        await self.host.close_interrupted()

    async def _close_turn(self, reason: str, error: str | None) -> None:
        emit = self.host.emit
        # A cancelled turn's open approvals are answered, so no inbox keeps them.
        for approval in list(self.state.approvals.values()):
            await emit(
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
            note = "cancelled" if reason == "cancelled" else "not run: the turn ended"
            await emit(ev.TOOL_FAILED, {"call_id": call_id, "error": note})
        if self.state.turn_active:
            data: dict[str, Any] = {"reason": reason}
            if error:
                data["error"] = error
            await emit(ev.TURN_COMPLETED, data)
        # Input for this turn that came after its last request (or while it closed)
        # starts the next one; from here on new input goes to the inbox directly.
        self._inbox.extendleft(reversed(self._take_steers()))
        status = STATUS_AFTER[reason]
        if status in ("done", "idle") and (self._inbox or self._tasks.running_for(self.session_id)):
            status = "running"  # queued input runs next; background tasks will wake it
        if status == "done" and self.worktree is not None:
            status = "running"  # validation and the commit come first; they end it
        await self.host.set_status(status)

    async def _steps(self) -> tuple[str, str | None]:
        max_steps = self.ctx.max_steps(self.state)
        steps = 0
        try:
            while True:
                if self.state.open_calls:
                    # The calls of the last reply, in order; after a restart, those a
                    # resumed turn has not finished yet.
                    calls = list(self.state.open_calls.values())
                    for call in calls:
                        await self.tools.run(call)
                    if any(call.name in FILE_WRITERS for call in calls):
                        await self._check_code_rules()
                if steps >= max_steps:
                    return "max_steps", f"stopped after {steps} model requests (max_steps)"
                if self._compact_requested or compaction.needs_compaction(
                    self.state, self.ctx.config.compaction
                ):
                    forced, self._compact_requested = self._compact_requested, False
                    await self._compact(force=forced)
                self.model.check_budget()
                # What came for this turn meanwhile (during the tool round, the last
                # request, a compaction) goes into this request.
                for inbound in self._take_steers():
                    await self.host.emit(
                        ev.INPUT_RECEIVED,
                        {"text": inbound.text, "mode": inbound.mode},
                        command=inbound.command,
                    )
                response = await self.model.request()
                steps += 1
                requested = response.tool_calls
                completed: dict[str, Any] = {
                    "text": response.text,
                    "tool_calls": [
                        {"id": c.id, "name": c.name, "arguments": c.arguments} for c in requested
                    ],
                    "usage": response.usage.to_dict(),
                    "stop_reason": response.stop_reason,
                }
                if response.provider_content is not None:
                    completed["provider_content"] = list(response.provider_content)
                await self.host.emit(ev.MODEL_COMPLETED, completed)
                if not requested and not self._steers:
                    return "no_tool_calls", None
        except TurnEnded as ended:
            return ended.reason, ended.error

    async def _check_code_rules(self) -> None:
        """After an edit, the project's guards run; what they find goes back to the
        agent in its next request."""
        from harness_tui.gc.coderules import feedback, guards_dir

        if not guards_dir(self.ctx.project).is_dir():
            return
        report = await self.ctx.gc.check_rules(
            self.ctx.workspace_path(self.state), sandbox=self.ctx.sandbox_for(self.state)
        )
        text = feedback(report)
        if text:
            self._steers.append(Inbound(text, "auto"))

    def _take_steers(self) -> list[Inbound]:
        steers, self._steers = self._steers, []
        return steers

    # -- compaction ----------------------------------------------------------------

    async def compact(self) -> bool:
        """Compact an idle session at once, or a running one before its next request.
        Input that arrives meanwhile waits, then runs as usual."""
        if self.busy:
            self._compact_requested = True
            return True
        outcome: list[bool] = []

        async def compact_then_drain() -> None:
            try:
                outcome.append(await self._compact(force=True))
            finally:
                # Whatever came of it (SessionBusy: another process took the session
                # meanwhile), input sent meanwhile runs now, or hears why it cannot.
                await self._drain()

        task = self._start(compact_then_drain())
        await self.wait()
        task.result()  # a bug in compaction is the caller's to see
        return outcome[0]

    async def _compact(self, *, force: bool) -> bool:
        return await compaction.compact(self.model, self.tools.context("compaction"), force=force)
