"""GC as the engine runs it: signals from the log, drafts from the provider, retention,
grades and code-rule checks, all recorded in the project's GC log.

The GC log is one system session per project (`gc-<hash>`), so GC history replays
like everything else. Several processes may run GC: appends that race on a seq are
retried against the log as it now is.

GC does not know the engine: it is handed a `GCHost` (the engine's context), and the
engine tells it when a session ended (`session_ended`).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.gc.adoption import adopt_draft
from harness_tui.gc.coderules import RulesReport, check_rules
from harness_tui.gc.drafts import (
    DraftBudget,
    DraftError,
    DraftsState,
    draft_created_data,
    draft_prompt,
    new_draft_id,
    parse_draft_reply,
    plan_drafts,
    reject_draft,
    signal_event_data,
)
from harness_tui.gc.grade import Grade
from harness_tui.gc.history import (
    GCLog,
    SessionsHistory,
    gc_log,
    is_system_session,
    sessions_history,
)
from harness_tui.gc.signals import Signal
from harness_tui.paths import demo_copies_dir
from harness_tui.providers.base import (
    GC_DRAFT_SYSTEM,
    Message,
    ModelRequest,
    ModelResponse,
    ProviderError,
)
from harness_tui.sandbox import Sandbox
from harness_tui.store import DuplicateEventError, EventStore, SessionSummary

if TYPE_CHECKING:
    from harness_tui.config import Config

# Sessions in these states are at work or about to be: retention never touches them.
_LIVE = frozenset({"running", "waiting", "queued"})


def gc_session_id(project: Path) -> str:
    return "gc-" + hashlib.sha1(str(project).encode()).hexdigest()[:10]


@dataclass
class RunReport:
    signals: list[Signal] = field(default_factory=list)
    drafted: list[tuple[Signal, str]] = field(default_factory=list)  # (signal, draft id)
    skipped: list[tuple[Signal, str]] = field(default_factory=list)  # (signal, reason)
    # Session ids: those deleted, or with dry_run those that would be.
    pruned: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class Status:
    signals: list[Signal]
    drafts: DraftsState
    project_grade: Grade | None
    history: SessionsHistory
    last_run: datetime | None

    @property
    def session_grades(self) -> dict[str, Grade]:
        """Each graded session's grade, in the order the sessions began: worked out
        when asked for (one per session in the log; only `--json` shows them)."""
        return self.history.session_grades()


class GCHost(Protocol):
    """What GC needs from the engine that runs it."""

    config: Config
    store: EventStore
    project: Path
    # Where sessions keep their artifacts (one folder per session).
    artifacts_root: Path

    def sandbox(self, mode: str, network: bool, workspace: Path) -> Sandbox:
        """What commands in `workspace` run inside, in sandbox `mode`."""
        ...

    def reload_policy(self) -> None:
        """Read the policy rules again (an adopted draft may have added one)."""
        ...


class GCService:
    def __init__(self, host: GCHost) -> None:
        self.host = host
        self.config = host.config
        self.session_id = gc_session_id(host.project)
        self._auto: asyncio.Task[None] | None = None

    # -- the GC log ----------------------------------------------------------------

    async def _gc_log(self) -> GCLog:
        return await gc_log(self.host.store, self.session_id)

    async def _append(self, type_: str, data: dict[str, Any]) -> None:
        for _ in range(5):
            # The summary's last seq, not the log read: the GC log grows with every run.
            summary = await self.host.store.session(self.session_id)
            last_seq = summary.last_seq if summary is not None else 0
            batch = []
            if last_seq == 0:
                batch.append(
                    Event(
                        self.session_id,
                        1,
                        ev.SESSION_CREATED,
                        {
                            "title": "GC",
                            "project": str(self.host.project),
                            "workspace": str(self.host.project),
                            "provider": "",
                            "model": "",
                            "system": True,
                        },
                    )
                )
            batch.append(Event(self.session_id, last_seq + len(batch) + 1, type_, data))
            try:
                await self.host.store.append(batch)
                return
            except DuplicateEventError:
                continue  # another process wrote to the GC log first: read it again
        raise RuntimeError(f"could not append to the GC log {self.session_id}")

    async def history(self) -> SessionsHistory:
        """Every agent session's signals and grade (the GC log left out), caught up
        from the last checkpoint."""
        return await sessions_history(self.host.store, self.config.gc)

    async def drafts(self, now: datetime | None = None) -> DraftsState:
        return (await self._gc_log()).drafts(
            now=now or datetime.now(UTC), ttl_hours=self.config.gc.draft_ttl_hours
        )

    # -- a run ---------------------------------------------------------------------

    async def run(self, *, dry_run: bool = False, now: datetime | None = None) -> RunReport:
        now = now or datetime.now(UTC)
        cfg = self.config.gc
        report = RunReport(dry_run=dry_run)
        report.signals = (await self.history()).signals()
        state = await self.drafts(now)
        to_draft, report.skipped = plan_drafts(
            report.signals, state, DraftBudget.from_config(cfg), cfg.max_drafts_per_run
        )
        # Retention decides here and the store deletes at the end, after the drafts
        # (seconds, with a real model): the delete carries what this decision saw, so a
        # session continued meanwhile stays.
        prunable = await self._prunable(now)
        report.pruned = [s.session_id for s in prunable]
        if dry_run:
            report.drafted = [(signal, "") for signal in to_draft]
            return report
        for signal in to_draft:
            try:
                proposal = parse_draft_reply(await self._ask_for_draft(signal))
            except (ProviderError, DraftError) as exc:
                report.skipped.append((signal, f"drafting failed: {exc}"))
                continue
            draft_id = new_draft_id()
            await self._append(ev.GC_SIGNAL, signal_event_data(signal, draft_id=draft_id))
            await self._append(ev.GC_DRAFT_CREATED, draft_created_data(draft_id, signal, proposal))
            report.drafted.append((signal, draft_id))
        for signal, reason in report.skipped:
            await self._append(ev.GC_SIGNAL, signal_event_data(signal, skipped=reason))
        report.pruned = await self._prune(prunable)
        await self._append(
            ev.GC_COMPLETED,
            {
                "signals": len(report.signals),
                "drafted": [draft_id for _, draft_id in report.drafted],
                "skipped": len(report.skipped),
                "pruned": report.pruned,
            },
        )
        return report

    async def _event_at(self, position: int) -> Event | None:
        found = await self.host.store.read_all(position - 1, 1)
        return found[0] if found and found[0].position == position else None

    async def _ask_for_draft(self, signal: Signal) -> str:
        from harness_tui.providers.select import resolve_provider

        excerpts = [
            f"{e.type} {e.data}"[:300]
            for position in signal.evidence[:5]
            if (e := await self._event_at(position)) is not None
        ]
        # A draft is only a proposal for a person to adopt or reject: without a key,
        # the offline provider may write it.
        choice = resolve_provider(self.config, offline_demo=True)
        provider = choice.build()
        request = ModelRequest(
            model=choice.model,
            system=GC_DRAFT_SYSTEM,
            messages=(Message(role="user", content=draft_prompt(signal, excerpts)),),
            max_tokens=2000,
        )
        try:
            response: ModelResponse | None = None
            async for item in provider.stream(request):
                if isinstance(item, ModelResponse):
                    response = item
        finally:
            await provider.aclose()
        return response.text if response else ""

    # -- retention -----------------------------------------------------------------

    async def _prunable(self, now: datetime) -> list[SessionSummary]:
        """Sessions last touched before retention_days, none of them live, and no
        subagent whose parent stays."""
        cutoff = now - timedelta(days=self.config.gc.retention_days)
        summaries = [
            s for s in await self.host.store.sessions() if not is_system_session(s.session_id)
        ]
        old = {s.session_id for s in summaries if s.updated_at < cutoff and s.status not in _LIVE}
        kept_parents = {s.session_id for s in summaries} - old
        return [
            s
            for s in summaries
            if s.session_id in old and (s.parent_id is None or s.parent_id not in kept_parents)
        ]

    async def _prune(self, sessions: list[SessionSummary]) -> list[str]:
        """Delete the sessions chosen, each only if it is still as the decision saw it
        (the store checks, inside the delete); returns those deleted. Their artifacts
        and demo copies go with them, and only theirs: a session continued since the
        decision keeps its files."""
        if not sessions:
            return []
        deleted = await self.host.store.delete_sessions(
            {s.session_id: s.last_position for s in sessions}, unless_status=_LIVE
        )
        for session_id in deleted:
            for leftover in (
                self.host.artifacts_root / session_id,
                demo_copies_dir() / session_id,
            ):
                shutil.rmtree(leftover, ignore_errors=True)
        return deleted

    # -- status, adopt, reject -------------------------------------------------------

    async def status(self, now: datetime | None = None) -> Status:
        history = await self.history()
        log = await self._gc_log()
        return Status(
            signals=history.signals(),
            drafts=log.drafts(
                now=now or datetime.now(UTC), ttl_hours=self.config.gc.draft_ttl_hours
            ),
            project_grade=history.project_grade(),
            history=history,
            last_run=log.last_run,
        )

    async def adopt(self, draft_id: str, *, by: str = "user") -> dict[str, Any]:
        data = adopt_draft(self.host.project, await self.drafts(), draft_id, by=by)
        await self._append(ev.GC_DRAFT_ADOPTED, data)
        # An adopted policy rule applies from the next decision on.
        self.host.reload_policy()
        return data

    async def reject(self, draft_id: str, reason: str, *, by: str = "user") -> dict[str, Any]:
        data = reject_draft(await self.drafts(), draft_id, reason, by=by)
        await self._append(ev.GC_DRAFT_REJECTED, data)
        return data

    # -- code rules ----------------------------------------------------------------

    async def check_rules(
        self, workdir: Path | None = None, *, sandbox: Sandbox | None = None
    ) -> RulesReport:
        """Run the project's guards, in `workdir` if given (a session's workspace),
        inside `sandbox` (a session's; default: the configured one for the folder)."""
        if sandbox is None:
            settings = self.config.sandbox
            sandbox = self.host.sandbox(
                settings.mode, settings.network, workdir or self.host.project
            )
        report = await asyncio.to_thread(
            check_rules, self.host.project, env=sandbox.env, workdir=workdir, sandbox=sandbox
        )
        await self._append(ev.RULES_CHECKED, report.to_dict())
        return report

    # -- after a session ends ------------------------------------------------------

    def session_ended(self) -> None:
        """Run GC in the background after a session ends, at most once a cooldown."""
        if not self.config.gc.auto or (self._auto is not None and not self._auto.done()):
            return
        self._auto = asyncio.create_task(self._run_if_cooled_down(), name="gc after session")

    async def _run_if_cooled_down(self) -> None:
        last_run = (await self._gc_log()).last_run
        if last_run and datetime.now(UTC) - last_run < timedelta(seconds=self.config.gc.cooldown_s):
            # No run yet, but the signals and grades catch up with what this session
            # added: the checkpoint stays close to the log, so `gc status` and the
            # next run fold only a little.
            await self.history()
            return
        await self.run()

    async def close(self) -> None:
        if self._auto is not None and not self._auto.done():
            self._auto.cancel()
            await asyncio.gather(self._auto, return_exceptions=True)
