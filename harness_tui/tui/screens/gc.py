"""GC in the dashboard: the project grade, the signals GC finds in the log, and its
drafts, adopted or rejected with a key; `R` runs GC now.

Everything shown comes from `engine.gc.status()`, read in a worker when the screen
opens, after each action and whenever GC's log changes (another process's `gc adopt`,
or the run the engine starts by itself after a session ends). Adopting, rejecting and
running are app workers: closing the screen halfway must not cut an adoption between
writing the file and recording it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Label, Static
from textual.worker import Worker, WorkerState

from harness_tui.engine.engine import EngineError
from harness_tui.gc.drafts import Draft, DraftError
from harness_tui.gc.service import GCService, Status, is_system_session
from harness_tui.tui import keys
from harness_tui.tui.format import ellipsize
from harness_tui.tui.model import Changes
from harness_tui.tui.screens.confirm import ConfirmScreen
from harness_tui.tui.widgets.footer import KeyFooter
from harness_tui.tui.widgets.gc import (
    DraftDetails,
    DraftsTable,
    GradePanel,
    SignalsTable,
    grade_scale,
)

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp


class RejectDraftScreen(ModalScreen[str | None]):
    """Why a draft is rejected. GC records the reason, and the next draft for the same
    signal is told what was wrong with this one, so an empty one is not taken."""

    BINDINGS = [*keys.REJECT_REASON]

    def __init__(self, draft: Draft) -> None:
        super().__init__()
        self.draft = draft

    def compose(self) -> ComposeResult:
        with Vertical(id="reject-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Reject {self.draft.draft_id}"
            yield Static(
                f"{self.draft.kind} → {self.draft.target}: {self.draft.title}", id="reject-what"
            )
            yield Input(placeholder="Why not? · Enter rejects · Esc goes back", id="reject-reason")
            yield Label("", id="reject-error")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#reject-reason", Input).focus()

    @on(Input.Submitted, "#reject-reason")
    def action_confirm(self) -> None:
        reason = self.query_one("#reject-reason", Input).value.strip()
        if not reason:
            self.query_one("#reject-error", Label).update(
                "Say why: the next draft for this signal is told what was wrong with this one."
            )
            return
        self.dismiss(reason)

    def action_close(self) -> None:
        self.dismiss(None)


class GCScreen(Screen[None]):
    BINDINGS = [*keys.GC]
    app: HarnessApp

    def __init__(self) -> None:
        super().__init__(id="gc")
        self.status: Status | None = None
        # What the screen is waiting for, shown in its title: reading, running GC.
        self._busy: set[str] = set()

    def compose(self) -> ComposeResult:
        clock = self.app.clock
        yield Static("", id="gc-title")
        grade = GradePanel(clock, id="gc-grade")
        grade.border_title = "Project"
        grade.border_subtitle = grade_scale()
        yield grade
        signals = SignalsTable(id="gc-signals")
        signals.border_title = "Signals"
        yield signals
        with Horizontal(id="gc-lower"):
            drafts = DraftsTable(id="gc-drafts")
            drafts.border_title = "Drafts · newest first"
            yield drafts
            with VerticalScroll(id="gc-preview") as preview:
                preview.border_title = "Draft"
                yield DraftDetails(clock, id="gc-draft")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DraftsTable).focus()
        self._title()
        self.reload()

    # -- reading -------------------------------------------------------------------

    def _gc(self) -> GCService:
        engine = self.app.engine
        if engine is None:
            raise EngineError("the store is still opening")
        return engine.gc

    @work(
        exclusive=True,
        group="gc-status",
        exit_on_error=False,
        name="read GC status",
        description="Signals, drafts and grades from the store",
    )
    async def reload(self) -> None:
        self._set_busy("reading the log", True)
        try:
            # The app's clock decides which drafts have expired, so a fixed clock gives
            # a fixed picture.
            status = await self._gc().status(now=self.app.clock.now())
        finally:
            self._set_busy("reading the log", False)
        self._show(status)

    def _show(self, status: Status) -> None:
        self.status = status
        self.query_one(GradePanel).show(status.project_grade, status.last_run, status.drafts)
        signals = self.query_one(SignalsTable)
        signals.show(status.signals, status.drafts)
        signals.border_title = f"Signals · {len(status.signals)}"
        drafts = self.query_one(DraftsTable)
        chosen = drafts.current_key
        drafts.show(status.drafts)
        pending = status.drafts.listed("pending")
        if chosen is None and pending:
            # Nothing chosen yet: start where a decision is wanted, the newest pending.
            drafts.select(pending[-1].draft_id)
        total = len(status.drafts.drafts)
        drafts.border_title = f"Drafts · {len(pending)} pending of {total} · newest first"
        self._preview()

    def model_changed(self, changes: Changes) -> None:
        if any(is_system_session(session_id) for session_id in changes.sessions):
            self.reload()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        # Worker messages do not bubble: the screen's own workers report here.
        if event.state == WorkerState.ERROR:
            worker = event.worker
            self.notify(f"{worker.name}: {worker.error}", title="GC", severity="error")

    def _set_busy(self, what: str, busy: bool) -> None:
        if busy:
            self._busy.add(what)
        else:
            self._busy.discard(what)
        if self.is_mounted:
            self._title()

    def _title(self) -> None:
        text = f"GC · {self.app.project_label} · signals, drafts and the project grade"
        if self._busy:
            text += " · " + ", ".join(sorted(self._busy)) + "…"
        self.query_one("#gc-title", Static).update(text)

    # -- the draft under the cursor ------------------------------------------------

    @on(DataTable.RowHighlighted, "#gc-drafts")
    def _preview(self) -> None:
        draft = self.query_one(DraftsTable).selected_draft
        status = self.status.drafts.status(draft) if self.status and draft else ""
        details = self.query_one(DraftDetails)
        details.show(draft, status)
        preview = self.query_one("#gc-preview", VerticalScroll)
        preview.border_title = f"Draft {draft.draft_id} · {status}" if draft else "Draft"
        preview.scroll_home(animate=False)

    @on(DataTable.RowSelected, "#gc-signals")
    def _signal_chosen(self) -> None:
        """Enter on a signal shows the draft GC made of it."""
        signals = self.query_one(SignalsTable)
        signal = signals.selected_signal
        draft = signals.latest_draft(signal.id) if signal else None
        if draft is None:
            self.notify("GC has not drafted anything for this signal.")
            return
        drafts = self.query_one(DraftsTable)
        drafts.select(draft.draft_id)
        drafts.focus()

    def _selected(self) -> Draft | None:
        draft = self.query_one(DraftsTable).selected_draft
        if draft is None:
            self.notify("No draft selected: R runs GC, which drafts a fix for each new signal.")
        return draft

    # -- actions -------------------------------------------------------------------

    def action_adopt(self) -> None:
        draft = self._selected()
        if draft is not None:
            self._act(self._adopt(draft), "adopt draft")

    def action_reject(self) -> None:
        draft = self._selected()
        if draft is None:
            return
        status = self.status.drafts.status(draft) if self.status else "pending"
        if status != "pending":
            # Asking for a reason first would be in vain.
            self.notify(
                f"Draft {draft.draft_id} is {status}: only a pending draft can be rejected.",
                title="Draft not rejected",
                severity="error",
            )
            return

        def chosen(reason: str | None) -> None:
            if reason:
                self._act(self._reject(draft, reason), "reject draft")

        self.app.push_screen(RejectDraftScreen(draft), chosen)

    def action_run_gc(self) -> None:
        running = [w for w in self.app.workers if w.group == "gc-run" and w.is_running]
        if running:
            self.notify("GC is running already.")
            return
        self._set_busy("running GC", True)
        self.app.run_worker(
            self._run(),
            name="run GC",
            group="gc-run",
            exit_on_error=False,
            description="Find signals, draft fixes and prune old sessions",
        )

    def action_close(self) -> None:
        self.dismiss(None)

    def _act(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self.app.run_worker(work, name=name, group="gc-actions", exit_on_error=False)

    def _done(self) -> None:
        """After an action: read everything again, if the screen is still open."""
        if self.is_attached:
            self.reload()

    async def _adopt(self, draft: Draft) -> None:
        try:
            data = await self._gc().adopt(draft.draft_id)
        except DraftError as exc:
            self.app.notify(str(exc), title="Draft not adopted", severity="error", timeout=10)
        else:
            self.app.notify(
                f"Adopted {data['draft_id']}: {data['kind']} written to {data['target']}"
            )
        self._done()

    async def _reject(self, draft: Draft, reason: str) -> None:
        try:
            await self._gc().reject(draft.draft_id, reason)
        except DraftError as exc:
            self.app.notify(str(exc), title="Draft not rejected", severity="error", timeout=10)
        else:
            self.app.notify(f"Rejected {draft.draft_id}: {ellipsize(reason, 60)}")
        self._done()

    async def _run(self) -> None:
        try:
            gc = self._gc()
            # Pruning deletes sessions for good: a dry run says whether any would go.
            preview = await gc.run(dry_run=True)
            if preview.pruned:
                days = self.app.config.gc.retention_days
                count = len(preview.pruned)
                noun = "session" if count == 1 else "sessions"
                go = await self.app.push_screen_wait(
                    ConfirmScreen(
                        "Run GC and prune?",
                        f"GC would delete {count} {noun} untouched for {days} days, with "
                        f"their events and artifacts ([gc] retention_days). Go ahead?",
                    )
                )
                if not go:
                    self.app.notify("GC not run: nothing was drafted or pruned.")
                    return
            report = await gc.run()
        finally:
            self._set_busy("running GC", False)
        parts = [
            f"{len(report.signals)} signals",
            f"{len(report.drafted)} drafted",
            f"{len(report.skipped)} without a draft",
            f"{len(report.pruned)} sessions pruned",
        ]
        self.app.notify(" · ".join(parts), title="GC ran")
        self._done()
