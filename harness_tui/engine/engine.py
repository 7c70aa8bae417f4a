"""The Engine facade: the one door the CLI, the headless runner and the TUI use.

Behind it each session is a `SessionBackend` (today the in-process loop,
`engine.loop`) driven through `harness_tui.backends.base`, and an `EngineHost`, the
session's single writer with its policy gate and approval flow. The parts behind the
facade share an `EngineContext`, never the Engine itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev
from harness_tui.backends.base import APPROVAL_DECISIONS, Resolution, SessionBackend
from harness_tui.engine.context import EngineContext
from harness_tui.engine.deltas import Delta
from harness_tui.engine.demo import in_demo_copy, seed_demo_copy
from harness_tui.engine.errors import EngineError, SessionBusy
from harness_tui.engine.host import EngineHost
from harness_tui.engine.loop import SessionLoop
from harness_tui.engine.owner import (
    current_owner,
    engine_closed,
    engine_opened,
    owner_alive,
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
from harness_tui.providers.select import resolve_provider
from harness_tui.sandbox import MODES as SANDBOX_MODES
from harness_tui.store import (
    EventStore,
    SessionCounts,
    SessionSummary,
    StoreError,
    UnknownSessionError,
    open_store,
)

if TYPE_CHECKING:
    from harness_tui.config import Config
    from harness_tui.gc.service import GCService

__all__ = ["Delta", "Engine", "EngineError", "RecoveryFailure", "SessionBusy"]


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
        engine_opened(self.id)

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
                )
            except BaseException:
                await engine.close()  # the store too, whatever else fails
                raise
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
        continuation, whatever the config says then (a subagent gets its parent's)."""
        mode = approval_mode or self.config.policy.approval_mode
        _check_mode(mode)
        sandbox_mode = sandbox_mode or self.config.sandbox.mode
        if sandbox_mode not in SANDBOX_MODES:
            raise EngineError(
                f"sandbox mode {sandbox_mode!r}: expected one of {', '.join(SANDBOX_MODES)}"
            )
        if sandbox_network is None:
            sandbox_network = self.config.sandbox.network
        resolved = resolve_provider(self.config, provider, model, offline_demo=self.offline_demo)
        resolved.check_cost_budget()
        session_id = uuid.uuid4().hex[:12]
        if resolved.is_demo and not in_demo_copy(workspace):
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
        loop = self._attach(state, resolved.name, resolved.model)
        created: dict[str, Any] = {
            "title": title or _title_from(prompt),
            "project": str(self._ctx.project),
            "workspace": str(Path(workspace).resolve()),
            "provider": resolved.name,
            "model": resolved.model,
            "approval_mode": mode,
            "sandbox": {"mode": sandbox_mode, "network": sandbox_network},
        }
        if resolved.note:
            created["note"] = resolved.note
        if resolved.name == "scripted" and in_demo_copy(workspace):
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
        host = loop.host
        try:
            await host.emit(ev.SESSION_CREATED, created)
        except BaseException:
            if ticket is not None:
                self._worktrees.release(session_id)
            raise
        if ticket is None:
            await host.set_status("idle")
        else:
            loop.worktree = self._worktrees.attach(host, ticket)
            if ticket.granted:
                await host.set_status("running")  # it holds a slot; its worktree is next
            else:
                await host.emit(
                    ev.SESSION_STATUS, {"status": "queued", "position": ticket.position}
                )
        accepted = loop.submit(prompt, "prompt")
        if ticket is None:
            # Its first turn claims the session at once (a worktree session's claim
            # waits for its slot): whoever continued it first gets it (SessionBusy).
            await accepted
        return session_id

    async def send(self, session_id: str, text: str, mode: str = "follow_up") -> None:
        """Steer the running turn (mode="steer"), queue a follow-up for when it ends
        ("follow_up"), or start a turn on an idle session (either, or "prompt").

        Returns once the input is accepted: this engine runs the session, or has just
        claimed it. Raises SessionBusy, with nothing written, when another process runs
        the session (or claimed it first)."""
        backend = await self._backend(session_id)
        state = self._hosts[session_id].state
        resolve_provider(self.config, state.provider, state.model).check_cost_budget()
        worktree = self._worktrees.lifecycle(session_id)
        if worktree is not None:
            try:
                worktree.check_input()
            except WorktreeRefused as exc:
                raise EngineError(str(exc)) from exc
        await backend.submit(text, mode)

    async def cancel(self, session_id: str) -> None:
        """Stop the session's turn, its background tasks and its subagents. Idempotent.
        A queued worktree session leaves the queue; a running one has its partial work
        committed (WIP) on its branch, and its worktree removed."""
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
    ) -> None:
        """Answer a pending approval: allow_once, allow_always, deny or edit (with
        `edited_args`). Works for a session another process left waiting, too: this
        engine then carries the turn on."""
        if decision not in APPROVAL_DECISIONS:
            raise EngineError(
                f"decision {decision!r}: expected one of {', '.join(APPROVAL_DECISIONS)}"
            )
        if decision == "edit" and not isinstance(edited_args, dict):
            raise EngineError("decision edit needs edited_args, the call's new arguments")
        answer = Resolution(decision, by=by, reason=reason, edited_args=edited_args)
        session_id = await self._session_of_approval(approval_id)
        backend = self._backends.get(session_id)
        if backend is not None and backend.busy:
            # This engine runs the turn that asked: the answer is its to take, whatever
            # the log's owner record says.
            try:
                self._hosts[session_id].approvals.answer(approval_id, answer)
            except ValueError as exc:
                raise EngineError(str(exc)) from exc
            return
        state = await self.load_state(session_id)
        if state.turn_active and owner_alive(state.turn_owner):
            raise EngineError(
                f"approval {approval_id} belongs to a session running in another "
                "process; answer it there"
            )
        # Left waiting by a process that is gone: this engine carries the turn on,
        # unless another process took the session over first (SessionBusy).
        if backend is None:
            backend = self._attach(state)
        elif session_id in self._unprovided:
            self._provide(self._unprovided[session_id])
        self._hosts[session_id].approvals.answer(approval_id, answer)
        await backend.resume()

    async def _session_of_approval(self, approval_id: str) -> str:
        """The session a pending approval belongs to. The sessions this engine runs are
        asked first, once each has folded in what it already handed to the store: the
        request may be committed, and shown to whoever answers, before its writer has
        applied it."""
        for host in list(self._hosts.values()):
            await host.settled()
        for session_id, host in self._hosts.items():
            if approval_id in host.state.approvals:
                return session_id
        for state, approval in await self.pending_approvals():
            if approval.approval_id == approval_id:
                return state.session_id
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

    async def set_approval_mode(self, session_id: str, mode: str) -> None:
        """Switch a session's approval mode; it applies from the next tool call."""
        _check_mode(mode)
        await self._backend(session_id)
        # Not while another process runs the session: its turn goes on in the mode it
        # has (SessionBusy).
        change = [(ev.SESSION_APPROVAL_MODE, {"approval_mode": mode})]
        await self._hosts[session_id].claim(lambda state: change)

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
        host = self._hosts.get(session_id)
        if host is not None:
            return host.state
        events = await self.store.read(session_id)
        if not events:
            raise EngineError(f"no session {session_id!r} in {self.store.url}")
        return SessionState.from_events(session_id, events)

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
        return not any(owner_alive(owner) for owner in owners)

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
    ) -> SessionLoop:
        """The session's in-process backend, with the provider and model given, else those
        its log names."""
        loop = self._attach_unprovided(state)
        self._provide(loop, provider_name, model)
        return loop

    def _attach_unprovided(self, state: SessionState) -> SessionLoop:
        """The session's backend without its provider yet: enough to record what a dead
        process left, whatever keys this process has. `_provide` before it runs a turn."""
        host = EngineHost(self._ctx, state)
        loop = SessionLoop(self._ctx, host, None, self._tasks, self._worktrees.attach(host))
        self._hosts[state.session_id] = host
        self._backends[state.session_id] = loop
        self._unprovided[state.session_id] = loop
        return loop

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


def _check_mode(mode: str) -> None:
    if mode not in APPROVAL_MODES:
        raise EngineError(f"approval mode {mode!r}: expected one of {', '.join(APPROVAL_MODES)}")


def _title_from(prompt: str) -> str:
    line = prompt.strip().splitlines()[0] if prompt.strip() else "untitled"
    return line if len(line) <= 60 else line[:59] + "…"
