"""What the GC screen draws: the project grade, the signals, the drafts, and the draft
under the cursor in full. Each shows what `engine.gc.status()` returned; none of them
reads the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable, Static

from harness_tui.gc.drafts import STATUSES, Draft, DraftsState
from harness_tui.gc.grade import DIMENSIONS, LETTERS, Grade
from harness_tui.gc.signals import Signal
from harness_tui.tui.format import ellipsize, short_duration
from harness_tui.tui.model import Clock

# The session glyphs, read the same way: waiting on you, done, refused, lapsed.
DRAFT_GLYPHS = {"pending": "◆", "adopted": "✓", "rejected": "✗", "expired": "⊘"}
# Evidence positions shown in a table cell; the draft's details list them all.
EVIDENCE_SHOWN = 6


def when(clock: Clock, ts: datetime) -> str:
    """`2025-03-14 09:38 UTC · 4m ago`, in the clock's time zone."""
    local = clock.local(ts)
    return f"{local:%Y-%m-%d %H:%M %Z}".rstrip() + f" · {short_duration(clock.now() - ts)} ago"


def positions(evidence: list[int], limit: int | None = None) -> str:
    shown = evidence if limit is None else evidence[:limit]
    text = ", ".join(map(str, shown))
    return text + (", …" if len(evidence) > len(shown) else "")


def draft_code(draft: Draft) -> tuple[str, str]:
    """(text, lexer) of what adopting would write: the `[[rule]]` table for a policy
    rule, as it lands in policy.toml, else the Markdown."""
    if draft.kind == "policy_rule" and isinstance(draft.content, dict):
        import tomlkit  # only here: the dashboard does not need it to start

        try:
            return tomlkit.dumps({"rule": [draft.content]}).rstrip("\n"), "toml"
        except (TypeError, ValueError):
            return json.dumps(draft.content, indent=2, ensure_ascii=False), "json"
    return str(draft.content).rstrip("\n"), "markdown"


class GradePanel(Static):
    """The project grade with its dimensions, when GC last ran, and the drafts by status."""

    COMPONENT_CLASSES = {"grade-panel--label"} | {f"grade-panel--{g}" for g in "ABCD"}

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.grade: Grade | None = None
        self.last_run: datetime | None = None
        self.drafts: DraftsState | None = None

    def on_mount(self) -> None:
        self.update(self._renderable())

    def show(self, grade: Grade | None, last_run: datetime | None, drafts: DraftsState) -> None:
        self.grade, self.last_run, self.drafts = grade, last_run, drafts
        self.update(self._renderable())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.update(self._renderable())

    def _renderable(self) -> RenderableType:
        if self.drafts is None:
            return Text("Reading the log…")
        label = self.get_component_rich_style("grade-panel--label")
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style=label, no_wrap=True)
        facts.add_column(ratio=1)
        facts.add_row("Project grade", self._grade())
        last = when(self.clock, self.last_run) if self.last_run else "never"
        facts.add_row("Last GC run", last)
        counts = {status: len(self.drafts.listed(status)) for status in STATUSES}
        facts.add_row(
            "Drafts",
            " · ".join(f"{n} {status}" for status, n in counts.items() if n) or "none yet",
        )
        return facts

    def _grade(self) -> Text:
        grade = self.grade
        if grade is None:
            return Text("none yet: no tool calls to judge")
        letter = grade.letter if grade.letter in "ABCD" else "D"
        style = self.get_component_rich_style(f"grade-panel--{letter}")
        dimensions = " · ".join(
            f"{name} {'–' if value is None else f'{value:.2f}'}"
            for name in DIMENSIONS
            for value in [grade.dimensions.get(name)]
        )
        calls = grade.evidence.get("tool_calls", 0)
        sessions = "session" if grade.sessions == 1 else "sessions"
        return Text.assemble(
            (f"{grade.letter} {grade.score:.2f}", style),
            f"   {dimensions}   ",
            (f"({grade.sessions} {sessions}, {calls} tool calls)", "dim"),
        )


def grade_scale() -> str:
    """`A ≥ 0.90 · B ≥ 0.75 · C ≥ 0.60 · D below`, for the panel's subtitle."""
    return " · ".join(f"{letter} ≥ {floor:.2f}" for letter, floor in LETTERS) + " · D below"


class _FlexTable(DataTable[Text]):
    """A row table whose one flexible column takes the width the fixed ones leave, so
    the text that matters most is cut last."""

    # (key, label, width); width None is the flexible column.
    COLUMNS: tuple[tuple[str, str, int | None], ...] = ()
    MIN_FLEX = 16

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._flex = 0
        self._keys: list[str] = []

    def on_resize(self) -> None:
        fixed = sum(width or 0 for _key, _label, width in self.COLUMNS)
        width = self.scrollable_content_region.width - fixed - 2 * len(self.COLUMNS)
        flex = max(self.MIN_FLEX, width)
        if flex != self._flex:
            self._flex = flex
            self.redraw()

    def on_mount(self) -> None:
        # Status colours come from the theme: draw again when it changes.
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())

    def redraw(self) -> None:
        key = self.current_key
        self.clear(columns=True)
        for column, label, width in self.COLUMNS:
            self.add_column(label, key=column, width=width or self._flex or 30)
        self._keys = []
        for row_key, cells in self._rows():
            self._keys.append(row_key)
            self.add_row(*cells, key=row_key)
        if key in self._keys:
            self.move_cursor(row=self._keys.index(key), animate=False)

    def _rows(self) -> list[tuple[str, tuple[Text, ...]]]:
        """The table's rows as (key, cells); each table says what it lists."""
        return []

    @property
    def current_key(self) -> str | None:
        if 0 <= self.cursor_row < len(self._keys):
            return self._keys[self.cursor_row]
        return None

    @property
    def flex(self) -> int:
        return self._flex or 30


class SignalsTable(_FlexTable):
    COLUMNS = (
        ("kind", "Kind", 24),
        ("count", "Count", 5),
        ("detail", "Detail", None),
        ("evidence", "Events", 24),
        ("draft", "Draft", 24),
    )
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {f"gc-draft--{s}" for s in STATUSES}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.signals: list[Signal] = []
        self.drafts: DraftsState | None = None

    def show(self, signals: list[Signal], drafts: DraftsState) -> None:
        self.signals, self.drafts = signals, drafts
        self.redraw()

    def latest_draft(self, signal_id: str) -> Draft | None:
        drafts = self.drafts.for_signal(signal_id) if self.drafts else []
        return drafts[-1] if drafts else None

    @property
    def selected_signal(self) -> Signal | None:
        key = self.current_key
        return next((s for s in self.signals if s.id == key), None)

    def _rows(self) -> list[tuple[str, tuple[Text, ...]]]:
        rows: list[tuple[str, tuple[Text, ...]]] = []
        for signal in self.signals:
            draft = self.latest_draft(signal.id)
            if draft is None or self.drafts is None:
                draft_cell = Text("—", style="dim")
            else:
                status = self.drafts.status(draft)
                draft_cell = Text.assemble(
                    f"{draft.draft_id} ",
                    (
                        f"{DRAFT_GLYPHS[status]} {status}",
                        self.get_component_rich_style(f"gc-draft--{status}"),
                    ),
                )
            rows.append(
                (
                    signal.id,
                    (
                        Text(signal.kind),
                        Text(str(signal.count), justify="right"),
                        Text(ellipsize(signal.detail, self.flex)),
                        Text(positions(signal.evidence, EVIDENCE_SHOWN), style="dim"),
                        draft_cell,
                    ),
                )
            )
        return rows


class DraftsTable(_FlexTable):
    COLUMNS = (
        ("draft", "Draft", 12),
        ("status", "Status", 10),
        ("kind", "Kind", 11),
        ("title", "Title", None),
        ("target", "Target", 20),
    )
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {f"gc-draft--{s}" for s in STATUSES}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.drafts: DraftsState | None = None

    def show(self, drafts: DraftsState) -> None:
        self.drafts = drafts
        self.redraw()

    @property
    def selected_draft(self) -> Draft | None:
        key = self.current_key
        return self.drafts.drafts.get(key) if self.drafts and key else None

    def select(self, draft_id: str) -> bool:
        if draft_id not in self._keys:
            return False
        self.move_cursor(row=self._keys.index(draft_id))
        return True

    def _rows(self) -> list[tuple[str, tuple[Text, ...]]]:
        if self.drafts is None:
            return []
        rows: list[tuple[str, tuple[Text, ...]]] = []
        # Newest first: what the last run proposed is what wants a decision.
        for draft in reversed(self.drafts.listed()):
            status = self.drafts.status(draft)
            rows.append(
                (
                    draft.draft_id,
                    (
                        Text(draft.draft_id),
                        Text(
                            f"{DRAFT_GLYPHS.get(status, '·')} {status}",
                            style=self.get_component_rich_style(f"gc-draft--{status}"),
                        ),
                        Text(draft.kind),
                        Text(ellipsize(draft.title, self.flex)),
                        Text(ellipsize(draft.target, 20)),
                    ),
                )
            )
        return rows


class DraftDetails(Static):
    """One draft in full: its signal and evidence, what became of it, and the text
    adopting it would write, highlighted."""

    COMPONENT_CLASSES = {"draft-details--label"}

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.draft: Draft | None = None
        self.status = ""

    def on_mount(self) -> None:
        self.update(self._renderable())

    def show(self, draft: Draft | None, status: str) -> None:
        self.draft, self.status = draft, status
        self.update(self._renderable())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.update(self._renderable())

    def _renderable(self) -> RenderableType:
        draft = self.draft
        if draft is None:
            return Text("No drafts yet. R runs GC, which drafts a fix for each new signal.")
        label = self.get_component_rich_style("draft-details--label")
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style=label, no_wrap=True)
        facts.add_column(ratio=1)
        signal = draft.signal
        facts.add_row(
            "Signal",
            f"{signal.get('kind', '?')} ×{signal.get('count', '?')}: {signal.get('detail', '')}",
        )
        facts.add_row("Events", positions([int(p) for p in signal.get("evidence", ())]))
        facts.add_row("Writes", f"{draft.kind} → {draft.target}")
        facts.add_row("Drafted", when(self.clock, draft.created_at))
        if draft.resolved_at is not None:
            verdict = f"by {draft.by or '?'} · {when(self.clock, draft.resolved_at)}"
            facts.add_row(draft.status.capitalize(), verdict)
        if draft.reason:
            facts.add_row("Why", draft.reason)
        code, lexer = draft_code(draft)
        syntax = Syntax(
            code,
            lexer,
            theme="monokai" if self.app.current_theme.dark else "friendly",
            word_wrap=True,
            # The pane's own background, so the text sits on it rather than in a box.
            background_color=self.app.theme_variables.get("surface"),
        )
        return Group(facts, Text(""), syntax)
