"""The Engine facade: the one door the CLI, the headless runner and the TUI use.

Behind it each session is a `SessionBackend` (today the in-process loop,
`engine.loop`) driven through `harness_tui.backends.base`, and an `EngineHost`, the
session's single writer with its policy gate and approval flow. The parts behind the
facade share an `EngineContext`, never the Engine itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev
from harness_tui.backends.agent import AgentError, AgentSpec
from harness_tui.backends.base import APPROVAL_DECISIONS, Resolution, SessionBackend
from harness_tui.backends.external import ExternalSession
from harness_tui.backends.runtimes import agent_entry, agent_spec
from harness_tui.engine.commands import (
    APPLIED_HERE,
    CommandOutcome,
    CommandRunner,
    issue_and_wait,
    issuer,
)
from harness_tui.engine.context import EngineContext
from harness_tui.engine.deltas import Delta
from harness_tui.engine.demo import in_demo_copy, seed_demo_copy
from harness_tui.engine.errors import CommandRejected, EngineError, SessionBusy, SessionFenced
from harness_tui.engine.host import EngineHost
from harness_tui.engine.loop import SessionLoop
from harness_tui.engine.owner import (
    current_owner,
    engine_closed,
    engine_opened,
    owner_alive,
    pid_gone,
    working_owner,
)
from harness_tui.engine.recovery import RecoveryFailure, recover_interrupted
from harness_tui.engine.session import PendingApproval, SessionState
from harness_tui.engine.tasks import TaskManager
from harness_tui.engine.worktree_sessions import WorktreeRecord, WorktreeRefused, WorktreeSessions
from harness_tui.engine.writer import SessionWriter
from harness_tui.events import Event
from harness_tui.policy.evaluate import MODES as APPROVAL_MODES
from harness_tui.providers.base import Provider
from harness_tui.providers.select import ProviderConfigError, resolve_provider
from harness_tui.sandbox import MODES as SANDBOX_MODES
from harness_tui.store import (
    Command,
    EventStore,
    Lease,
    LeaseLostError,
    SessionCounts,
    SessionSummary,
    StoreError,
    UnknownSessionError,
    open_store,
)
from harness_tui.store.control import (
    APPLIED,
    CANCEL,
    PENDING,
    REJECTED,
    RESOLVE_APPROVAL,
    SEND,
    SET_APPROVAL_MODE,
)
from harness_tui.store.queue import CLAIMED, QUEUED, QueuedSession

if TYPE_CHECKING:
    from harness_tui.config import Config
    from harness_tui.gc.service import GCService

# Sessions read from the log (not run here) whose state an engine keeps, to catch up
# rather than read again.
READ_STATES_KEPT = 256

__all__ = [
    "CommandOutcome",
    "CommandRejected",
    "Delta",
    "Engine",
    "EngineError",
    "RecoveryFailure",
    "SessionBusy",
    "SessionFenced",
]


class Engine:
    def __init__(self, config: Config, store: EventStore, *, offline_demo: bool = False) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.store = store
        # With no provider configured, sessions play the offline demo (the dashboard's
        # no-key default) rather than being refused (--exec).
        self.offline_demo = offline_demo
        self._ctx = EngineContext(self.id, config, store)
        # Each session this engine runs or has loaded: the writer side and the agent.
        self._hosts: dict[str, EngineHost] = {}
        self._backends: dict[str, SessionBackend] = {}
        self._tasks = TaskManager(self._ctx, self)
        # GC after each session that ends; off for one-shot runs (--exec), whose
        # process would exit in the middle of it.
        self.auto_gc = True
        self._ctx.add_observer(self._gc_after_session)
        self._providers: dict[tuple[str, str], Provider] = {}
        # Sessions taken over without a provider (to recover them, or prune their
        # worktree): theirs is built when they are next given work.
        self._unprovided: dict[str, SessionLoop] = {}
        # Sessions start-up recovery could not finish, and why (see Engine.open).
        self.recovery_failures: list[RecoveryFailure] = []
        # One scheduler for every worktree session this engine runs.
        self._worktrees = WorktreeSessions(self._ctx, self._tasks, self._load)
        # Sessions read from the log and not run here, by id, least recently used
        # first (see _read_state).
        self._read_states: OrderedDict[str, SessionState] = OrderedDict()
        # Commands other faces sent to the sessions this engine runs (store.control).
        self._commands = CommandRunner(
            store,
            self._ctx.leases.held,
            self._apply_command,
            self._working,
            self._settled_by,
        )
        self._ctx.leases.on_lost.append(self._lease_lost)
        self._ctx.leases.on_acquired.append(lambda session_id: self._commands.wake())
        # Work started by a callback (a lost lease's session being stopped).
        self._background: set[asyncio.Task[None]] = set()
        engine_opened(self.id, self._ctx.host)

    @classmethod
    async def open(
        cls, config: Config, *, recover: bool = True, offline_demo: bool = False
    ) -> Engine:
        """Open the store and, unless `recover` is false (read-only faces such as
        `tail`), stop what dead processes left running and close their turns.
        `offline_demo`: see `Engine.offline_demo`.

        A session that cannot be recovered does not stop the engine: it is listed in
        `recovery_failures` (and says so in its log) for the face to report. Whatever
        else fails here closes the store again before it is raised."""
        store = await open_store(config.store_url, retry_s=config.store.retry_s)
        try:
            engine = cls(config, store, offline_demo=offline_demo)
        except BaseException:
            await store.close()
            raise
        if recover:
            try:
                engine.recovery_failures = await recover_interrupted(
                    store,
                    engine._worktrees,
                    engine.load_state,
                    engine._attach_unprovided,
                    engine._record_recovery_failure,
                    engine._ctx.leases,
                )
            except BaseException:
                await engine.close()  # the store too, whatever else fails
                raise
        engine._commands.start()
        return engine

    async def close(self) -> None:
        """Cancel running turns; a turn waiting for an approval is left waiting, so
        the request can still be answered after this process is gone. Background
        tasks are stopped and their ends recorded: nothing outlives the engine."""
        # Sessions cancelled below end, and an ending session would start a GC pass
        # against a store about to close.
        self.auto_gc = False
        try:
            await self._tasks.close()
            detached: set[str] = set()
            for session_id, backend in list(self._backends.items()):
                if backend.waiting_for_approval:
                    await backend.detach()
                    detached.add(session_id)
                else:
                    await backend.cancel()
            # Worktree sessions cut short are committed and cleaned up; paused ones stay.
            try:
                await self._worktrees.close(detached)
            except StoreError:
                pass  # the log cannot be written: the next engine recovers what is left
            gc = self._ctx.loaded_gc()
            if gc is not None:
                await gc.close()
            for provider in self._providers.values():
                await provider.aclose()
        finally:
            try:
                await self._commands.close()
                for task in list(self._background):
                    task.cancel()
                # Every lease is given up: a turn left waiting for an approval can be
                # taken over by whoever answers it, at once.
                await self._ctx.leases.close()
            except StoreError:
                pass  # the leases run out by themselves
            finally:
                await self._close_store()

    async def _close_store(self) -> None:
        # Whatever failed above, the store is closed: an open one (its writer task,
        # its connections' threads) would keep the process from ever exiting.
        try:
            await self.store.close()
        finally:
            engine_closed(self.id)

    def kill_processes(self) -> None:
        """The last resort of a process that must exit now, its orderly shutdown having
        overrun (a store that does not answer): kill what the background tasks run, so
        nothing outlives it. Nothing is recorded; what was committed stays."""
        self._tasks.kill_now()
        self._ctx.live_groups.kill_all()

    # -- sessions ------------------------------------------------------------------

    async def start_session(
        self,
        prompt: str,
        *,
        title: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        workspace: str | Path | None = None,
        parent_id: str | None = None,
        preset: str | None = None,
        approval_mode: str | None = None,
        worktree: bool | None = None,
        priority: int | None = None,
        sandbox_mode: str | None = None,
        sandbox_network: bool | None = None,
        session_id: str | None = None,
        agent: str | None = None,
    ) -> str:
        """Create a session and start its first turn; returns the session id.

        `worktree`: run it in a git worktree of its own, on branch
        `<branch_prefix><session id>` (None: the project's [git] worktree; never for a
        subagent or a given workspace). A worktree session waits, queued, while the
        concurrency limits are reached; `priority` orders the queue (default: the
        project's). Raises EngineError when the queue is full or the project is not a
        git repository, ProviderConfigError when no provider can be used as configured
        (or a cost budget could not be enforced).

        The built-in demo always works on a seeded copy of its own project, whatever
        `workspace` or `worktree` say: it edits files and deletes one.

        `sandbox_mode` and `sandbox_network` (default: [sandbox] mode and network) are
        how its commands run, for good: recorded in session.created, they hold for every
        continuation, whatever the config says then (a subagent gets its parent's).

        `session_id`: the id it was given when it was queued (`harness-tui submit`).

        `agent`: run it on the external agent `[agents.NAME]` names (Claude Code, Codex,
        an ACP agent) instead of our own loop; its permission requests are judged by
        our policy first. Raises EngineError for an agent with no entry."""
        mode = approval_mode or self.config.policy.approval_mode
        _check_mode(mode)
        sandbox_mode = sandbox_mode or self.config.sandbox.mode
        if sandbox_mode not in SANDBOX_MODES:
            raise EngineError(
                f"sandbox mode {sandbox_mode!r}: expected one of {', '.join(SANDBOX_MODES)}"
            )
        if sandbox_network is None:
            sandbox_network = self.config.sandbox.network
        resolved = None
        entry = None
        if agent:
            try:
                entry = agent_entry(self.config, agent)
            except AgentError as exc:
                raise EngineError(str(exc)) from None
        else:
            resolved = resolve_provider(
                self.config, provider, model, offline_demo=self.offline_demo
            )
            resolved.check_cost_budget()
        session_id = session_id or uuid.uuid4().hex[:12]
        if resolved is not None and resolved.is_demo and not in_demo_copy(workspace):
            workspace = await seed_demo_copy(session_id)
            worktree = False
        if worktree is None:
            # A subagent works in its parent's workspace; a given workspace is used as is.
            worktree = self.config.git.worktree and parent_id is None and workspace is None
        plan: dict[str, Any] | None = None
        ticket = None
        if worktree:
            if workspace is not None or parent_id:
                raise EngineError(
                    "a worktree session works in a worktree of its own: it takes no "
                    "workspace and cannot be a subagent"
                )
            try:
                plan = await self._worktrees.plan(session_id, priority)
                ticket = self._worktrees.submit(session_id, priority)
            except WorktreeRefused as exc:
                raise EngineError(str(exc)) from exc
            workspace = plan["path"]
        elif workspace is None:
            workspace = self._ctx.project
        state = SessionState(session_id)
        created: dict[str, Any] = {
            "title": title or _title_from(prompt),
            "project": str(self._ctx.project),
            "workspace": str(Path(workspace).resolve()),
            "approval_mode": mode,
        }
        if agent and entry is not None:
            # The agent runs its own tools: no provider and no sandbox of ours.
            state.backend = agent
            backend = self._attach_unprovided(state)
            created.update(
                provider=agent, model=entry.model, backend=agent, protocol=entry.protocol
            )
        else:
            assert resolved is not None
            backend = self._attach(state, resolved.name, resolved.model)
            created.update(
                provider=resolved.name,
                model=resolved.model,
                sandbox={"mode": sandbox_mode, "network": sandbox_network},
            )
        if resolved is not None and resolved.note:
            created["note"] = resolved.note
        if resolved is not None and resolved.name == "scripted" and in_demo_copy(workspace):
            # The demo and its subagents say so wherever they are shown, and name
            # their copy rather than the user's project.
            created["offline_demo"] = True
            created["project"] = created["workspace"]
            created["title"] = _title_from(f"offline demo: {created['title']}")
            created["note"] = (
                f"{resolved.note or 'offline demo provider (scripted)'}; scripted replies "
                "on a seeded copy of its own project, never on yours"
            )
        if parent_id:
            created["parent_id"] = parent_id
            parent = self._hosts.get(parent_id)
            created["depth"] = (parent.state.depth if parent else 0) + 1
        if preset:
            created["preset"] = preset
        if plan is not None:
            created["worktree"] = plan
            created["owner"] = current_owner(self.id)
        host = self._hosts[session_id]
        try:
            await host.emit(ev.SESSION_CREATED, created)
        except BaseException:
            if ticket is not None:
                self._worktrees.release(session_id)
            raise
        if ticket is None:
            await host.set_status("idle")
        else:
            backend.worktree = self._worktrees.attach(host, ticket)
            if ticket.granted:
                await host.set_status("running")  # it holds a slot; its worktree is next
            else:
                await host.emit(
                    ev.SESSION_STATUS, {"status": "queued", "position": ticket.position}
                )
        accepted = backend.submit(prompt, "prompt")
        if ticket is None:
            # Its first turn claims the session at once (a worktree session's claim
            # waits for its slot): whoever continued it first gets it (SessionBusy).
            await accepted
        return session_id

    async def send(
        self,
        session_id: str,
        text: str,
        mode: str = "follow_up",
        *,
        wait: float | None = None,
        run_here: bool = True,
    ) -> CommandOutcome:
        """Steer the running turn (mode="steer"), queue a follow-up for when it ends
        ("follow_up"), or start a turn on an idle session (either, or "prompt").

        When another engine runs the session (it holds a live lease), a steer or a
        follow-up goes to it as a command: this waits up to `wait` seconds (default
        [control] command_timeout_s) for it to be applied, and returns the outcome
        ("pending" if not yet; it stays queued); CommandRejected says why it could not
        be. `run_here=False`: never take the session over in this engine (a command
        line that must not run turns); the command waits for whoever runs it next.

        Otherwise returns once the input is accepted: this engine runs the session, or
        has just claimed it. Raises SessionBusy, with nothing written, when another
        process claimed it first ("prompt" input always takes this path)."""
        if mode in ("steer", "follow_up") and not self._runs_here(session_id):
            state = await self.load_state(session_id)
            if self._runner_elsewhere(state) is not None or not run_here:
                return await self._issue(session_id, SEND, {"text": text, "mode": mode}, wait)
        await self._send_here(session_id, text, mode)
        return APPLIED_HERE

    async def _send_here(
        self, session_id: str, text: str, mode: str, command: str | None = None
    ) -> None:
        backend = await self._backend(session_id)
        state = self._hosts[session_id].state
        if not state.backend:
            # A session on an external agent has no provider of ours to budget: its
            # provider field names the agent (session.created's "provider").
            resolve_provider(self.config, state.provider, state.model).check_cost_budget()
        worktree = self._worktrees.lifecycle(session_id)
        if worktree is not None:
            try:
                worktree.check_input()
            except WorktreeRefused as exc:
                raise EngineError(str(exc)) from exc
        await backend.submit(text, mode, command=command)

    async def cancel(self, session_id: str, *, wait: float | None = None) -> CommandOutcome:
        """Stop the session's turn, its background tasks and its subagents. Idempotent.
        A queued worktree session leaves the queue; a running one has its partial work
        committed (WIP) on its branch, and its worktree removed.

        When another engine runs the session, this goes to it as a command and waits
        for its outcome, as `send` does."""
        backend = self._backends.get(session_id)
        if not self._runs_here(session_id) and not (backend is not None and backend.busy):
            state = await self.load_state(session_id)
            if self._runner_elsewhere(state) is not None:
                return await self._issue(session_id, CANCEL, {}, wait)
            if state.turn_active and backend is None:
                # Left running by an engine that is gone: adopted here, its turn closed.
                backend = await self._backend(session_id)
        await self._cancel_here(session_id)
        return APPLIED_HERE

    async def _cancel_here(self, session_id: str) -> None:
        backend = self._backends.get(session_id)
        if backend is not None:
            await backend.cancel()
        await self._tasks.cancel_session(session_id)
        if backend is not None:
            worktree = self._worktrees.lifecycle(session_id)
            if worktree is not None:
                await worktree.cancelled()
            await backend.settle()

    async def wait(self, session_id: str) -> SessionState:
        """Until the session has no turn running or queued in this engine and none of
        its background tasks or subagents is still running (each that ends wakes the
        agent, whose new turn is waited for too)."""
        backend = self._backends.get(session_id)
        if backend is None:
            return await self.load_state(session_id)
        while True:
            try:
                await backend.wait()
            except UnknownSessionError as exc:
                # Retention's delete won the race with this input's first event: the
                # session is gone, whole, and nothing of the input was written.
                raise EngineError(f"{exc}: the input was not recorded") from exc
            running = self._tasks.running_for(session_id)
            if not running:
                if backend.busy:
                    continue
                return self._hosts[session_id].state
            done = [asyncio.ensure_future(task.done.wait()) for task in running]
            try:
                await asyncio.wait(done, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in done:
                    waiter.cancel()

    async def resolve_approval(
        self,
        approval_id: str,
        decision: str,
        reason: str | None = None,
        edited_args: dict[str, Any] | None = None,
        *,
        by: str = "user",
        wait: float | None = None,
        run_here: bool = True,
    ) -> CommandOutcome:
        """Answer a pending approval: allow_once, allow_always, deny or edit (with
        `edited_args`). Works for any session in the store: when another engine runs
        it, the answer goes to that engine as a command (see `send` for `wait`, the
        outcome and `run_here`); a session another process left waiting is carried on
        by this engine."""
        _check_answer(decision, edited_args)
        session_id, loaded = await self._session_of_approval(approval_id)
        backend = self._backends.get(session_id)
        if not (backend is not None and backend.busy):
            # Read from the store just now, lease included: reading the whole log again
            # would double what an answer costs, and a long session's log is long.
            state = loaded if loaded is not None else await self.load_state(session_id)
            if self._runner_elsewhere(state) is not None or not run_here:
                payload: dict[str, Any] = {"approval_id": approval_id, "decision": decision}
                if by != "user":
                    payload["by"] = by
                if reason is not None:
                    payload["reason"] = reason
                if edited_args is not None:
                    payload["edited_args"] = edited_args
                return await self._issue(session_id, RESOLVE_APPROVAL, payload, wait)
        answer = Resolution(decision, by=by, reason=reason, edited_args=edited_args)
        await self._resolve_here(session_id, approval_id, answer)
        return APPLIED_HERE

    async def _resolve_here(self, session_id: str, approval_id: str, answer: Resolution) -> None:
        backend = self._backends.get(session_id)
        if backend is not None and backend.busy:
            # This engine runs the turn that asked: the answer is its to take, whatever
            # the log's owner record says.
            if approval_id not in self._hosts[session_id].state.approvals:
                raise EngineError(_not_pending(approval_id))
            try:
                self._hosts[session_id].approvals.answer(approval_id, answer)
            except ValueError as exc:
                raise EngineError(str(exc)) from exc
            return
        state = await self.load_state(session_id)
        if approval_id not in state.approvals:
            raise EngineError(_not_pending(approval_id))
        if state.turn_active and owner_alive(state.turn_owner, state.lease):
            raise SessionBusy(session_id, state.turn_owner)
        # Left waiting by a process that is gone: this engine carries the turn on,
        # unless another process took the session over first (SessionBusy).
        if backend is None:
            backend = self._attach(state)
        elif session_id in self._unprovided:
            self._provide(self._unprovided[session_id])
        self._hosts[session_id].approvals.answer(approval_id, answer)
        await backend.resume()

    async def _session_of_approval(self, approval_id: str) -> tuple[str, SessionState | None]:
        """The session a pending approval belongs to, with its state when it was read
        from the store for this (None for a session this engine has loaded). The
        sessions this engine runs are asked first, once each has folded in what it
        already handed to the store: the request may be committed, and shown to whoever
        answers, before its writer has applied it."""
        for host in list(self._hosts.values()):
            await host.settled()
        for session_id, host in self._hosts.items():
            if approval_id in host.state.approvals:
                return session_id, None
        for state, approval in await self.pending_approvals():
            if approval.approval_id == approval_id:
                read = state.session_id not in self._hosts
                return state.session_id, state if read else None
        # Another engine may have committed the request and not yet the "waiting" status
        # that follows it (whoever saw the request can be that quick).
        for summary in await self.store.sessions():
            if summary.status == "running" and summary.session_id not in self._hosts:
                state = await self.load_state(summary.session_id)
                if approval_id in state.approvals:
                    return summary.session_id, state
        raise EngineError(f"no pending approval {approval_id!r}")

    async def pending_approvals(self) -> list[tuple[SessionState, PendingApproval]]:
        """Every approval waiting for an answer, across sessions, oldest first."""
        pending: list[tuple[SessionState, PendingApproval]] = []
        local = {sid: host.state for sid, host in self._hosts.items()}
        for summary in await self.store.sessions():
            if summary.status != "waiting" and summary.session_id not in local:
                continue
            state = local.get(summary.session_id) or await self.load_state(summary.session_id)
            pending.extend((state, approval) for approval in state.approvals.values())
        pending.sort(key=lambda item: item[1].requested_at)
        return pending

    async def set_approval_mode(
        self,
        session_id: str,
        mode: str,
        *,
        wait: float | None = None,
        run_here: bool = True,
    ) -> CommandOutcome:
        """Switch a session's approval mode; it applies from the next tool call. When
        another engine runs the session, this goes to it as a command (see `send`)."""
        _check_mode(mode)
        if not self._runs_here(session_id):
            state = await self.load_state(session_id)
            if self._runner_elsewhere(state) is not None or not run_here:
                return await self._issue(
                    session_id, SET_APPROVAL_MODE, {"approval_mode": mode}, wait
                )
        await self._set_mode_here(session_id, mode)
        return APPLIED_HERE

    async def _set_mode_here(self, session_id: str, mode: str, command: str | None = None) -> None:
        await self._backend(session_id)
        # Not while another process runs the session: its turn goes on in the mode it
        # has (SessionBusy).
        change = [(ev.SESSION_APPROVAL_MODE, {"approval_mode": mode})]
        await self._hosts[session_id].claim(lambda state: change, command=command)

    async def compact(self, session_id: str) -> bool:
        """Compact a session's conversation now (`/compact`), or before the running
        turn's next request. True when it was compacted or will be."""
        backend = await self._backend(session_id)
        return await backend.compact()

    def sandbox_unavailable(self) -> str | None:
        """Why the sandbox cannot start on this machine (bubblewrap missing or broken),
        or None when it can. Sessions this engine runs then fall back to the policy
        alone, failing closed."""
        availability = self._ctx.sandbox_availability
        return None if availability.ok else availability.reason

    def sandbox_notice(self, session_id: str) -> str | None:
        """The one line a face shows when the session's commands run unconfined: its
        mode is danger-full-access, or its sandbox cannot start here (and the policy
        alone judges, failing closed). None when they run in the sandbox."""
        sandbox = self._ctx.sandbox_for(self.state(session_id))
        if sandbox.disabled:
            return (
                "harness-tui: warning: no sandbox (danger-full-access): the agent's "
                "commands run with your full access to this machine"
            )
        if sandbox.fallback:
            return (
                f"harness-tui: the sandbox cannot start: {sandbox.unavailable}; the "
                "agent's commands run unconfined, judged by the policy alone, and any "
                "command no rule allows needs approval"
            )
        return None

    def state(self, session_id: str) -> SessionState:
        """The live projection of a session this engine runs or has loaded."""
        host = self._hosts.get(session_id)
        if host is None:
            raise EngineError(f"session {session_id!r} is not loaded; use load_state()")
        return host.state

    async def load_state(self, session_id: str) -> SessionState:
        """The session as its log has it, with its lease as the store has it now (which
        says whether the engine running it is alive)."""
        host = self._hosts.get(session_id)
        if host is not None:
            if not self._runs_here(session_id):
                host.state.lease = (await self.store.leases([session_id])).get(session_id)
            return host.state
        state = await self._read_state(session_id)
        # Read after the events: an engine writes only once it holds the lease, so an
        # owner the events name is never newer than the lease read here.
        state.lease = (await self.store.leases([session_id])).get(session_id)
        return state

    async def _read_state(self, session_id: str) -> SessionState:
        """A session this engine does not run, as its log has it: kept from the last
        read and caught up with what was appended since. Answering approvals of a long
        session (each answer finds its approval in the session's state) then reads what
        is new, not the whole log again."""
        cached = self._read_states.get(session_id)
        if cached is not None:
            self._read_states.move_to_end(session_id)
            summary = await self.store.session(session_id)
            if summary is None:  # retention deleted it
                del self._read_states[session_id]
            else:
                if summary.last_seq > cached.last_seq:
                    for event in await self.store.read(session_id, cached.last_seq):
                        cached.apply(event)
                return cached
        events = await self.store.read(session_id)
        if not events:
            raise EngineError(f"no session {session_id!r} in {self.store.url}")
        state = SessionState.from_events(session_id, events)
        self._read_states[session_id] = state
        if len(self._read_states) > READ_STATES_KEPT:
            self._read_states.popitem(last=False)
        return state

    async def abandoned(self, session_id: str) -> bool:
        """Whether the session's log says it runs while no process runs it: the turn's
        or the running tasks' process is gone (killed, or its host rebooted). Only what
        this host can check counts; until a process recovers it, it runs no more."""
        state = await self.load_state(session_id)
        if state.status not in ("running", "queued") or session_id in self._backends:
            return False
        owners = [task.owner for task in state.running_tasks]
        if state.turn_active:
            owners.append(state.turn_owner)
        elif not owners:
            owners.append(state.owner)
        return not any(owner_alive(owner, state.lease) for owner in owners)

    async def sessions(
        self, limit: int | None = None, *, live: bool = False
    ) -> list[SessionSummary]:
        """Summaries, the most recently active first; `live`: only the sessions that
        run, wait or are queued, or have an approval pending or a task running."""
        return await self.store.sessions(limit, live=live)

    async def session_counts(self) -> SessionCounts:
        """How many sessions the store holds, their usage, and the newest position
        their summaries account for."""
        return await self.store.session_counts()

    async def history(
        self, session_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """A session's events after `after_seq`, oldest first; at most `limit` of them,
        so a long session can be read a page at a time."""
        return await self.store.read(session_id, after_seq, limit)

    async def summary(self, session_id: str) -> SessionSummary | None:
        """The session's summary row (status, title, last seq), without its events."""
        return await self.store.session(session_id)

    async def leases(self, session_ids: Collection[str] | None = None) -> dict[str, Lease]:
        """Which engine (host, pid) holds each session's lease, by session: the engine
        that runs it, or one that died if `expired`. A session with no entry is run by
        nobody."""
        return await self.store.leases(session_ids)

    async def queue(self) -> list[QueuedSession]:
        """The sessions `submit` queued that have not run to their end: waiting for a
        worker, or claimed by one (in the order they were submitted)."""
        return await self.store.queued_sessions((QUEUED, CLAIMED))

    async def commands(
        self, *, session_ids: Collection[str] | None = None, status: str | None = None
    ) -> list[Command]:
        """Commands sent to sessions through the store, oldest first."""
        return await self.store.commands(session_ids=session_ids, status=status)

    @property
    def _settled_by(self) -> str:
        return f"engine {self.id} on {self._ctx.host}"

    @property
    def host(self) -> str:
        """The name this engine gives its machine ([control] host, else the hostname)."""
        return self._ctx.host

    async def history_before(self, session_id: str, before_seq: int, limit: int) -> list[Event]:
        """The newest `limit` events of a session before `before_seq`, oldest first: a
        page of its history going back."""
        return await self.store.read_before(session_id, before_seq, limit)

    async def log_before(self, before_position: int, limit: int) -> list[Event]:
        """The newest `limit` events of the whole log before `before_position`, oldest
        first: a page of every session's history going back."""
        return await self.store.read_all_before(before_position, limit)

    async def event_at(self, position: int) -> Event | None:
        """The event the store gave this position, or None if it holds none there."""
        events = await self.store.read_all(after_position=position - 1, limit=1)
        return events[0] if events and events[0].position == position else None

    async def last_position(self) -> int:
        """The store's newest position: subscribe after it to see only what comes next."""
        return await self.store.last_position()

    @property
    def store_url(self) -> str:
        """Where the events live, for messages that name the store."""
        return self.store.url

    async def worktree_records(self) -> list[WorktreeRecord]:
        """Every worktree session in the log with its branch, status and diff summary,
        and its worktree as `git worktree list` sees it; then worktree folders no
        session accounts for."""
        return await self._worktrees.records()

    async def prune_worktrees(self) -> list[WorktreeRecord]:
        """Remove worktrees whose session ended or is not in the log (their uncommitted
        work committed on their branch first), then let git forget worktrees whose
        folders are gone. Returns what was removed."""
        return await self._worktrees.prune()

    async def wrote(self, event: Event) -> bool:
        """Whether this engine appended `event`, rather than another process writing to
        the same session: what a run shows as its own. (The store may hand the event to
        a subscriber before its writer has taken it back: that is waited for.)"""
        host = self._hosts.get(event.session_id)
        if host is None:
            return False
        await host.settled()
        return host.wrote(event.seq)

    def subscribe(self, after_position: int = 0) -> AsyncIterator[Event]:
        """Every event in the store after `after_position`, then live ones, including
        those written by other processes."""
        return self.store.subscribe(after_position)

    def on_session_failure(self, listener: Callable[[str, str], None]) -> None:
        """Call `listener(session_id, message)` when one of this engine's sessions
        stops because the store cannot take its events (full, gone, deleted): its turn
        stays open for recovery, and no event can tell a subscriber."""
        self._ctx.add_failure_listener(listener)

    def deltas(self) -> AsyncIterator[Delta]:
        """Live, unpersisted output of this engine's sessions. A slow reader loses the
        oldest deltas rather than slowing the sessions down; the log has the rest."""
        return self._ctx.deltas.follow()

    @property
    def gc(self) -> GCService:
        """Signals, drafts, grades, retention and code rules (loaded when first used)."""
        return self._ctx.gc

    # -- the control plane -----------------------------------------------------------

    async def hold_lease(self, session_id: str, *, replacing: int = 0) -> Lease:
        """Take the session's lease for this engine and keep it, even while the session
        is settled, until `let_go`: a worker running a queued session holds it from
        its claim (whose lease token is `replacing`) to its end. Raises SessionBusy
        when another live engine holds it."""
        return await self._ctx.leases.acquire(session_id, replacing=replacing, keep=True)

    async def let_go(self, session_id: str) -> None:
        """Give up a lease `hold_lease` kept; any engine may take the session over."""
        await self._ctx.leases.let_go(session_id)

    async def hand_back(self) -> None:
        """Stop working on every session here without recording an end, kill what their
        tools run, and give their leases up: the next engine that adopts one closes its
        turn as interrupted and carries it on (a worker stopping, SIGTERM). Then
        `close`."""
        for backend in list(self._backends.values()):
            await backend.detach()
        self.kill_processes()
        for session_id in self._ctx.leases.held():
            await self._ctx.leases.let_go(session_id)

    async def adopt_orphans(self) -> list[str]:
        """Take over every session that has commands waiting and no engine running it
        (its lease ran out, its engine closed, or none ever held it), and apply them
        here, in the order they were sent: an answer carries on the turn its approval
        waits in; other commands find the turn a dead engine left open closed as
        interrupted first. What an engine that stays (a dashboard, a worker) calls to
        serve the commands nobody else will. Returns the sessions it adopted; a session
        another engine adopts first is left to it."""
        pending = await self.store.commands(status=PENDING)
        session_ids = list(dict.fromkeys(command.session_id for command in pending))
        adopted: list[str] = []
        for session_id in session_ids:
            if self._runs_here(session_id):
                continue
            try:
                state = await self.load_state(session_id)
            except EngineError as exc:
                for command in pending:
                    if command.session_id == session_id:
                        await self.store.settle_command(
                            command.command_id, REJECTED, str(exc), by=self._settled_by
                        )
                continue
            if self._runner_elsewhere(state) is not None:
                continue
            try:
                if state.turn_active and not state.approvals:
                    await self._backend(session_id)  # its dead engine's turn is closed
                else:
                    state.lease = await self._ctx.leases.acquire(session_id)
            except SessionBusy:
                continue
            adopted.append(session_id)
        self._commands.wake()
        return adopted

    def _runs_here(self, session_id: str) -> bool:
        """Whether this engine holds the session's lease (it runs the session)."""
        return self._ctx.leases.fence(session_id) is not None

    def _runner_elsewhere(self, state: SessionState) -> Lease | None:
        """The live lease of another engine running the session, else None."""
        lease = state.lease
        if lease is None or lease.owner == self.id or lease.expired:
            return None
        if pid_gone(lease.host, lease.pid, lease.pid_start):
            return None
        return lease

    async def _issue(
        self, session_id: str, kind: str, payload: dict[str, Any], wait: float | None
    ) -> CommandOutcome:
        timeout = self.config.control.command_timeout_s if wait is None else wait
        return await issue_and_wait(
            self.store, session_id, kind, payload, issuer(self._ctx.host), timeout
        )

    def _working(self, session_id: str) -> bool:
        backend = self._backends.get(session_id)
        return backend is not None and backend.busy

    async def _apply_command(self, command: Command) -> None:
        """Carry out a command sent to a session this engine runs. The events that apply
        it carry its id (the store marks it applied with them); raises EngineError when
        it cannot apply, and the runner rejects it with that message."""
        payload = command.payload
        session_id = command.session_id
        try:
            if command.kind == RESOLVE_APPROVAL:
                decision = str(payload.get("decision"))
                edited = payload.get("edited_args")
                _check_answer(decision, edited)
                answer = Resolution(
                    decision,
                    by=str(payload.get("by") or command.issued_by),
                    reason=payload.get("reason"),
                    edited_args=edited if isinstance(edited, dict) else None,
                    command_id=command.command_id,
                )
                await self._resolve_here(session_id, str(payload.get("approval_id")), answer)
            elif command.kind == SEND:
                mode = str(payload.get("mode"))
                if mode not in ("steer", "follow_up"):
                    raise EngineError(f"input mode {mode!r}: expected steer or follow_up")
                await self._send_here(
                    session_id, str(payload.get("text")), mode, command.command_id
                )
            elif command.kind == CANCEL:
                await self._cancel_here(session_id)
                await self.store.settle_command(command.command_id, APPLIED, by=self._settled_by)
            elif command.kind == SET_APPROVAL_MODE:
                mode = str(payload.get("approval_mode"))
                _check_mode(mode)
                await self._set_mode_here(session_id, mode, command.command_id)
            else:
                raise EngineError(f"unknown command kind {command.kind!r}")
        except SessionBusy as exc:
            raise EngineError(f"this engine no longer runs session {session_id}: {exc}") from exc
        except ProviderConfigError as exc:
            raise EngineError(str(exc)) from exc

    def _lease_lost(self, session_id: str) -> None:
        """A renewal found the session's lease taken by another engine (this one was
        too slow to renew it): its work here stops, without writing (it could not)."""
        message = str(SessionFenced(session_id, "a renewal found it taken"))
        backend = self._backends.get(session_id)
        if backend is None:
            self._ctx.session_failed(session_id, message)
            return
        # Whoever waits for the session hears why it stopped (wait() raises it).
        backend.store_failed(LeaseLostError(message))
        task = asyncio.ensure_future(backend.detach())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- internals -----------------------------------------------------------------

    def _gc_after_session(self, event: Event) -> None:
        if (
            self.auto_gc
            and event.type == ev.SESSION_STATUS
            and event.data["status"] in ev.TERMINAL_STATUSES
        ):
            host = self._hosts.get(event.session_id)
            if host is not None and host.state.parent_id is None:
                self.gc.session_ended()

    def _attach(
        self, state: SessionState, provider_name: str | None = None, model: str | None = None
    ) -> SessionLoop | ExternalSession:
        """The session's backend; for our own loop, with the provider and model given,
        else those its log names."""
        backend = self._attach_unprovided(state)
        if isinstance(backend, SessionLoop):
            self._provide(backend, provider_name, model)
        return backend

    def _attach_unprovided(self, state: SessionState) -> SessionLoop | ExternalSession:
        """The session's backend without its provider yet: enough to record what a dead
        process left, whatever keys this process has. `_provide` before it runs a turn."""
        # Its state is the live one from now on, changed by this engine's writer.
        self._read_states.pop(state.session_id, None)
        host = EngineHost(self._ctx, state)
        self._hosts[state.session_id] = host
        if state.backend:
            session = ExternalSession(
                host, self._agent_spec(host), worktree=self._worktrees.attach(host)
            )
            self._backends[state.session_id] = session
            return session
        loop = SessionLoop(self._ctx, host, None, self._tasks, self._worktrees.attach(host))
        self._backends[state.session_id] = loop
        self._unprovided[state.session_id] = loop
        return loop

    def _agent_spec(self, host: EngineHost) -> Callable[[str | None], AgentSpec]:
        """How the session's agent starts: its entry as configured now, in the
        session's workspace, resuming the agent's own session id when there is one."""

        def spec(resume_id: str | None) -> AgentSpec:
            state = host.state
            return agent_spec(
                self.config,
                state.backend,
                self._ctx.workspace_path(state),
                resume_id=resume_id,
            )

        return spec

    def _provide(
        self, loop: SessionLoop, provider_name: str | None = None, model: str | None = None
    ) -> None:
        """Give the session's backend its provider (raises ProviderConfigError when it
        cannot be built, e.g. its API key is not set)."""
        state = loop.state
        key = (provider_name or state.provider, model or state.model)
        provider = self._providers.get(key)
        if provider is None:
            provider = resolve_provider(self.config, *key).build()
            self._providers[key] = provider
        loop.model.provider = provider
        self._unprovided.pop(state.session_id, None)

    async def _record_recovery_failure(self, session_id: str, error: str) -> None:
        """Put on the session's record that recovery could not finish, and forget what
        was loaded of it: the next use takes it over from the log again."""
        self._read_states.pop(session_id, None)
        host: SessionWriter | None = self._hosts.pop(session_id, None)
        self._backends.pop(session_id, None)
        self._unprovided.pop(session_id, None)
        self._worktrees.forget(session_id)
        if host is None:
            events = await self.store.read(session_id)
            state = SessionState(session_id)
            state.last_seq = events[-1].seq if events else 0
            host = SessionWriter(self._ctx, state)
        await host.emit(ev.RECOVERY_FAILED, {"error": error, "by": current_owner(self.id)})

    async def _backend(self, session_id: str) -> SessionBackend:
        """The session's backend, taking the session over from the log if need be
        (e.g. `--exec --session ID`)."""
        backend = self._backends.get(session_id)
        if backend is not None:
            unprovided = self._unprovided.get(session_id)
            if unprovided is not None:
                self._provide(unprovided)
            return backend
        state = await self.load_state(session_id)
        owner = working_owner(state, self.id)
        if owner is not None:
            raise SessionBusy(session_id, owner)
        loop = self._attach(state)
        if state.turn_active:
            await loop.close_interrupted()  # its process is gone
        return loop

    async def _load(self, session_id: str) -> None:
        """Load a session from the log, as it is, to act on it (prune its worktree)."""
        if session_id not in self._backends:
            state = await self.load_state(session_id)
            self._attach_unprovided(state)


def _check_answer(decision: str, edited_args: Any) -> None:
    if decision not in APPROVAL_DECISIONS:
        raise EngineError(f"decision {decision!r}: expected one of {', '.join(APPROVAL_DECISIONS)}")
    if decision == "edit" and not isinstance(edited_args, dict):
        raise EngineError("decision edit needs edited_args, the call's new arguments")


def _not_pending(approval_id: str) -> str:
    return f"approval {approval_id} is not pending any more: it was answered, or its turn ended"


def _check_mode(mode: str) -> None:
    if mode not in APPROVAL_MODES:
        raise EngineError(f"approval mode {mode!r}: expected one of {', '.join(APPROVAL_MODES)}")


def _title_from(prompt: str) -> str:
    line = prompt.strip().splitlines()[0] if prompt.strip() else "untitled"
    return line if len(line) <= 60 else line[:59] + "…"
