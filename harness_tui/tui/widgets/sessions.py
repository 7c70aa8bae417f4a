"""The session list: top-level sessions newest first, their subagents beneath them.

A DataTable rather than a Tree: the columns (model, tokens, cost, age) line up, and a
batch updates only the cells that changed. The first row stands for every session.
"""

from __future__ import annotations

from rich.text import Text
from textual.timer import Timer
from textual.widgets import DataTable

from harness_tui.events import STATUSES
from harness_tui.sandbox import DANGER_FULL_ACCESS
from harness_tui.tui.fold import DashboardModel
from harness_tui.tui.format import cost, ellipsize, glyph, short_duration, tokens
from harness_tui.tui.model import Changes, Clock, SessionView
from harness_tui.tui.runners import ORPHANED, RUNNER_WIDTH, WAITING

ALL_SESSIONS = "*"
# The row below the newest sessions that lists older ones too.
MORE = "+"
# Top-level sessions listed at first, and how many more each time the user asks: a
# year of history holds tens of thousands, and the list shows a screenful at a time.
ROOTS_PAGE = 200
# Fixed widths of every column but the title, which takes what is left.
_FIXED = {"glyph": 1, "runner": 1, "model": 20, "tokens": 6, "cost": 6, "age": 4}
_MIN_TITLE = 12
# The runner column names the host or pid ("pid 4312") when the title keeps at least
# this much room beside it; narrower, it shows a mark (runners.Runner.mark).
_ROOMY_TITLE = 28
# Token and cost counters are redrawn at most this often: any change to a DataTable
# cell redraws the whole table, and a busy session changes its counters every frame.
COUNTER_INTERVAL_S = 0.5


class SessionsTable(DataTable[Text]):
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {f"sessions--{status}" for status in STATUSES}

    def __init__(self, model: DashboardModel, clock: Clock, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.model = model
        self.clock = clock
        self._order: list[str] = []
        self._title_width = 0
        self._runner_width = _FIXED["runner"]
        # What each cell shows now: a batch that changes nothing visible costs no repaint.
        self._shown: dict[tuple[str, str], Text] = {}
        self._counters_due: set[str] = set()
        self._counter_timer: Timer | None = None
        self.roots_listed = ROOTS_PAGE
        # How many sessions the model held when the rows were laid out.
        self._sessions_at_rebuild = 0

    # -- reading -------------------------------------------------------------------

    @property
    def selected_session(self) -> str | None:
        """The highlighted session, or None for "all sessions"."""
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        key = self._order[self.cursor_row]
        return None if key in (ALL_SESSIONS, MORE) else key

    @property
    def more_highlighted(self) -> bool:
        return 0 <= self.cursor_row < len(self._order) and self._order[self.cursor_row] == MORE

    def list_more(self) -> None:
        """List the next page of older sessions (their summaries read already)."""
        self.roots_listed += ROOTS_PAGE
        self.rebuild()
        self.move_cursor(row=min(self.cursor_row, self.row_count - 1), animate=False)

    @property
    def wants_summaries(self) -> bool:
        """Whether the next page of older sessions needs summaries the model lacks."""
        return (
            self.model.root_count() < self.roots_listed + ROOTS_PAGE
            and self.model.others.top_level > 0
        )

    def select(self, session_id: str | None) -> bool:
        key = session_id or ALL_SESSIONS
        if key not in self._order:
            return False
        self.move_cursor(row=self._order.index(key))
        return True

    # -- drawing -------------------------------------------------------------------

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        # Every column has one cell of padding on each side.
        title = max(_MIN_TITLE, width - sum(_FIXED.values()) - 2 * (len(_FIXED) + 1))
        runner = _FIXED["runner"]
        if title - RUNNER_WIDTH + runner >= _ROOMY_TITLE:
            title, runner = title - RUNNER_WIDTH + runner, RUNNER_WIDTH
        if (title, runner) != (self._title_width, self._runner_width):
            self._title_width, self._runner_width = title, runner
            self.rebuild()

    def on_mount(self) -> None:
        # Glyph colours come from the theme: repaint them when it changes.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.restyle())

    def rebuild(self) -> None:
        """Lay out every row again: a session appeared, or the width changed."""
        selected = self._order[self.cursor_row] if 0 <= self.cursor_row < len(self._order) else None
        self.clear(columns=True)
        self._shown.clear()
        width = self._title_width or 30
        self.add_column("", width=_FIXED["glyph"], key="glyph")
        self.add_column("Session", width=width, key="title")
        self.add_column(
            "Runner" if self._runner_width > 1 else "", width=self._runner_width, key="runner"
        )
        self.add_column("Provider/model", width=_FIXED["model"], key="model")
        self.add_column(Text("Tokens", justify="right"), width=_FIXED["tokens"], key="tokens")
        self.add_column(Text("Cost", justify="right"), width=_FIXED["cost"], key="cost")
        self.add_column(Text("Age", justify="right"), width=_FIXED["age"], key="age")
        self._order = [ALL_SESSIONS]
        self.add_row(*self._all_cells(), key=ALL_SESSIONS)
        self._sessions_at_rebuild = len(self.model.sessions)
        for view, depth, last in self.model.tree(roots=self.roots_listed):
            self._order.append(view.session_id)
            self.add_row(*self._cells(view, depth, last), key=view.session_id)
        unlisted = self.model.root_count() + self.model.others.top_level - self.roots_listed
        if unlisted > 0:
            self._order.append(MORE)
            self.add_row(*self._more_cells(unlisted), key=MORE)
        if selected in self._order:
            self.move_cursor(row=self._order.index(selected), animate=False)

    def sync(self, changes: Changes) -> None:
        if changes.structure or len(self.model.sessions) != self._sessions_at_rebuild:
            self.rebuild()
            return
        if not changes.sessions:
            return
        for session_id in changes.sessions:
            view = self.model.sessions.get(session_id)
            if view is not None and session_id in self._order:
                # A status change is news: drawn at once. Counters can wait a moment.
                self._set(session_id, "glyph", self._glyph(view))
        self._counters_due |= changes.sessions
        if self._counter_timer is None:
            self._counter_timer = self.set_timer(COUNTER_INTERVAL_S, self._draw_counters)

    def _draw_counters(self) -> None:
        self._counter_timer = None
        due, self._counters_due = self._counters_due, set()
        for session_id in due:
            view = self.model.sessions.get(session_id)
            if view is not None and session_id in self._order:
                self._update(view)
        self._update_all_row()

    def tick(self) -> None:
        """Ages move on with the clock: those of the rows on screen (scrolling brings
        the others up to date)."""
        now = self.clock.now()
        for key in self._visible_keys():
            view = self.model.sessions.get(key)
            if view is not None:
                self._set(key, "age", self._age(view, now))

    def _visible_keys(self) -> list[str]:
        top = int(self.scroll_y)
        # The header takes a row; one more covers a row cut in half.
        return self._order[max(1, top) : top + self.scrollable_content_region.height + 1]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self.tick()

    def _set(self, key: str, column: str, value: Text) -> None:
        if self._shown.get((key, column)) != value:
            self._shown[(key, column)] = value
            self.update_cell(key, column, value)

    def restyle(self) -> None:
        # Text equality ignores the style, so forget what was shown: every glyph is
        # drawn again in the new colours.
        self._shown.clear()
        for key in self._order[1:]:
            view = self.model.sessions.get(key)
            if view is not None:
                self._set(key, "glyph", self._glyph(view))
                self._set(key, "runner", self._runner(view))

    def _update(self, view: SessionView) -> None:
        key = view.session_id
        if key not in self._order:
            return
        self._set(key, "glyph", self._glyph(view))
        self._set(key, "tokens", Text(tokens(view.total_tokens), justify="right"))
        self._set(key, "cost", Text(cost(view.cost_usd), justify="right"))
        self._set(key, "age", self._age(view, self.clock.now()))

    def show_runners(self, session_ids: set[str]) -> None:
        """Redraw the runner cells of these sessions (their runner changed)."""
        for session_id in session_ids:
            view = self.model.sessions.get(session_id)
            if view is not None and session_id in self._order:
                self._set(session_id, "runner", self._runner(view))

    def _runner(self, view: SessionView) -> Text:
        runner = self.model.runners.of(view.session_id)
        if runner is None:
            return Text("")
        style = {ORPHANED: "sessions--failed", WAITING: "sessions--queued"}.get(runner.kind)
        text = runner.short if self._runner_width > 1 else runner.mark
        return Text(text, style=self.get_component_rich_style(style) if style else "dim")

    def _update_all_row(self) -> None:
        glyph_cell, title_cell, _runner, _model, token_cell, cost_cell, _age = self._all_cells()
        self._set(ALL_SESSIONS, "glyph", glyph_cell)
        self._set(ALL_SESSIONS, "title", title_cell)
        self._set(ALL_SESSIONS, "tokens", token_cell)
        self._set(ALL_SESSIONS, "cost", cost_cell)

    def _glyph(self, view: SessionView) -> Text:
        status = view.display_status
        return Text(glyph(status), style=self.get_component_rich_style(f"sessions--{status}"))

    def _age(self, view: SessionView, now: object) -> Text:
        created = view.created_at
        age = short_duration(now - created) if created else ""  # type: ignore[operator]
        return Text(age, justify="right")

    def _cells(self, view: SessionView, depth: int, last: bool) -> tuple[Text, ...]:
        guide = ""
        if depth:
            guide = "  " * (depth - 1) + ("└ " if last else "├ ")
        title = view.title or view.session_id
        if view.preset and depth:
            title = f"[{view.preset}] {title}"
        # Commands that run with nothing confining them are marked where the session is
        # listed, not only in the header of the one selected.
        mark = "⚠ " if view.unconfined or view.sandbox_mode == DANGER_FULL_ACCESS else ""
        room = max(1, (self._title_width or 30) - len(guide) - len(mark))
        title_text = Text.assemble(
            (guide, "dim"),
            (mark, self.get_component_rich_style("sessions--failed")),
            ellipsize(title, room),
        )
        return (
            self._glyph(view),
            title_text,
            self._runner(view),
            Text(ellipsize(_model_label(view), _FIXED["model"])),
            Text(tokens(view.total_tokens), justify="right"),
            Text(cost(view.cost_usd), justify="right"),
            self._age(view, self.clock.now()),
        )

    def _more_cells(self, unlisted: int) -> tuple[Text, ...]:
        noun = "session" if unlisted == 1 else "sessions"
        return (
            Text(""),
            Text(f"… {unlisted:,} older {noun} · Enter lists more", style="dim"),
            Text(""),
            Text(""),
            Text(""),
            Text(""),
            Text(""),
        )

    def _all_cells(self) -> tuple[Text, ...]:
        sessions = self.model.listed()
        others = self.model.others
        label = f"All sessions · {len(sessions) + others.sessions}"
        total = sum(v.total_tokens for v in sessions) + others.input_tokens + others.output_tokens
        return (
            Text("∗", style="bold"),
            Text(label, style="bold"),
            Text(""),
            Text(""),
            Text(tokens(total), justify="right"),
            Text(cost(sum(v.cost_usd for v in sessions) + others.cost_usd), justify="right"),
            Text(""),
        )


def _model_label(view: SessionView) -> str:
    """provider/model, or the model alone when both do not fit: the model names the
    provider well enough (claude-…, gpt-…)."""
    label = view.model_label
    return label if len(label) <= _FIXED["model"] else view.model
