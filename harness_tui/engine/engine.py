"""The Engine facade: the one door the CLI, the headless runner and the TUI use."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev
from harness_tui.engine.gate import PolicyGate, Verdict, approved_rule
from harness_tui.engine.owner import current_owner, engine_closed, engine_opened, owner_alive
from harness_tui.engine.prompts import build_system_prompt
from harness_tui.engine.runner import APPROVAL_DECISIONS, Resolution, SessionRunner
from harness_tui.engine.session import PendingApproval, SessionState
from harness_tui.engine.tasks import TaskManager, kill_orphaned_group
from harness_tui.engine.worktree_sessions import WorktreeRecord, WorktreeRefused, WorktreeSessions
from harness_tui.events import Event
from harness_tui.paths import artifacts_dir
from harness_tui.policy.env import scrub_env
from harness_tui.policy.evaluate import MODES as APPROVAL_MODES
from harness_tui.policy.redact import Redactor
from harness_tui.policy.rules import project_rules_path
from harness_tui.providers.base import Provider, ToolSpec
from harness_tui.providers.select import resolve_provider
from harness_tui.store import EventStore, SessionSummary, open_store
from harness_tui.tools.base import ToolLimits
from harness_tui.tools.registry import builtin_tools

if TYPE_CHECKING:
    from harness_tui.config import Config
    from harness_tui.gc.service import GCService


class EngineError(Exception):
    """A request the engine cannot carry out; the message says why."""


@dataclass(frozen=True, slots=True)
class Delta:
    """Live output that is shown but not persisted as is: model text as it streams,
    subprocess bytes as they arrive. The log keeps the coalesced form."""

    session_id: str
    stream: str  # "text" for model text, "stdout"/"stderr" for tool output
    text: str
    call_id: str | None = None


class Engine:
    def __init__(self, config: Config, store: EventStore) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.config = config
        self.store = store
        self.project = config.project
        self.artifacts_root = artifacts_dir(self.project)
        self.tools = builtin_tools()
        self.tool_limits = ToolLimits(
            bash_timeout_s=config.tools.bash_timeout_s,
            output_limit_bytes=config.tools.output_limit_bytes,
            max_read_lines=config.tools.max_read_lines,
        )
        self._runners: dict[str, SessionRunner] = {}
        self.tasks = TaskManager(self)
        # GC after each session that ends; off for one-shot runs (--exec), whose
        # process would exit in the middle of it.
        self.auto_gc = True
        self._providers: dict[tuple[str, str], Provider] = {}
        self._delta_queues: set[asyncio.Queue[Delta]] = set()
        self._env = scrub_env(os.environ, allow=config.policy.allow_env)
        # Loads the rules now, so a broken policy file stops start-up with its name.
        self.gate = PolicyGate(self.project)
        self.redactor = Redactor(os.environ)
        # One scheduler for every worktree session this engine runs.
        self.worktrees = WorktreeSessions(self)
        engine_opened(self.id)

    @classmethod
    async def open(cls, config: Config, *, recover: bool = True) -> Engine:
        """Open the store and, unless `recover` is false (read-only faces such as
        `tail`), close turns whose process died mid-way."""
        store = await open_store(config.store_url)
        try:
            engine = cls(config, store)
        except BaseException:
            await store.close()
            raise
        if recover:
            await engine._recover()
        return engine

    async def close(self) -> None:
        """Cancel running turns; a turn waiting for an approval is left waiting, so
        the request can still be answered after this process is gone. Background
        tasks are stopped and their ends recorded: nothing outlives the engine."""
        # Sessions cancelled below end, and an ending session would start a GC pass
        # against a store about to close.
        self.auto_gc = False
        await self.tasks.close()
        for runner in list(self._runners.values()):
            if runner.waiting_for_approval:
                await runner.detach()
            else:
                await runner.cancel()
        # Worktree sessions cut short are committed and cleaned up; paused ones stay.
        await self.worktrees.close()
        if "gc" in self.__dict__:
            await self.gc.close()
        for provider in self._providers.values():
            await provider.aclose()
        await self.store.close()
        engine_closed(self.id)

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
    ) -> str:
        """Create a session and start its first turn; returns the session id.

        `worktree`: run it in a git worktree of its own, on branch
        `<branch_prefix><session id>` (None: the project's [git] worktree; never for a
        subagent or a given workspace). A worktree session waits, queued, while the
        concurrency limits are reached; `priority` orders the queue (default: the
        project's). Raises EngineError when the queue is full or the project is not a
        git repository."""
        mode = approval_mode or self.config.policy.approval_mode
        _check_mode(mode)
        resolved = resolve_provider(self.config, provider, model)
        session_id = uuid.uuid4().hex[:12]
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
                plan = await self.worktrees.plan(session_id, priority)
                ticket = self.worktrees.submit(session_id, priority)
            except WorktreeRefused as exc:
                raise EngineError(str(exc)) from exc
            workspace = plan["path"]
        elif workspace is None:
            workspace = resolved.prepare_workspace(self.project, session_id)
        state = SessionState(session_id)
        runner = self._attach(state, resolved.name, resolved.model)
        created: dict[str, Any] = {
            "title": title or _title_from(prompt),
            "project": str(self.project),
            "workspace": str(Path(workspace).resolve()),
            "provider": resolved.name,
            "model": resolved.model,
            "approval_mode": mode,
        }
        if resolved.note:
            created["note"] = resolved.note
        if parent_id:
            created["parent_id"] = parent_id
            parent = self._runners.get(parent_id)
            created["depth"] = (parent.state.depth if parent else 0) + 1
        if preset:
            created["preset"] = preset
        if plan is not None:
            created["worktree"] = plan
            created["owner"] = current_owner(self.id)
        try:
            await runner.emit(ev.SESSION_CREATED, created)
        except BaseException:
            if ticket is not None:
                self.worktrees.release(session_id)
            raise
        if ticket is None:
            await runner.set_status("idle")
        else:
            runner.worktree = self.worktrees.attach(runner, ticket)
            if ticket.granted:
                await runner.set_status("running")  # it holds a slot; its worktree is next
            else:
                await runner.emit(
                    ev.SESSION_STATUS, {"status": "queued", "position": ticket.position}
                )
        runner.submit(prompt, "prompt")
        return session_id

    async def send(self, session_id: str, text: str, mode: str = "follow_up") -> None:
        """Steer the running turn (mode="steer"), queue a follow-up for when it ends
        ("follow_up"), or start a turn on an idle session (either, or "prompt")."""
        runner = self._runners.get(session_id) or await self._adopt(session_id)
        if runner.worktree is not None:
            try:
                runner.worktree.check_input()
            except WorktreeRefused as exc:
                raise EngineError(str(exc)) from exc
        runner.submit(text, mode)

    async def cancel(self, session_id: str) -> None:
        """Stop the session's turn, its background tasks and its subagents. Idempotent.
        A queued worktree session leaves the queue; a running one has its partial work
        committed (WIP) on its branch, and its worktree removed."""
        runner = self._runners.get(session_id)
        if runner is not None:
            await runner.cancel()
        await self.tasks.cancel_session(session_id)
        if runner is not None:
            if runner.worktree is not None:
                await runner.worktree.cancelled()
            await runner.settle()

    async def wait(self, session_id: str) -> SessionState:
        """Until the session has no turn running or queued in this engine and none of
        its background tasks or subagents is still running (each that ends wakes the
        agent, whose new turn is waited for too)."""
        runner = self._runners.get(session_id)
        if runner is None:
            return await self.load_state(session_id)
        while True:
            await runner.wait()
            running = self.tasks.running_for(session_id)
            if not running:
                if runner.busy:
                    continue
                return runner.state
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
        for runner in self._runners.values():
            if approval_id in runner.state.approvals:
                if not runner.busy:
                    runner.resume(approval_id, answer)  # left waiting by a dead process
                    return
                try:
                    runner.answer(approval_id, answer)
                except ValueError as exc:
                    raise EngineError(str(exc)) from exc
                return
        for state, approval in await self.pending_approvals():
            if approval.approval_id == approval_id:
                if state.turn_active and owner_alive(state.turn_owner):
                    raise EngineError(
                        f"approval {approval_id} belongs to a session running in another "
                        "process; answer it there"
                    )
                runner = self._attach(state, state.provider, state.model)
                runner.resume(approval_id, answer)
                return
        raise EngineError(f"no pending approval {approval_id!r}")

    async def pending_approvals(self) -> list[tuple[SessionState, PendingApproval]]:
        """Every approval waiting for an answer, across sessions, oldest first."""
        pending: list[tuple[SessionState, PendingApproval]] = []
        local = {sid: runner.state for sid, runner in self._runners.items()}
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
        runner = self._runners.get(session_id) or await self._adopt(session_id)
        await runner.emit(ev.SESSION_APPROVAL_MODE, {"approval_mode": mode})

    async def compact(self, session_id: str) -> bool:
        """Compact a session's conversation now (`/compact`), or before the running
        turn's next request. True when it was compacted or will be."""
        runner = self._runners.get(session_id) or await self._adopt(session_id)
        return await runner.compact_now()

    def state(self, session_id: str) -> SessionState:
        """The live projection of a session this engine runs or has loaded."""
        runner = self._runners.get(session_id)
        if runner is None:
            raise EngineError(f"session {session_id!r} is not loaded; use load_state()")
        return runner.state

    async def load_state(self, session_id: str) -> SessionState:
        runner = self._runners.get(session_id)
        if runner is not None:
            return runner.state
        events = await self.store.read(session_id)
        if not events:
            raise EngineError(f"no session {session_id!r} in {self.store.url}")
        return SessionState.from_events(session_id, events)

    async def sessions(self, limit: int | None = None) -> list[SessionSummary]:
        return await self.store.sessions(limit)

    async def history(self, session_id: str, after_seq: int = 0) -> list[Event]:
        """A session's events after `after_seq`, oldest first."""
        return await self.store.read(session_id, after_seq)

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
        return await self.worktrees.records()

    async def prune_worktrees(self) -> list[WorktreeRecord]:
        """Remove worktrees whose session ended or is not in the log (their uncommitted
        work committed on their branch first), then let git forget worktrees whose
        folders are gone. Returns what was removed."""
        return await self.worktrees.prune()

    def subscribe(self, after_position: int = 0) -> AsyncIterator[Event]:
        """Every event in the store after `after_position`, then live ones, including
        those written by other processes."""
        return self.store.subscribe(after_position)

    async def deltas(self) -> AsyncIterator[Delta]:
        """Live, unpersisted output of this engine's sessions. A slow reader loses the
        oldest deltas rather than slowing the sessions down; the log has the rest."""
        queue: asyncio.Queue[Delta] = asyncio.Queue(maxsize=10_000)
        self._delta_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._delta_queues.discard(queue)

    # -- used by the session runners -----------------------------------------------

    def on_event(self, event: Event) -> None:
        """Called for every event a runner of this engine appended."""
        if (
            self.auto_gc
            and event.type == ev.SESSION_STATUS
            and event.data["status"] in ev.TERMINAL_STATUSES
        ):
            runner = self._runners.get(event.session_id)
            if runner is not None and runner.state.parent_id is None:
                self.gc.session_ended()

    def publish_delta(
        self, session_id: str, stream: str, text: str, *, call_id: str | None = None
    ) -> None:
        if not self._delta_queues:
            return
        delta = Delta(session_id, stream, text, call_id)
        for queue in self._delta_queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(delta)

    @cached_property
    def gc(self) -> GCService:
        """Signals, drafts, grades, retention and code rules (loaded when first used)."""
        from harness_tui.gc.service import GCService

        return GCService(self)

    def judge(self, state: SessionState, tool: str, args: dict[str, Any]) -> Verdict:
        mode = state.approval_mode or self.config.policy.approval_mode
        return self.gate.judge(tool, args, self.workspace_path(state), mode)

    def allow_always(self, approval: PendingApproval) -> None:
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

        update_toml(project_rules_path(self.project), add_rules)
        self.gate.reload()

    def system_prompt(self, state: SessionState) -> str:
        return build_system_prompt(state, self.tools, extra=self.config.engine.system_prompt)

    def tool_specs(self, state: SessionState) -> tuple[ToolSpec, ...]:
        """All tools, or a subagent preset's; spawn_subagent only above the depth limit."""
        names = list(self.tools)
        preset = self.config.presets.get(state.preset or "")
        if preset is not None:
            names = [n for n in preset.tools if n in self.tools] if preset.tools else names
        if (
            state.depth >= self.config.subagents.max_depth
            or preset is not None
            and not preset.tools
        ):
            names = [n for n in names if n != "spawn_subagent"]
        return tuple(self.tools[name].spec for name in names)

    def max_steps(self, state: SessionState) -> int:
        preset = self.config.presets.get(state.preset or "")
        return preset.max_steps if preset is not None else self.config.engine.max_steps

    def workspace_path(self, state: SessionState) -> Path:
        return Path(state.workspace or self.project)

    def tool_env(self) -> dict[str, str]:
        return dict(self._env)

    # -- internals -----------------------------------------------------------------

    def _attach(self, state: SessionState, provider_name: str, model: str) -> SessionRunner:
        key = (provider_name, model)
        provider = self._providers.get(key)
        if provider is None:
            provider = resolve_provider(self.config, provider_name, model).build()
            self._providers[key] = provider
        runner = SessionRunner(self, state, provider)
        runner.worktree = self.worktrees.attach(runner)
        self._runners[state.session_id] = runner
        return runner

    async def _adopt(self, session_id: str) -> SessionRunner:
        """Take over a session from the log, e.g. `--exec --session ID`."""
        state = await self.load_state(session_id)
        if state.turn_active:
            if owner_alive(state.turn_owner):
                owner = state.turn_owner or {}
                raise EngineError(
                    f"session {session_id} is running in process {owner.get('pid')} "
                    f"on {owner.get('host')}"
                )
            runner = self._attach(state, state.provider, state.model)
            await runner.close_interrupted()
            return runner
        return self._attach(state, state.provider, state.model)

    async def _recover(self) -> None:
        """Clean up after processes that died: their background tasks are recorded as
        cancelled (process_exited) and whatever they left running is stopped; a turn
        they left open is closed, each unfinished tool call recorded as interrupted.
        A turn waiting for an approval stays open: it can still be answered. A worktree
        session they left (queued, running, or half-way through its end) is failed
        with the reason, its work committed on its branch and its worktree removed."""
        summaries = await self.store.sessions()
        candidates = [
            s.session_id for s in summaries if s.status in ("running", "waiting", "queued")
        ]
        # A worktree folder left behind points at its session whatever its status says.
        leftovers = self.worktrees.leftover_session_ids() - set(candidates)
        candidates += [s.session_id for s in summaries if s.session_id in leftovers]
        for session_id in candidates:
            state = await self.load_state(session_id)
            orphans = [task for task in state.running_tasks if not owner_alive(task.owner)]
            turn_orphaned = state.turn_active and not owner_alive(state.turn_owner)
            # A turn waiting for an approval stays open: it can still be answered.
            close_turn = turn_orphaned and not state.approvals
            stranded = self.worktrees.stranded(state)
            if not orphans and not close_turn and not stranded:
                continue
            runner = self._attach(state, state.provider, state.model)
            for task in orphans:
                kill_orphaned_group(task.started)
                await runner.emit(
                    ev.TASK_CANCELLED,
                    {
                        "task_id": task.task_id,
                        "reason": "process_exited",
                        "summary": "the process running it exited",
                    },
                )
            if close_turn:
                await runner.close_interrupted()
            elif not state.turn_active:
                await runner.settle()
            if stranded and runner.worktree is not None:
                await runner.worktree.recover()


def _check_mode(mode: str) -> None:
    if mode not in APPROVAL_MODES:
        raise EngineError(f"approval mode {mode!r}: expected one of {', '.join(APPROVAL_MODES)}")


def _title_from(prompt: str) -> str:
    line = prompt.strip().splitlines()[0] if prompt.strip() else "untitled"
    return line if len(line) <= 60 else line[:59] + "…"
