"""What the dashboard reads of the log, and when: never the whole of it.

At start-up: the session summaries (what the session list shows), the logs of the live
sessions (running, waiting, queued, or with an approval pending or a task running: the
inbox, the task list and the subagent tree need them whole), and the newest page of
every session's events for the "all sessions" log. The live subscription starts after
the newest position the summaries account for. Later: a session's log when it is
chosen, and a page of older events whenever the reader scrolls up past what is loaded.
So start-up costs what the screen shows, however long the log has grown.
"""

from __future__ import annotations

from collections import OrderedDict

from harness_tui.engine.engine import Engine
from harness_tui.events import Event
from harness_tui.store.base import LIVE_STATUSES
from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.model import HISTORY_PAGE, SessionView

# Summaries read at start-up (the most recently active sessions), and each time the
# user lists more: a year of history holds tens of thousands.
SUMMARY_PAGE = 500
# Sessions read because they were chosen (neither live nor new) whose lines are kept
# once another is chosen; beyond this, the longest unchosen lets its lines go.
CHOSEN_KEPT = 16


class History:
    def __init__(self, engine: Engine, model: DashboardModel) -> None:
        self.engine = engine
        self.model = model
        self._chosen: OrderedDict[str, None] = OrderedDict()
        self._live: list[str] = []
        self._summaries = 0

    async def seed(self) -> int:
        """The session list from the summaries of the most recently active sessions
        and of the live ones, and how many there are in all; returns the position
        they account for, after which the live subscription starts."""
        counts = await self.engine.session_counts()
        # Every event up to here is in the summaries read next; one they also count
        # that comes after it, arriving live, is not counted twice (counted_through).
        position = counts.last_position
        newest = await self.engine.sessions(SUMMARY_PAGE)
        live = await self.engine.sessions(live=True)
        self.model.seed([*newest, *live], counts)
        self.model.position = position
        self._live = [s.session_id for s in live]
        self._summaries = SUMMARY_PAGE
        return position

    async def summaries_of(self, session_ids: set[str]) -> None:
        """Summaries of sessions older than those read at start that carried on."""
        found = [await self.engine.summary(session_id) for session_id in sorted(session_ids)]
        self.model.seed([summary for summary in found if summary is not None])

    async def more_summaries(self) -> None:
        """The summaries of the next page of less recently active sessions."""
        self._summaries += SUMMARY_PAGE
        self.model.seed(await self.engine.sessions(self._summaries))

    async def load_live(self) -> None:
        """The live sessions' logs, and the newest page of every session's events."""
        for session_id in self._live:
            self.model.load_session(session_id, await self._session_log(session_id))
        page = await self.engine.log_before(self.model.position + 1, HISTORY_PAGE)
        self.model.start_all_lines(page, complete=len(page) < HISTORY_PAGE)

    async def load_chosen(self, session_id: str) -> bool:
        """Read a chosen session's log (its summary alone was known). False when it was
        loaded meanwhile or is gone."""
        view = self.model.sessions.get(session_id)
        if view is None or view.loaded:
            return False
        events = await self._session_log(session_id)
        view = self.model.sessions.get(session_id)
        if view is None or view.loaded:
            return False
        self.model.load_session(session_id, events)
        self._chosen[session_id] = None
        self._chosen.move_to_end(session_id)
        return True

    def chosen(self, session_id: str | None) -> None:
        """The user chose this session (None: all sessions): the least recently chosen
        beyond CHOSEN_KEPT let their lines go, unless live."""
        if session_id is not None and session_id in self._chosen:
            self._chosen.move_to_end(session_id)
        while len(self._chosen) > CHOSEN_KEPT:
            oldest = next(iter(self._chosen))
            del self._chosen[oldest]
            view = self.model.sessions.get(oldest)
            if oldest != session_id and view is not None and not _live(view):
                self.model.unload_session(oldest)

    async def older(self, session_id: str | None) -> int:
        """Read the page of events before the oldest line of a session's log (None:
        of every session's) and put its lines on top; returns how many were added."""
        model = self.model
        added = 0
        while added <= 0:
            if session_id is None:
                if model.all_complete:
                    return added
                oldest = model.all_lines[0] if model.all_lines else None
                # The oldest line's event again, whole: its first lines may have gone.
                before = oldest.position + 1 if oldest else model.position + 1
                page = await self.engine.log_before(before, HISTORY_PAGE)
                added += model.prepend_all_lines(page, complete=len(page) < HISTORY_PAGE)
            else:
                view = model.sessions.get(session_id)
                if view is None or not view.loaded or view.lines_complete:
                    return added
                oldest = view.lines[0] if view.lines else None
                before = oldest.seq + 1 if oldest else 1 << 62
                page = await self.engine.history_before(session_id, before, HISTORY_PAGE)
                added += model.prepend_session_lines(
                    session_id, page, complete=len(page) < HISTORY_PAGE
                )
        return added

    async def _session_log(self, session_id: str) -> list[Event]:
        """A session's whole log up to what the model has folded: while it was read,
        live events may have moved the model on past its end."""
        events = await self.engine.history(session_id)
        while events and (events[-1].position or 0) < self.model.position:
            more = await self.engine.history(session_id, after_seq=events[-1].seq)
            if not more:
                break
            events.extend(more)
        return events


def _live(view: SessionView) -> bool:
    return (
        view.turn_active
        or bool(view.approvals)
        or view.status in LIVE_STATUSES
        or any(task.status == "running" for task in view.tasks.values())
    )
