"""The SessionBackend of a session that runs on an external agent (Claude Code, Codex,
OpenCode, Gemini, any ACP agent), driven through a protocol driver (`backends.agent`).

The agent does the work; this side keeps the session's record and its rules:
- each turn is claimed like our loop's (input.received and turn.started in one
  conditional append), run with `connection.prompt`, and closed on the record with the
  reason the agent gave;
- every permission request the agent sends is judged by our policy first: forbid
  answers no without asking, allow answers yes, prompt goes to the inbox and the
  person's answer becomes the agent's;
- steering text joins the running turn where the protocol can, else waits for the next;
- the agent's process is on the record (agent.started) and is stopped as a group when
  the session is cancelled, leaves this engine, or has been idle a while; a later turn
  starts it again, resuming the agent's own conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from harness_tui import events as ev
from harness_tui.backends.acceptances import Acceptances
from harness_tui.backends.agent import (
    AgentConnection,
    AgentError,
    AgentSpec,
    PermissionAnswer,
    PermissionRequest,
    TurnEnd,
)
from harness_tui.backends.base import INPUT_MODES, SessionHost, SessionTaken
from harness_tui.store import LeaseLostError, StoreError, UnknownSessionError

# An idle agent's process is stopped after this long; the next turn resumes it.
IDLE_CLOSE_S = 600.0
# How long a cancelled turn is given to end by the protocol before it is cut off.
INTERRUPT_GRACE_S = 5.0


class AgentSessionView(Protocol):
    """What this backend reads of the session's state."""

    @property
    def session_id(self) -> str: ...

    @property
    def turn_active(self) -> bool: ...

    @property
    def status(self) -> str: ...

    @property
    def backend(self) -> str: ...

    @property
    def agent_session_id(self) -> str | None: ...

    @property
    def approvals(self) -> Mapping[str, Any]: ...


class TurnsAround(Protocol):
    """A worktree session's work around its turns (engine.worktree_lifecycle)."""

    async def begin(self) -> bool: ...

    async def after_turns(self) -> Any: ...

    async def end(self, decision: Any) -> None: ...


class AgentHost(SessionHost, Protocol):
    """The engine's side of a session that runs on an external agent."""

    @property
    def state(self) -> AgentSessionView: ...

    on_claim: list[Callable[[], None]]
    working: Callable[[], bool]

    async def set_status(self, status: str) -> None: ...

    async def begin_turn(self, text: str, mode: str, *, command: str | None = None) -> None: ...

    async def end_turn(
        self,
        reason: str,
        error: str | None = None,
        *,
        open_calls: list[str] | tuple[str, ...] = (),
        usage: dict[str, Any] | None = None,
        queued: bool = False,
    ) -> None: ...

    async def close_interrupted(self) -> None: ...

    async def agent_started(self, data: dict[str, Any], pgid: int) -> None: ...

    async def agent_exited(self, data: dict[str, Any]) -> None: ...

    def agent_left_behind(self) -> bool: ...

    def stop_left_behind(self) -> None: ...

    def release_when_settled(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Inbound:
    text: str
    mode: str
    command: str | None = None


# Makes the connection: drivers.connect, or a test's.
Connect = Callable[[AgentSpec, "AgentSideOf"], AgentConnection]


class ExternalSession:
    """A SessionBackend (backends.base) for a session on an external agent."""

    def __init__(
        self,
        host: AgentHost,
        spec: Callable[[str | None], AgentSpec],
        *,
        worktree: TurnsAround | None = None,
        connect: Connect | None = None,
    ) -> None:
        self.host = host
        self.worktree = worktree
        # The agent's spec, given the agent's own session id to resume (None: new).
        self._spec = spec
        if connect is None:
            from harness_tui.backends.drivers import connect as connect_driver

            connect = connect_driver
        self._connect = connect
        self._connection: AgentConnection | None = None
        self._inbox: deque[Inbound] = deque()
        self._task: asyncio.Task[None] | None = None
        self._acceptances = Acceptances()
        self._detached = False
        # Set while cancel() stops the running turn: nothing runs after it.
        self._cancelling = False
        self._turn: asyncio.Task[TurnEnd] | None = None
        # The agent's tool calls of the running turn that have not ended, in order.
        self._open_calls: dict[str, None] = {}
        self._idle: asyncio.TimerHandle | None = None
        self.failure: StoreError | None = None
        host.on_claim.append(self._accept)
        # The lease is kept while the agent's process runs here: input from another
        # engine comes to it as a command instead of starting a second agent.
        host.working = lambda: self.busy or self._connection is not None

    @property
    def session_id(self) -> str:
        return self.host.session_id

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def waiting_for_approval(self) -> bool:
        return self.busy and bool(self.host.state.approvals)

    # -- input ---------------------------------------------------------------------

    def submit(self, text: str, mode: str, *, command: str | None = None) -> asyncio.Future[None]:
        if mode not in INPUT_MODES:
            raise ValueError(f"input mode {mode!r}: expected one of {', '.join(INPUT_MODES)}")
        connection = self._connection
        if (
            mode in ("steer", "auto")
            and self._turn is not None
            and not self._turn.done()
            and connection is not None
            and connection.can_steer
        ):
            accepted = Acceptances().new(running=False)
            steering = asyncio.ensure_future(self._steer(connection, text, mode, command))
            steering.add_done_callback(lambda done: _settle(accepted, done))
            return accepted
        self._inbox.append(Inbound(text, mode, command))
        accepted = self._acceptance()
        if not self.busy:
            self._start(self._own(self._drain()))
        return accepted

    async def _steer(
        self, connection: AgentConnection, text: str, mode: str, command: str | None
    ) -> None:
        await self.host.emit(ev.INPUT_RECEIVED, {"text": text, "mode": mode}, command=command)
        if not await connection.steer(text):
            self._inbox.append(Inbound(text, "follow_up"))

    def _acceptance(self) -> asyncio.Future[None]:
        return self._acceptances.new(running=self.busy)

    def _accept(self) -> None:
        self._acceptances.accept(running=self.busy)

    async def _own(self, work: Awaitable[None]) -> None:
        try:
            await work
        except SessionTaken as busy:  # another process holds the session
            self._inbox.clear()
            refusal: BaseException = busy
            self._acceptances.refuse(lambda: refusal)
            if busy.fenced:
                self.store_failed(LeaseLostError(str(busy)))
                await self._close_connection(record=False)
        finally:
            self._acceptances.release()

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        self.failure = None
        self._cancel_idle()

        async def guarded() -> None:
            try:
                await work
            except StoreError as exc:
                self.store_failed(exc)
                await self._close_connection(record=False)

        self._task = asyncio.create_task(guarded(), name=f"agent session {self.session_id}")
        self._task.add_done_callback(lambda _: self._after_work())
        return self._task

    def _after_work(self) -> None:
        if self._connection is not None and not self._detached:
            self._idle = asyncio.get_running_loop().call_later(IDLE_CLOSE_S, self._close_idle)
        self.host.release_when_settled()

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _close_idle(self) -> None:
        self._idle = None
        if not self.busy:
            self._start(self._close_connection(reason="idle"))

    # -- turns ---------------------------------------------------------------------

    async def _drain(self) -> None:
        while self._inbox:
            if self.worktree is not None and not await self.worktree.begin():
                self._inbox.clear()
                return
            if not await self._run_inbox():
                return

    async def _run_inbox(self) -> bool:
        while True:
            while self._inbox:
                if not await self._run_turn(self._inbox.popleft()):
                    return False
            if self._cancelling:
                return False
            if self.worktree is None:
                return True
            decision = await self.worktree.after_turns()
            if self._inbox:
                continue
            if getattr(decision, "retry", None) is not None:
                self._inbox.append(Inbound(decision.retry, "auto"))
                continue
            await self.worktree.end(decision)
            return True

    async def _run_turn(self, inbound: Inbound) -> bool:
        """One turn; False when it was cancelled or detached (nothing further runs)."""
        cancelled = False
        self._open_calls.clear()
        try:
            await self.host.begin_turn(inbound.text, inbound.mode, command=inbound.command)
            connection = await self._connected()
            self._turn = asyncio.ensure_future(connection.prompt(inbound.text))
            try:
                end = await asyncio.shield(self._turn)
            finally:
                if not self._turn.done():
                    self._turn.cancel()
        except SessionTaken:
            raise
        except asyncio.CancelledError:
            if self._detached:
                return False
            cancelled = True
            end = TurnEnd("cancelled")
        except AgentError as exc:
            end = TurnEnd("failed", str(exc))
            await self._close_connection(reason="failed", error=str(exc))
        except UnknownSessionError:
            self._inbox.clear()
            raise
        except StoreError:
            raise
        except Exception as exc:  # a driver's bug ends the turn on the record
            end = TurnEnd("failed", f"internal error: {type(exc).__name__}: {exc}")
            await self._close_connection(reason="failed", error=end.error)
        finally:
            self._turn = None
        stopped = cancelled or self._cancelling
        if stopped:
            self._inbox.clear()
        await self.host.end_turn(
            end.reason,
            end.error,
            open_calls=tuple(self._open_calls),
            usage=end.usage or None,
            queued=bool(self._inbox),
        )
        self._open_calls.clear()
        if cancelled:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
        return not stopped

    async def _connected(self) -> AgentConnection:
        """The agent's connection, started (resuming its conversation) if need be."""
        if self._connection is not None:
            return self._connection
        if self.host.agent_left_behind():
            # A process a dead engine left: it goes before another takes its place.
            self.host.stop_left_behind()
            await self.host.agent_exited({"reason": "its engine exited"})
        state = self.host.state
        spec = self._spec(state.agent_session_id)
        connection = self._connect(spec, AgentSideOf(self))
        try:
            agent_session_id = await connection.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self._connection = connection
        pid = connection.pid
        data: dict[str, Any] = {
            "agent": spec.name,
            "protocol": spec.protocol,
            "agent_session_id": agent_session_id,
            "asks_permission": connection.asks_permission,
            "can_steer": connection.can_steer,
        }
        if spec.resume_id:
            data["resumed"] = spec.resume_id == agent_session_id
        if pid is not None:
            data["pid"] = pid
            await self.host.agent_started(data, pid)
        else:
            await self.host.emit(ev.AGENT_STARTED, data)
        return connection

    async def _close_connection(
        self, *, reason: str = "closed", error: str | None = None, record: bool = True
    ) -> None:
        connection, self._connection = self._connection, None
        self._cancel_idle()
        if connection is None:
            return
        with contextlib.suppress(Exception):
            await connection.close()
        if record:
            data: dict[str, Any] = {"agent": self.host.state.backend, "reason": reason}
            if error:
                data["error"] = error
            with contextlib.suppress(StoreError):
                await self.host.agent_exited(data)
        self.host.release_when_settled()

    # -- what the agent reports ---------------------------------------------------

    async def record(self, type_: str, data: dict[str, Any]) -> None:
        if type_ == ev.TOOL_REQUESTED:
            self._open_calls[str(data.get("call_id"))] = None
        elif type_ in (ev.TOOL_COMPLETED, ev.TOOL_FAILED):
            self._open_calls.pop(str(data.get("call_id")), None)
        await self.host.emit(type_, data)

    async def permission(self, request: PermissionRequest) -> PermissionAnswer:
        """Our policy first, then the inbox (see the module's docstring)."""
        host = self.host
        args = dict(request.args)
        verdict = host.judge(request.tool, args)
        if verdict.diff is None and request.diff:
            verdict = replace(verdict, diff=request.diff)
        if request.title and request.title not in verdict.summary:
            verdict = replace(verdict, summary=f"{verdict.summary} ({request.title})")
        if request.call_id not in self._open_calls:
            await self.record(
                ev.TOOL_REQUESTED,
                {"call_id": request.call_id, "tool": request.tool, "args": args},
            )
        await host.emit(ev.POLICY_DECIDED, verdict.to_event(request.call_id))
        if verdict.decision == "forbid":
            rule = f" ({verdict.rule_id})" if verdict.rule_id else ""
            return PermissionAnswer(False, reason=f"forbidden by policy{rule}: {verdict.reason}")
        if verdict.decision == "allow":
            return PermissionAnswer(True)
        answer = await host.request_approval(request.call_id, request.tool, verdict)
        if answer.decision == "deny":
            return PermissionAnswer(False, reason=f"denied by the user: {answer.reason or ''}")
        if answer.decision == "edit":
            edited = answer.edited_args or {}
            again = host.judge(request.tool, edited)
            if again.decision == "forbid":
                return PermissionAnswer(
                    False, reason=f"the edited call is forbidden by policy: {again.reason}"
                )
            return PermissionAnswer(True, edited_args=edited)
        return PermissionAnswer(True, always=answer.decision == "allow_always")

    # -- the backend's other calls ------------------------------------------------

    async def cancel(self) -> None:
        """Stop the running turn and drop queued input: the protocol's interrupt first,
        so the agent ends the turn itself; cut off if it has not within the grace.
        The agent's process is stopped either way, so nothing it ran lives on."""
        self._inbox.clear()
        task = self._task
        if task is not None and not task.done():
            self._cancelling = True
            try:
                turn, connection = self._turn, self._connection
                if turn is not None and connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.interrupt(), INTERRUPT_GRACE_S)
                    await asyncio.wait([turn], timeout=INTERRUPT_GRACE_S)
                    if turn.done():  # the turn's end is recorded as the agent gave it
                        await asyncio.wait([task], timeout=INTERRUPT_GRACE_S)
                if not task.done():
                    task.cancel()
                    await asyncio.wait([task])
            finally:
                self._cancelling = False
        await self._close_connection(reason="cancelled")

    def resume(self) -> asyncio.Future[None]:
        """A turn another process left waiting for an approval: the agent that asked
        went with that process, so the turn is closed as interrupted; a new turn
        resumes the agent's conversation."""
        accepted = self._acceptance()
        self._start(self._own(self._close_left_turn()))
        return accepted

    async def _close_left_turn(self) -> None:
        await self.host.close_interrupted()  # its claim accepts whoever waits
        await self._drain()

    async def close_interrupted(self) -> None:
        await self.host.close_interrupted()
        if self.host.agent_left_behind():
            await self.host.agent_exited({"reason": "its engine exited"})

    async def settle(self) -> None:
        if self.host.agent_left_behind() and self._connection is None:
            self.host.stop_left_behind()
            await self.host.agent_exited({"reason": "its engine exited"})
        if self.worktree is None and not self.busy and not self.host.state.turn_active:
            status = self.host.state.status
            if status in ("running", "waiting"):
                await self.host.set_status("idle")

    async def detach(self) -> None:
        """Leave without recording the turn's end: the agent process goes (it cannot
        outlive this engine), the approval it asked for stays in the inbox."""
        task = self._task
        if task is not None and not task.done():
            self._detached = True
            task.cancel()
            await asyncio.wait([task])
        await self._close_connection(reason="detached")

    async def wait(self) -> None:
        while self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
        failure = self.failure
        if failure is not None:
            raise type(failure)(*failure.args)

    def store_failed(self, exc: StoreError) -> None:
        if self.failure is None:
            self.failure = exc
        self._inbox.clear()

    async def compact(self) -> bool:
        return False  # the agent keeps its own context


class AgentSideOf:
    """The session's side handed to a driver (backends.agent.AgentSide)."""

    def __init__(self, session: ExternalSession) -> None:
        self._session = session

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        await self._session.record(type_, data)

    async def permission(self, request: PermissionRequest) -> PermissionAnswer:
        return await self._session.permission(request)


def _settle(accepted: asyncio.Future[None], done: asyncio.Future[None]) -> None:
    if accepted.done():
        return
    if done.cancelled():
        accepted.cancel()
    elif done.exception() is not None:
        accepted.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        accepted.set_result(None)
