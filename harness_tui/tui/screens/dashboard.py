"""The dashboard: sessions and their subagents, tasks, the event log, the input bar.

Text typed here is text: the first printable key, wherever the focus is, goes to the
input bar like in a chat box, so no sentence can run an action. Actions are chords
(`harness_tui.config.keymap`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from harness_tui.events import AGENT_NEVER_ASKS, Event
from harness_tui.tui import keys
from harness_tui.tui.format import ellipsize
from harness_tui.tui.labels import SandboxLabel, agent_label, sandbox_label
from harness_tui.tui.model import Changes
from harness_tui.tui.render import TYPE_FILTERS
from harness_tui.tui.screens.event_detail import EventDetailScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.footer import KeyFooter
from harness_tui.tui.widgets.header import DashboardHeader
from harness_tui.tui.widgets.input_bar import InputBar
from harness_tui.tui.widgets.sessions import SessionsTable
from harness_tui.tui.widgets.tasks import TasksTable

if TYPE_CHECKING:
    from harness_tui.tui.app import HarnessApp


class FilterInput(Input):
    BINDINGS = [*keys.FILTER]

    def action_clear(self) -> None:
        self.value = ""
        self.screen.query_one(EventLog).focus()


def _log_title(source: str, type_filter: str, needle: str, clear_key: str) -> str:
    """The log's title: every filter that is on, so that no filter hides events
    unseen, then whose events (the longest part, cut first when the pane is narrow)."""
    parts = ["Events"]
    if type_filter != "all":
        parts.append(f"type: {type_filter}")
    if needle.strip():
        parts.append(f"text: “{ellipsize(needle.strip(), 30)}”")
    parts.append(source)
    if len(parts) > 2:
        parts.append(f"{clear_key} clears")
    return " · ".join(parts)


class DashboardScreen(Screen[None]):
    BINDINGS = [*keys.DASHBOARD]
    app: HarnessApp

    def __init__(self) -> None:
        super().__init__(id="dashboard")
        self.selected: str | None = None
        self._type_filter = 0
        # A session just started here, to select as soon as its row appears.
        self._select_next: str | None = None
        self._stream_text = ""
        self._filters_shown = False

    def compose(self) -> ComposeResult:
        app = self.app
        yield DashboardHeader(
            project=app.project_label,
            store=app.store_label,
            provider=app.provider.label,
            note=app.provider.header_note,
            sandbox=self._sandbox_label(),
        )
        with Horizontal(id="body"):
            with Vertical(id="left"):
                sessions = SessionsTable(app.model, app.clock, id="sessions")
                sessions.border_title = "Sessions"
                yield sessions
                tasks = TasksTable(app.model, app.clock, id="tasks")
                tasks.border_title = "Tasks & subagents"
                yield tasks
            with Vertical(id="right"):
                yield FilterInput(
                    placeholder="Filter the log: text to match · Esc clears", id="filter"
                )
                log = EventLog(
                    app.clock,
                    id="log",
                    tag_for=app.session_tag,
                    follow_key=app.key_for("follow"),
                )
                yield log
                yield Static("", id="stream", classes="-empty")
        yield InputBar(id="input")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(SessionsTable).rebuild()
        self._show(None)
        self.query_one(SessionsTable).focus()
        self.set_interval(1.0, self._tick, name="ages")

    # -- engine changes ------------------------------------------------------------

    def model_changed(self, changes: Changes) -> None:
        sessions = self.query_one(SessionsTable)
        sessions.sync(changes)
        if self._select_next and self._select_next in self.app.model.sessions:
            if sessions.select(self._select_next):
                self._select_next = None
        log = self.query_one(EventLog)
        if self.selected is None:
            log.add(changes.lines)
        else:
            log.add([line for line in changes.lines if line.session_id == self.selected])
        if changes.tasks or changes.structure:
            self.query_one(TasksTable).sync(changes.tasks | changes.sessions)
        if self.selected is None or self.selected in changes.sessions:
            self._update_input()
        if changes.streams:
            self._update_stream()
        self.refresh_header()

    def refresh_header(self) -> None:
        model = self.app.model
        self.query_one(DashboardHeader).set_counts(
            pending=len(self.app.approvals.pending()),
            # A turn that waits for an approval is counted under pending, not running.
            active=sum(
                1
                for session_id in model.turns
                if (view := model.sessions.get(session_id)) is not None
                and view.turn_active
                and view.status == "running"
            ),
        )
        self.query_one(DashboardHeader).set_sandbox(self._sandbox_label())

    def _sandbox_label(self) -> SandboxLabel:
        """Where the selected session's commands run; with none selected, where those of
        a session started now would."""
        app = self.app
        view = app.model.sessions.get(self.selected or "")
        if view is None:
            return sandbox_label(
                app.config.sandbox.mode,
                network=app.config.sandbox.network,
                unconfined=app.sandbox_unavailable,
            )
        if view.backend or view.unconfined == AGENT_NEVER_ASKS:
            return agent_label(
                view.backend or view.provider, never_asks=view.unconfined == AGENT_NEVER_ASKS
            )
        return sandbox_label(
            view.sandbox_mode or app.config.sandbox.mode,
            network=view.sandbox_network,
            unconfined=view.unconfined or app.sandbox_unavailable,
        )

    def refresh_all(self) -> None:
        self.query_one(SessionsTable).rebuild()
        self._show(self.selected)
        self.refresh_header()

    def select_when_listed(self, session_id: str) -> None:
        if not self.query_one(SessionsTable).select(session_id):
            self._select_next = session_id

    def _tick(self) -> None:
        self.query_one(SessionsTable).tick()
        self.query_one(TasksTable).tick()
        self.app.fleet.refresh()

    def runners_changed(self, session_ids: set[str]) -> None:
        """Who runs these sessions changed (read from the store's leases and queue)."""
        self.query_one(SessionsTable).show_runners(session_ids)
        if self.selected in session_ids:
            self._update_log_title()

    # -- selection -----------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#sessions")
    def _session_highlighted(self) -> None:
        selected = self.query_one(SessionsTable).selected_session
        if selected != self.selected:
            self._show(selected)

    @on(DataTable.RowSelected, "#sessions")
    def _session_chosen(self) -> None:
        sessions = self.query_one(SessionsTable)
        if sessions.more_highlighted:
            self.app.list_more_sessions()
            return
        self.action_focus_input()

    @on(DataTable.RowSelected, "#tasks")
    def _task_chosen(self) -> None:
        self.action_tail_task()

    def session_loaded(self, session_id: str) -> None:
        """A chosen session's log has been read: its lines, tasks and row are whole."""
        # Its log may order its subagents otherwise than their summaries did.
        self.query_one(SessionsTable).sync(Changes(sessions={session_id}, structure=True))
        if self.selected == session_id:
            self._show(session_id)
        self.refresh_header()

    def older_loaded(self, session_id: str | None) -> None:
        if self.selected == session_id:
            self.query_one(EventLog).extend_back(self.app.model.lines_of(session_id))

    @on(EventLog.ReachedTop)
    def _reached_top(self) -> None:
        # Asked when the reader got there: still there (not moved on, nor switched to
        # a source not read yet), the page above is read.
        log = self.query_one(EventLog)
        if log.scroll_y <= 0 and log.line_count:
            self.app.load_older(self.selected)

    def _show(self, session_id: str | None) -> None:
        self.selected = session_id
        model = self.app.model
        view = model.sessions.get(session_id or "")
        if view is not None and not view.loaded:
            self.app.load_chosen(view.session_id)
        if self.app.history is not None:
            self.app.history.chosen(session_id)
        log = self.query_one(EventLog)
        log.show(model.lines_of(session_id), show_session=session_id is None)
        view = model.sessions.get(session_id or "")
        self._update_log_title()
        self.query_one(DashboardHeader).set_sandbox(self._sandbox_label())
        tasks = self.query_one(TasksTable)
        tasks.show(session_id)
        tasks.border_title = "Tasks & subagents" + (" · all sessions" if view is None else "")
        self._update_input()
        self._update_stream()

    def _update_log_title(self) -> None:
        view = self.app.model.sessions.get(self.selected or "")
        runner = None if view is None else self.app.model.runners.of(view.session_id)
        if view is None:
            source = "all sessions"
        elif runner is None:
            source = ellipsize(view.title or view.session_id, 60)
        else:
            # Who runs it fits beside the title in 80 columns.
            source = f"{ellipsize(view.title or view.session_id, 28)} · {runner.long}"
        name, _categories = TYPE_FILTERS[self._type_filter]
        title = _log_title(
            source,
            name,
            self.query_one("#filter", Input).value,
            self.app.key_for("clear_filters"),
        )
        log = self.query_one(EventLog)
        if log.border_title != title:
            log.border_title = title
        if self._hiding_events != self._filters_shown:
            # The footer offers to clear the filters while one is on. It is redrawn when a
            # text or type filter comes or goes, not when the chosen session changes:
            # that happens at every arrow key, and redrawing the footer each time doubled
            # the dashboard's key latency under load (tests/bench/tui_firehose.py).
            self._filters_shown = self._hiding_events
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filters":
            return self.filters_on
        return True

    @property
    def _hiding_events(self) -> bool:
        """Whether a text or type filter hides events of the chosen source."""
        return self._type_filter != 0 or bool(self.query_one("#filter", Input).value.strip())

    @property
    def filters_on(self) -> bool:
        """Whether the log hides any event: a session, a type or a text filter."""
        return self.selected is not None or self._hiding_events

    def _update_input(self) -> None:
        view = self.app.model.sessions.get(self.selected or "")
        new = self.app.key_for("new_session")
        follow_up = self.app.key_for("follow_up")
        if view is None:
            focused = "A prompt for a new session · Enter starts it · Esc goes back"
            unfocused = f"Type to start a new session ({new}: with options)"
        else:
            title = f"“{ellipsize(view.title or view.session_id, 40)}”"
            if view.turn_active:
                focused = f"Steer {title} (Enter) · queue a follow-up ({follow_up}) · Esc goes back"
                unfocused = f"Type to steer {title} or queue a follow-up"
            else:
                focused = f"A prompt for {title} (Enter) · Esc goes back"
                unfocused = f"Type to send {title} a prompt"
        self.query_one(InputBar).set_hints(focused=focused, unfocused=unfocused)

    def _update_stream(self) -> None:
        streams = self.app.model.streams
        session_id = self.selected
        if session_id is None and streams:
            session_id = next(reversed(streams))
        text = streams.get(session_id or "", "")
        if text:
            line = " ".join(text.split())
            text = f"▍ {self.app.session_tag(session_id or '')} is writing: …{line[-300:]}"
        # An update lays the screen out again: only when the line really changes.
        if text != self._stream_text:
            self._stream_text = text
            stream = self.query_one("#stream", Static)
            stream.set_class(not text, "-empty")
            stream.update(text)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # An approval that arrived while the user was typing waits until they stop.
        if event.widget.id not in ("input", "filter"):
            self.app.approvals.prompt_next(auto=True)

    # -- input ---------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        # Reached only by keys the focused widget did not take (a text field takes
        # its own), before the bindings run: printable text goes to the input bar.
        # A key the user has bound to an action themselves keeps it.
        if not event.is_printable or event.character is None:
            return
        if event.key in self.active_bindings:
            return
        event.stop()
        event.prevent_default()
        bar = self.query_one(InputBar)
        bar.focus()
        bar.insert_text_at_cursor(event.character)

    def on_paste(self, event: events.Paste) -> None:
        # Pasted text goes where typed text goes.
        if isinstance(self.app.focused, Input) or not event.text:
            return
        event.stop()
        bar = self.query_one(InputBar)
        bar.focus()
        bar.insert_text_at_cursor(" ".join(event.text.splitlines()))

    @on(InputBar.Send)
    def _send(self, message: InputBar.Send) -> None:
        self.app.send_input(self.selected, message.text, message.how)
        bar = self.query_one(InputBar)
        bar.value = ""
        self.query_one(SessionsTable).focus()

    @on(EventLog.Open)
    def _open_event(self, message: EventLog.Open) -> None:
        async def read_event(position: int) -> Event | None:
            return await self.app.opened_engine().event_at(position)

        line = message.line
        self.app.push_screen(
            EventDetailScreen(
                line,
                session_title=self.app.session_title(line.session_id),
                clock=self.app.clock,
                read_event=read_event,
            )
        )

    @on(InputBar.Leave)
    def _leave_input(self) -> None:
        self.query_one(SessionsTable).focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._apply_filter()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one(EventLog).focus()

    def _apply_filter(self) -> None:
        name, categories = TYPE_FILTERS[self._type_filter]
        needle = self.query_one("#filter", Input).value
        self.query_one(EventLog).set_filter(needle, name, categories)
        self.set_class(bool(needle), "-filtering")
        self._update_log_title()

    # -- actions -------------------------------------------------------------------

    def action_new_session(self) -> None:
        self.app.open_new_session()

    def action_focus_input(self) -> None:
        self.query_one(InputBar).focus()

    def action_answer_approval(self) -> None:
        if not self.app.approvals.prompt_next():
            self.notify("No approvals are pending.")

    def action_inbox(self) -> None:
        self.app.open_inbox()

    def action_gc(self) -> None:
        self.app.open_gc()

    def action_tail_task(self) -> None:
        tasks = self.query_one(TasksTable)
        child = tasks.selected_child
        if child is not None:
            self.query_one(SessionsTable).select(child)
            return
        task = tasks.selected_task
        if task is None:
            self.notify("No task selected: pick one in the Tasks pane.")
            return
        if task.child_session_id and task.child_session_id in self.app.model.sessions:
            # A subagent's output is its own session's log: show that.
            self.query_one(SessionsTable).select(task.child_session_id)
            return
        self.app.open_tail(task.task_id)

    def action_cancel_turn(self) -> None:
        view = self.app.model.sessions.get(self.selected or "")
        if view is None or not view.turn_active:
            self.notify("Select a session with a running turn to cancel it.")
            return
        self.app.confirm_cancel(view.session_id)

    def action_approval_mode(self) -> None:
        if self.selected is None:
            self.notify("Select a session to change its approval mode.")
            return
        self.app.choose_approval_mode(self.selected)

    def action_filter(self) -> None:
        # Shown first: a hidden widget cannot take focus.
        self.set_class(True, "-filtering")
        self.query_one("#filter", Input).focus()

    def action_cycle_type_filter(self) -> None:
        self._type_filter = (self._type_filter + 1) % len(TYPE_FILTERS)
        self._apply_filter()

    def action_clear_filters(self) -> None:
        """Every event of every session again: no text, type or session filter."""
        was_on = self.filters_on
        self._type_filter = 0
        self.query_one("#filter", Input).value = ""
        self._apply_filter()
        self.action_all_sessions()
        if was_on:
            self.notify("Filters cleared: every event of every session.", timeout=3)

    def action_all_sessions(self) -> None:
        self.query_one(SessionsTable).select(None)

    def action_follow(self) -> None:
        self.query_one(EventLog).follow()
