"""The dashboard app: opens the engine, folds its events into the screen, and turns
keys into engine calls.

Everything the app asks of the engine goes through the Engine facade; everything it
learns comes from the event stream, batched per frame by the adapter.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import App
from textual.worker import Worker, WorkerState

from harness_tui.config import ConfigError
from harness_tui.config.keymap import canonical_keys
from harness_tui.engine.engine import CommandOutcome, Engine, EngineError
from harness_tui.engine.submit import submit_session
from harness_tui.policy.rules import project_rules_path
from harness_tui.providers.select import ProviderConfigError
from harness_tui.store import StoreError
from harness_tui.tui import keys
from harness_tui.tui.adapter import FRAME_S, EngineAdapter, EngineBatch
from harness_tui.tui.approvals import ApprovalPrompts
from harness_tui.tui.commands import DashboardCommands
from harness_tui.tui.fleet import Fleet, outcome_notice
from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.format import ellipsize
from harness_tui.tui.history import History
from harness_tui.tui.labels import project_label, provider_label, store_label
from harness_tui.tui.model import Clock
from harness_tui.tui.screens.confirm import ConfirmScreen, quit_question
from harness_tui.tui.screens.dashboard import DashboardScreen
from harness_tui.tui.screens.gc import GCScreen
from harness_tui.tui.screens.help import HelpScreen
from harness_tui.tui.screens.inbox import InboxScreen
from harness_tui.tui.screens.mode import ApprovalModeScreen
from harness_tui.tui.screens.new_session import NewSessionRequest, NewSessionScreen
from harness_tui.tui.screens.tail import TailScreen
from harness_tui.tui.themes import (
    DEFAULT_THEME,
    load_themes,
    save_theme,
    theme_dirs,
    token_defaults,
)
from harness_tui.tui.widgets.sessions import SessionsTable

if TYPE_CHECKING:
    from harness_tui.config import Config

TAG_WIDTH = 13
# Narrower than this, the log beside the session list would show a time and a title
# and little else: the dashboard's panes stack instead. Shorter than this, the input
# bar and the dialogs give up frames and margins. Every screen gets the classes
# (-narrow/-wide, -short/-tall); app.tcss says what changes.
NARROW_BELOW = 140
SHORT_BELOW = 32


def _relative(path: Path, to: Path) -> str:
    try:
        return str(path.relative_to(to))
    except ValueError:
        return str(path)


class HarnessApp(App[int]):
    # Absolute, so subclasses defined elsewhere (tests, embedders) find it too.
    CSS_PATH = Path(__file__).parent / "app.tcss"
    TITLE = "harness-tui"
    BINDINGS = [*keys.APP]
    COMMANDS = App.COMMANDS | {DashboardCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (NARROW_BELOW, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT_BELOW, "-tall")]

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        watch_theme_files: bool = True,
        frame_s: float = FRAME_S,
        key_guard_ms: int | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.model = DashboardModel()
        self.engine: Engine | None = None
        self.adapter: EngineAdapter | None = None
        self.frame_s = frame_s
        self.watch_theme_files = watch_theme_files
        # As Textual matches key events: `?` as question_mark, modifiers in its order.
        # The config refused any value that names no key, so each has its form.
        self.keymap: dict[str, str] = {
            binding_id: canonical_keys(value) or value for binding_id, value in config.keys.items()
        }
        self.key_guard_ms = config.ui.key_guard_ms if key_guard_ms is None else key_guard_ms
        """How long an approval prompt ignores keys after it opens."""
        self.rules_file_label = _relative(project_rules_path(config.project), config.project)
        # Set once the theme from the config is on: a theme chosen after that is the
        # user's choice, kept in their config file for the next start.
        self._saved_theme: str | None = None
        # Set once the dashboard has read what start-up reads (the summaries, the live
        # sessions, the newest page of the log); tests and the benchmarks wait on it
        # instead of sleeping.
        self.ready = asyncio.Event()
        self.history: History | None = None
        self._reading_older = False
        self.approvals = ApprovalPrompts(self)
        self.fleet = Fleet(self)
        self.project_label = project_label(config)
        self.store_label = store_label(config)
        self.provider = provider_label(config)
        # Why the sandbox cannot start on this machine, once the engine has looked.
        self.sandbox_unavailable: str | None = None
        self._shutting_down = False
        # Why the engine could not be opened, if it could not: the app closes, and
        # whoever ran it reports this (the command line's error boundary does).
        self.open_error: Exception | None = None
        loaded = load_themes()
        self._theme_errors = loaded.errors
        self.user_theme_names = {
            name for name, path in loaded.sources.items() if path.parent != theme_dirs()[0]
        }
        super().__init__()
        for theme in loaded.themes.values():
            self.register_theme(theme)

    # -- labels --------------------------------------------------------------------

    def session_title(self, session_id: str) -> str:
        view = self.model.sessions.get(session_id)
        return (view.title if view and view.title else session_id) or "?"

    def session_tag(self, session_id: str) -> str:
        return ellipsize(self.session_title(session_id), TAG_WIDTH)

    def key_for(self, binding_id: str) -> str:
        """How a binding's key is shown, after the user's remapping."""
        for _context, bindings in keys.CONTEXTS:
            for binding in bindings:
                if binding.id == binding_id:
                    key = self.keymap.get(binding_id, binding.key).split(",")[0].strip()
                    return self.get_key_display(replace(binding, key=key, key_display=None))
        return binding_id

    @property
    def dashboard(self) -> DashboardScreen:
        return self.get_screen("dashboard")  # type: ignore[return-value]

    # -- start-up ------------------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return token_defaults(self.current_theme.to_color_system().generate())

    def on_mount(self) -> None:
        self.set_keymap(self.keymap)
        for problem in self._theme_errors:
            self.notify(problem, title="Theme not loaded", severity="error", timeout=10)
        wanted = self.config.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.theme = DEFAULT_THEME
            self.notify(
                f"[ui] theme {wanted!r}: no such theme; using {DEFAULT_THEME}",
                severity="warning",
                timeout=10,
            )
        self._saved_theme = self.theme
        self.install_screen(DashboardScreen(), "dashboard")
        self.push_screen("dashboard")
        if self.provider.error:
            self.notify(self.provider.error, title="Provider", severity="error", timeout=15)
        elif self.provider.note and "no API key" in self.provider.note:
            self.notify(self.provider.note, title="Offline demo", timeout=8)
        self.run_worker(
            self._open_engine(),
            name="open engine",
            group="engine",
            exit_on_error=False,
            description="Open the store and start following its log",
        )
        if self.watch_theme_files:
            self.run_worker(
                self._watch_themes(),
                name="theme watcher",
                group="themes",
                exit_on_error=False,
                description="Reload theme files when they change",
            )

    async def _open_engine(self) -> None:
        try:
            # Without a key the dashboard still shows what it does: the offline demo.
            engine = await Engine.open(self.config, offline_demo=True)
        except Exception as exc:
            # Without an engine there is nothing to show: leave (a store that cannot
            # be opened, a policy file that does not load, ...).
            self.open_error = exc
            self.exit(return_code=1)  # non-zero for whoever looks only at the code
            return
        self.engine = engine
        self.sandbox_unavailable = engine.sandbox_unavailable()
        engine.on_session_failure(self._session_failed)
        for failure in engine.recovery_failures:
            self.notify(
                f"session {failure.session_id} could not be recovered: {failure.error}",
                severity="error",
                timeout=15,
            )
        self.history = history = History(engine, self.model)
        # The session list first, from the summaries alone: the first paint.
        position = await history.seed()
        await self.fleet.start()
        self.dashboard.refresh_all()
        # Then what the screens need whole (the live sessions), and the newest page of
        # the log; the subscription carries on from where the summaries stood.
        await history.load_live()
        self.dashboard.refresh_all()
        self._mark_ready()
        self.adapter = adapter = EngineAdapter(engine, self, frame_s=self.frame_s)
        for coroutine, name in (
            (adapter.follow_log(position), "follow the event log"),
            (adapter.follow_deltas(), "follow streaming model text"),
            (adapter.pump(), "deliver events once per frame"),
        ):
            self.run_worker(coroutine, name=name, group="engine", exit_on_error=False)

    # -- engine events -------------------------------------------------------------

    @on(EngineBatch)
    def _engine_batch(self, batch: EngineBatch) -> None:
        changes = self.model.apply(batch.events, batch.deltas)
        for screen in self.screen_stack:
            model_changed = getattr(screen, "model_changed", None)
            if model_changed is not None and screen.is_mounted:
                model_changed(changes)
        self.dashboard.refresh_header()
        if changes.new_approvals and self.ready.is_set():
            self.approvals.announce(changes.new_approvals)
        if changes.unlisted:
            self._read_summaries(changes.unlisted)
        if self.adapter is not None:
            # The next batch may come once this one is on screen: the screen gets to
            # paint (and keys get handled) between batches, however fast they arrive.
            # Asked of the dashboard, which is never popped: a callback left with a
            # modal screen that closes first would never run.
            self.dashboard.call_after_refresh(self.adapter.handled)

    def _session_failed(self, session_id: str, message: str) -> None:
        # The store took no more of the session's events, so its row cannot show it.
        self.notify(
            f"session {session_id} stopped: {message}",
            title="Session stopped",
            severity="error",
            timeout=30,
        )

    def _mark_ready(self) -> None:
        self.ready.set()
        pending = len(self.approvals.pending())
        if pending:
            noun = "approval is" if pending == 1 else "approvals are"
            inbox = self.key_for("inbox")
            self.notify(f"{pending} {noun} pending · {inbox} opens the inbox", timeout=8)
        # Everything alive now (modules, widgets, the replayed history) stays for the
        # session: moved out of the collector's way, a full collection scans only what
        # came later and no longer stalls a frame for tens of milliseconds.
        gc.freeze()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state == WorkerState.ERROR and not self._shutting_down:
            self.notify(
                f"{worker.name}: {worker.error}", title="Something failed", severity="error"
            )

    # -- screens ------------------------------------------------------------------

    def open_inbox(self) -> None:
        if not isinstance(self.screen, InboxScreen):
            self.push_screen(InboxScreen())

    def open_gc(self) -> None:
        if self.engine is None:
            self.notify("The store is still opening.")
        elif not isinstance(self.screen, GCScreen):
            self.push_screen(GCScreen())

    # -- sessions ------------------------------------------------------------------

    def opened_engine(self) -> Engine:
        """The engine, or EngineError while the store is still opening."""
        if self.engine is None:
            raise EngineError("the store is still opening")
        return self.engine

    def open_new_session(self) -> None:
        choice_name = self.config.provider.name
        model_hint = self.provider.label.partition("/")[2]

        def chosen(request: NewSessionRequest | None) -> None:
            if request is not None:
                self.run_worker(
                    self._start_session(request),
                    name="start session",
                    group="actions",
                    exit_on_error=False,
                )

        self.push_screen(
            NewSessionScreen(
                provider=choice_name,
                model_hint=model_hint,
                approval_mode=self.config.policy.approval_mode,
                worktree=self.config.git.worktree,
                sandbox_mode=self.config.sandbox.mode,
                agents=tuple(self.config.agents),
            ),
            chosen,
        )

    async def _start_session(self, request: NewSessionRequest) -> None:
        if request.queue:
            await self._queue_session(request)
            return
        try:
            session_id = await self.opened_engine().start_session(
                request.prompt,
                provider=request.provider,
                model=request.model,
                approval_mode=request.approval_mode,
                worktree=request.worktree,
                sandbox_mode=request.sandbox_mode,
                agent=request.agent,
            )
        except (EngineError, ProviderConfigError, ValueError) as exc:
            self.notify(str(exc), title="Session not started", severity="error", timeout=10)
            return
        self.dashboard.select_when_listed(session_id)

    async def _queue_session(self, request: NewSessionRequest) -> None:
        """Queue the session in the store for a `harness-tui worker`; it shows up in the
        list once a worker has claimed and started it."""
        try:
            queued = await submit_session(
                self.opened_engine().store,
                self.config,
                request.prompt,
                provider=request.provider,
                model=request.model,
                worktree=request.worktree,
                approval_mode=request.approval_mode,
                sandbox_mode=request.sandbox_mode,
            )
        except (EngineError, StoreError) as exc:
            self.notify(str(exc), title="Session not queued", severity="error", timeout=10)
            return
        self.notify(
            f"Session {queued.session_id} is queued for a worker (`harness-tui worker`).",
            title="Queued",
        )
        self.dashboard.select_when_listed(queued.session_id)

    def send_input(self, session_id: str | None, text: str, how: str) -> None:
        if session_id is None:
            self.run_worker(
                self._start_session(
                    NewSessionRequest(
                        prompt=text,
                        provider=None,
                        model=None,
                        approval_mode=self.config.policy.approval_mode,
                        worktree=None,
                    )
                ),
                name="start session",
                group="actions",
                exit_on_error=False,
            )
            return
        view = self.model.sessions.get(session_id)
        running = view is not None and view.turn_active
        if how == "follow_up":
            mode = "follow_up"
        else:
            mode = "steer" if running else "prompt"
        self.run_worker(
            self._send(session_id, text, mode),
            name="send input",
            group="actions",
            exit_on_error=False,
        )

    async def _send(self, session_id: str, text: str, mode: str) -> None:
        verb = {"steer": "Steering", "follow_up": "Queued a follow-up for", "prompt": "Sent to"}
        what = f"{verb[mode]} “{self.session_title(session_id)}”: {ellipsize(text, 60)}"
        try:
            outcome = await self.opened_engine().send(session_id, text, mode=mode)
        except (EngineError, ProviderConfigError, ValueError) as exc:
            self.notify(str(exc), title="Not sent", severity="error")
            return
        if not self.tell_outcome(outcome, what):
            self.notify(what)

    def tell_outcome(self, outcome: CommandOutcome, what: str) -> bool:
        """Say what came of a command sent to a session another engine runs; False when
        this dashboard applied it itself."""
        notice = outcome_notice(outcome, what)
        if notice is None:
            return False
        message, severity = notice
        self.notify(message, severity=severity, timeout=10)  # type: ignore[arg-type]
        return True

    def confirm_cancel(self, session_id: str) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(
                    self._cancel(session_id),
                    name="cancel turn",
                    group="actions",
                    exit_on_error=False,
                )

        self.push_screen(
            ConfirmScreen(
                "Cancel the turn?",
                f"Stop the running turn of “{self.session_title(session_id)}”? "
                "What it has done so far stays in the log.",
            ),
            confirmed,
        )

    async def _cancel(self, session_id: str) -> None:
        try:
            outcome = await self.opened_engine().cancel(session_id)
        except EngineError as exc:
            self.notify(str(exc), title="Not cancelled", severity="error")
            return
        self.tell_outcome(outcome, f"Cancel “{self.session_title(session_id)}”")

    def choose_approval_mode(self, session_id: str) -> None:
        view = self.model.sessions.get(session_id)
        current = view.approval_mode if view else None

        def chosen(mode: str | None) -> None:
            if mode and mode != current:
                self.run_worker(
                    self._set_mode(session_id, mode),
                    name="set approval mode",
                    group="actions",
                    exit_on_error=False,
                )

        self.push_screen(ApprovalModeScreen(self.session_title(session_id), current), chosen)

    async def _set_mode(self, session_id: str, mode: str) -> None:
        try:
            outcome = await self.opened_engine().set_approval_mode(session_id, mode)
        except (EngineError, ValueError) as exc:
            self.notify(str(exc), title="Mode not changed", severity="error")
            return
        self.tell_outcome(outcome, f"Approval mode {mode} for “{self.session_title(session_id)}”")

    def load_chosen(self, session_id: str) -> None:
        """A session known from its summary alone was chosen: read its log."""

        async def load() -> None:
            if self.history is not None and await self.history.load_chosen(session_id):
                self.dashboard.session_loaded(session_id)

        # Moving on through the list drops the read of a session passed over.
        self.run_worker(
            load(),
            name=f"read session {session_id}",
            group="chosen session",
            exclusive=True,
            exit_on_error=False,
            description="Read a chosen session's log",
        )

    def _read_summaries(self, session_ids: set[str]) -> None:
        async def load() -> None:
            if self.history is not None:
                await self.history.summaries_of(session_ids)
                self.dashboard.query_one(SessionsTable).rebuild()

        self.run_worker(
            load(),
            name="read summaries",
            group="history",
            exit_on_error=False,
            description="Read the summaries of older sessions that carried on",
        )

    def list_more_sessions(self) -> None:
        """List the next page of older sessions, reading their summaries if needed."""
        table = self.dashboard.query_one(SessionsTable)

        async def load() -> None:
            if self.history is not None and table.wants_summaries:
                await self.history.more_summaries()
            table.list_more()

        self.run_worker(
            load(),
            name="list more sessions",
            group="history",
            exit_on_error=False,
            description="Read the summaries of older sessions",
        )

    def load_older(self, session_id: str | None) -> None:
        """The reader scrolled up past the oldest line loaded: read the page before."""

        if self._reading_older:
            return  # the page being read is the one asked for again

        async def load() -> None:
            try:
                if self.history is not None and await self.history.older(session_id):
                    self.dashboard.older_loaded(session_id)
            finally:
                self._reading_older = False

        self._reading_older = True
        self.run_worker(
            load(),
            name="read older events",
            group="history",
            exit_on_error=False,
            description="Read the page of events before the oldest shown",
        )

    def open_tail(self, task_id: str) -> None:
        if task_id in self.model.tasks:
            self.push_screen(TailScreen(task_id))

    # -- themes --------------------------------------------------------------------

    def watch_theme(self, name: str) -> None:
        # Chosen in the palette (ours or Textual's own theme picker): remembered.
        if self._saved_theme is not None and name != self._saved_theme:
            self._saved_theme = name
            self.save_theme(name)

    def save_theme(self, name: str) -> None:
        try:
            path = save_theme(name)
        except (ConfigError, OSError) as exc:
            self.notify(str(exc), title="Theme not saved", severity="error", timeout=10)
            return
        source = self.config.sources.get("ui.theme", "default")
        if source.startswith(("project file", "env", "flag")):
            self.notify(
                f"Saved in {path}, but {source} sets [ui] theme and wins at the next start.",
                title=f"Theme {name}",
                severity="warning",
                timeout=10,
            )
        else:
            self.notify(f"Saved in {path} for the next start.", title=f"Theme {name}")

    async def _watch_themes(self) -> None:
        from watchfiles import awatch

        directories = [d for d in theme_dirs() if d.is_dir()]
        if not directories:
            return
        async for _changes in awatch(*directories, debounce=200, recursive=False):
            self.reload_themes()

    def reload_themes(self) -> None:
        loaded = load_themes()
        for problem in loaded.errors:
            self.notify(problem, title="Theme not reloaded", severity="error", timeout=10)
        self.user_theme_names = {
            name for name, path in loaded.sources.items() if path.parent != theme_dirs()[0]
        }
        for theme in loaded.themes.values():
            self.register_theme(theme)
        if self.theme in loaded.themes:
            # Same name, new colours: re-apply so every widget repaints with them.
            self.refresh_css(animate=False)
            self.theme_changed_signal.publish(self.current_theme)
            self.notify(f"Theme {self.theme} reloaded.", timeout=3)

    # -- app actions ---------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.keymap))

    async def action_quit(self) -> None:
        engine = self.engine
        running = [
            view
            for view in self.model.sessions.values()
            if view.turn_active
            and engine is not None
            and (view.turn_owner or {}).get("engine") == engine.id
        ]
        if not running:
            await self.shutdown()
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self.shutdown(), name="shut down", exit_on_error=False)

        titles = {view.session_id: self.session_title(view.session_id) for view in running}
        question = quit_question(
            working=[titles[v.session_id] for v in running if not v.approvals],
            waiting=[titles[v.session_id] for v in running if v.approvals],
        )
        self.push_screen(ConfirmScreen("Quit?", question), confirmed)

    async def shutdown(self) -> None:
        """Stop following the log, close the engine (its turns end on the record),
        then leave."""
        await self._close_engine()
        self.exit()

    async def on_unmount(self) -> None:
        # However the app ends, the engine's turns and the store are closed properly.
        await self._close_engine()

    async def _close_engine(self) -> None:
        if self._shutting_down:
            return
        self._shutting_down = True
        self.workers.cancel_group(self, "engine")
        self.workers.cancel_group(self, "themes")
        if self.engine is not None:
            await self.engine.close()
