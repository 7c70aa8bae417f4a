"""The dashboard as one engine among many on a shared store: who runs each session
(read on the dashboard's tick), the sessions queued for workers, what came of a command
sent to a session another engine runs, and the orphans this dashboard adopts.

Every store read here runs in an exclusive worker: a slow store (PostgreSQL across a
network) never holds a frame up, and a tick that comes while the last read is still
out is skipped rather than queued.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness_tui.engine.commands import CommandOutcome
from harness_tui.store import StoreError
from harness_tui.tui.format import ellipsize

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp


def outcome_notice(outcome: CommandOutcome, what: str) -> tuple[str, str] | None:
    """What a person is told of a command sent through the store: (message, severity);
    None when this dashboard applied it itself (what changed is on screen)."""
    if outcome.command_id is None:
        return None
    if outcome.applied:
        by = f" by {outcome.settled_by}" if outcome.settled_by else ""
        return f"{what}: applied{by}.", "information"
    return (
        f"{what}: not applied yet. No engine runs the session now, or the one that runs "
        "it has not got to it: the command stays queued and is applied by whoever runs "
        "the session next.",
        "warning",
    )


class Fleet:
    def __init__(self, app: HarnessApp) -> None:
        self.app = app
        self._reading = False
        self._adopting = False

    async def start(self) -> None:
        """The engine is open: read who runs what (before the dashboard says it is
        ready, so its first full picture has every runner), then adopt orphans every
        third of a lease (an orphan's lease has run out by then at the latest)."""
        engine = self.app.opened_engine()
        runners = self.app.model.runners
        runners.engine_id = engine.id
        runners.host = engine.host
        self._reading = True
        await self._read()
        self.app.set_interval(self.app.config.control.lease_s / 3, self.adopt, name="adopt orphans")

    # -- runners -------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the leases and the queue again (one query each), unless a read is out."""
        if self._reading or self.app.engine is None:
            return
        self._reading = True
        self.app.run_worker(
            self._read(),
            name="read runners",
            group="fleet",
            exit_on_error=False,
            description="Read who runs each session from the store",
        )

    async def _read(self) -> None:
        engine = self.app.opened_engine()
        try:
            leases = await engine.leases()
            queue = await engine.queue()
        except StoreError:
            return  # the store is away: the header says so; read again next tick
        finally:
            self._reading = False
        model = self.app.model
        listed = model.queued(queue)
        changed = model.runners.update(leases, queue)
        dashboard = self.app.dashboard
        if listed.structure:
            dashboard.model_changed(listed)
        dashboard.runners_changed(changed)

    # -- orphans -------------------------------------------------------------------

    def adopt(self) -> None:
        if self._adopting or self.app.engine is None:
            return
        self._adopting = True
        self.app.run_worker(
            self._adopt(),
            name="adopt orphans",
            group="fleet",
            exit_on_error=False,
            description="Take over sessions nobody runs that have commands waiting",
        )

    async def _adopt(self) -> None:
        """Take over the sessions nobody runs whose commands wait (an answer sent to a
        run that died since): of two dashboards doing so at once, the store's lease
        lets one win, and the other leaves the session be."""
        try:
            adopted = await self.app.opened_engine().adopt_orphans()
        except StoreError:
            return
        finally:
            self._adopting = False
        for session_id in adopted:
            self.app.notify(
                f"“{ellipsize(self.app.session_title(session_id), 40)}” was orphaned with "
                "commands waiting: this dashboard runs it now and applies them.",
                title="Session adopted",
            )
        if adopted:
            self.refresh()
