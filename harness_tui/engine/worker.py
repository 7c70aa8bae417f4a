"""A worker (`harness-tui worker`): runs submitted sessions from the store's queue until
it is stopped.

It claims a queued session when it has room (`max_sessions`), in one transaction of
the store that also counts the limits every worker shares ([concurrency] fleet_sessions,
fleet_per_project, [[projects]] max_fleet) and takes the session's lease; the claim
adopts an orphan first, a session whose worker died (its lease ran out) or handed it
back (its lease given up). The session runs in an engine opened for its project, which
keeps the lease from the claim to the session's end, then the queue marks it done.

Every third of a lease ([control] lease_s) it also adopts the orphans that commands
wait for (`Engine.adopt_orphans`): a session run outside the queue whose engine died
is carried on by the next worker once someone answers, steers or cancels it.

Stopping (`stop()`, on SIGTERM): no new claim; every session held is handed back, its
turn left open and its lease given up, so another worker adopts it at once, closes the
turn as interrupted and carries the session on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness_tui import events as ev
from harness_tui.engine.engine import Engine, EngineError, SessionBusy
from harness_tui.engine.owner import machine, process_start_time
from harness_tui.engine.processes import INTERRUPTED
from harness_tui.engine.scheduler import project_key
from harness_tui.engine.session import SessionState
from harness_tui.providers.select import ProviderConfigError
from harness_tui.store import EventStore, LeaseHolder, StoreError, open_store
from harness_tui.store.control import PENDING
from harness_tui.store.queue import Claim, QueuedSession, QueueLimits

if TYPE_CHECKING:
    from harness_tui.config import Config

# How often an idle worker looks for queued sessions and orphans: what a submitted
# session waits for a free worker, at most; an orphan waits for its lease to run out.
QUEUE_POLL_S = 0.2

# What an adopted session is told when its turn was cut short where it ran before.
CARRY_ON = (
    "The worker that ran this session stopped in the middle of your last turn; what it "
    "was running is recorded as interrupted. Carry on with the task."
)


def queue_limits(config: Config) -> QueueLimits:
    """The limits every worker on the store counts against, from its config."""
    return QueueLimits(
        total=config.concurrency.fleet_sessions,
        per_project=config.concurrency.fleet_per_project,
        projects={project_key(p.path): p.max_fleet for p in config.projects if p.max_fleet},
    )


class Worker:
    def __init__(
        self, config: Config, *, max_sessions: int | None = None, say: Callable[[str], None]
    ) -> None:
        self.config = config
        self.max_sessions = max_sessions or config.concurrency.worker_sessions
        self.id = "worker-" + uuid.uuid4().hex[:8]
        pid = os.getpid()
        self.holder = LeaseHolder(
            self.id, config.control.host or machine(), pid, process_start_time(pid)
        )
        self.limits = queue_limits(config)
        self._say = say
        self._store: EventStore | None = None
        self._engines: dict[str, Engine] = {}
        self._opening = asyncio.Lock()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stop = asyncio.Event()
        self._changed = asyncio.Event()

    def say(self, text: str) -> None:
        self._say(f"{self.id}: {text}")

    def stop(self) -> None:
        """Take no more work, and hand back what is held (see the module's doc)."""
        self._stop.set()
        self._changed.set()

    async def run(self) -> None:
        """Claim and run sessions until `stop()`. Raises StoreError when the store
        cannot be used (past its retries)."""
        self._store = await open_store(self.config.store_url, retry_s=self.config.store.retry_s)
        limits = self.limits
        self.say(
            f"taking sessions from {self.config.store_url} (at most {self.max_sessions} "
            f"here; across workers: {limits.total or 'no limit'}, per project: "
            f"{limits.per_project or 'no limit'})"
        )
        adopt_every = self.config.control.lease_s / 3
        next_adoption = time.monotonic() + adopt_every
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_adoption:
                    next_adoption = time.monotonic() + adopt_every
                    await self._adopt_orphans()
                if len(self._running) < self.max_sessions:
                    claim = await self._store.claim_queued(
                        self.holder, self.config.control.lease_s, limits
                    )
                    if claim is not None:
                        self._start(claim)
                        continue
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), QUEUE_POLL_S)
        finally:
            await self._hand_back()

    async def _adopt_orphans(self) -> None:
        """Take over the sessions nobody runs that commands wait for (a run started
        outside the queue whose engine died with an answer on its way): the claim only
        adopts what was submitted. Of two workers doing so at once, the lease lets one
        win. An engine is opened for this only when some command waits."""
        assert self._store is not None
        try:
            if not await self._store.commands(status=PENDING):
                return
            engine = await self._engine_for(project_key(self.config.project))
            adopted = await engine.adopt_orphans()
        except (StoreError, EngineError) as exc:
            self.say(f"could not adopt orphans: {exc}")
            return
        for session_id in adopted:
            self.say(f"took over session {session_id} to apply the commands waiting for it")

    def _start(self, claim: Claim) -> None:
        entry = claim.session
        if claim.adopted:
            self.say(f"adopted session {entry.session_id} (its worker stopped or died)")
        else:
            self.say(
                f"claimed session {entry.session_id} (project {entry.project}, "
                f"priority {entry.priority})"
            )
        task = asyncio.create_task(self._run(claim), name=f"session {entry.session_id}")
        self._running[entry.session_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._running.pop(entry.session_id, None)
            self._changed.set()

        task.add_done_callback(done)

    async def _run(self, claim: Claim) -> None:
        entry = claim.session
        session_id = entry.session_id
        assert self._store is not None
        try:
            engine = await self._engine_for(entry.project)
        except Exception as exc:
            # The project cannot be opened here (a bad config, a missing folder): the
            # session could not run on any worker set up like this one.
            self.say(f"session {session_id} cannot run here: {exc}; it is marked done")
            await self._store.finish_queued(session_id, self.id)
            await self._store.release_lease(claim.lease.fence)
            return
        try:
            await engine.hold_lease(session_id, replacing=claim.lease.token)
        except SessionBusy as exc:
            self.say(f"session {session_id} was taken over meanwhile: {exc}")
            return
        try:
            started = await self._start_or_carry_on(engine, entry)
            state = await self._until_settled(engine, session_id) if started else None
            await self._store.finish_queued(session_id, self.id)
            status = state.status if state is not None else "done already"
            self.say(f"session {session_id} finished: {status}")
        except SessionBusy as exc:
            self.say(f"session {session_id} was taken over by another engine: {exc}")
        except (EngineError, ProviderConfigError) as exc:
            self.say(f"session {session_id} cannot run: {exc}; it is marked done")
            await self._store.finish_queued(session_id, self.id)
        except StoreError as exc:
            # Its lease lost (fenced), or the store gave up: another worker adopts it.
            self.say(f"session {session_id} stopped here: {exc}")
        finally:
            # While stopping, the lease is given up by the hand-back, once the session's
            # work here has stopped: never before, or it would run on unfenced.
            if not self._stop.is_set():
                with contextlib.suppress(StoreError):
                    await engine.let_go(session_id)

    async def _start_or_carry_on(self, engine: Engine, entry: QueuedSession) -> bool:
        """Start the queued session, or carry on one adopted from a worker that stopped
        or died; False when it had run to its end already (its worker died before it
        could say so)."""
        session_id = entry.session_id
        if await engine.store.session(session_id) is None:
            await engine.start_session(
                entry.prompt,
                provider=entry.provider,
                model=entry.model,
                worktree=entry.worktree,
                priority=entry.priority,
                approval_mode=entry.approval_mode,
                sandbox_mode=entry.sandbox_mode,
                session_id=session_id,
            )
            return True
        state = await engine.load_state(session_id)
        if state.turn_active and state.approvals:
            return True  # it waits for an answer, from any face: applied here
        if not state.turn_active:
            completed = [e for e in await engine.history(session_id) if e.type == ev.TURN_COMPLETED]
            if completed and completed[-1].data.get("error") != INTERRUPTED:
                return False
            if not completed:
                # Created, but its first turn never started.
                await engine.send(session_id, entry.prompt, mode="prompt")
                return True
        # Its turn was cut short: closed here as interrupted, then carried on.
        await engine.send(session_id, CARRY_ON, mode="prompt")
        return True

    async def _until_settled(self, engine: Engine, session_id: str) -> SessionState:
        while True:
            state = await engine.wait(session_id)
            if not (state.turn_active and state.approvals):
                return state
            # Left waiting for an approval by the worker before: the answer, from any
            # face, is applied by this engine, which then carries the turn on.
            await asyncio.sleep(QUEUE_POLL_S)

    async def _engine_for(self, project: str) -> Engine:
        async with self._opening:
            engine = self._engines.get(project)
            if engine is None:
                config = self.config
                if project != project_key(config.project):
                    from harness_tui.config import load_config

                    config = load_config(project=project, flags={"store.url": config.store_url})
                engine = await Engine.open(config)
                # A worker's sessions run unattended: no GC pass starts between them.
                engine.auto_gc = False
                self._engines[project] = engine
            return engine

    async def _hand_back(self) -> None:
        held = sorted(self._running)
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        if held:
            self.say(f"handing back {', '.join(held)}")
        for engine in self._engines.values():
            try:
                await engine.hand_back()
            except StoreError:
                pass  # the leases run out by themselves
            finally:
                await engine.close()
        self._engines.clear()
        if self._store is not None:
            await self._store.close()
        self.say("stopped")
