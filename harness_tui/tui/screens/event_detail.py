"""One event in full: what the log line cut off, wrapped, and the event's JSON data.

The dashboard keeps only the lines it draws, not the events; the event itself is read
back from the store by its position when the view opens.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from harness_tui.events import Event
from harness_tui.tui import keys
from harness_tui.tui.model import Clock
from harness_tui.tui.render import LogLine, readable
from harness_tui.tui.widgets.footer import KeyFooter

# A string this long, or of several lines, is shown whole above the JSON, where it
# reads as text rather than as one escaped JSON line.
LONG_TEXT = 60


def long_texts(data: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) of every long or multi-line string in the event's data."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from long_texts(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from long_texts(value, f"{path}[{index}]")
    elif isinstance(data, str) and ("\n" in data.strip() or len(data) > LONG_TEXT):
        yield path, data


class EventDetailScreen(ModalScreen[None]):
    BINDINGS = [*keys.EVENT_DETAIL]
    COMPONENT_CLASSES = {"event-detail--label"}

    def __init__(
        self,
        line: LogLine,
        *,
        session_title: str,
        clock: Clock,
        read_event: Callable[[int], Awaitable[Event | None]],
    ) -> None:
        super().__init__()
        self.line = line
        self.session_title = session_title
        self.clock = clock
        self.read_event = read_event
        self.event: Event | None = None
        self._problem = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="event-dialog", classes="dialog") as dialog:
            dialog.border_title = f"Event · {self.line.type}"
            dialog.border_subtitle = "Esc closes"
            with VerticalScroll(id="event-body"):
                yield Static(self._renderable(), id="event-content")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#event-body").focus()
        self._load()

    @work(exclusive=True, exit_on_error=False, group="event-detail", description="Read the event")
    async def _load(self) -> None:
        if not self.line.position:
            self._problem = "This line has no position in the store."
        else:
            try:
                self.event = await self.read_event(self.line.position)
            except Exception as exc:  # the store is gone or failing: say so in place
                self._problem = f"Could not read the event: {exc}"
            else:
                if self.event is None:
                    self._problem = f"The store holds no event at position {self.line.position}."
        self.query_one("#event-content", Static).update(self._renderable())

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.query_one("#event-content", Static).update(self._renderable())

    def _renderable(self) -> RenderableType:
        line, event = self.line, self.event
        label = self.get_component_rich_style("event-detail--label")
        facts = Table.grid(padding=(0, 2))
        facts.add_column(style=label, no_wrap=True)
        facts.add_column(ratio=1)
        facts.add_row("Session", f"{self.session_title}  ({line.session_id})")
        facts.add_row("Time", self.clock.local(line.ts).strftime("%Y-%m-%d %H:%M:%S %Z"))
        where = f"position {line.position}"
        if event is not None:
            where += f" · seq {event.seq}"
        facts.add_row("Event", f"{line.type} · {where}")
        parts: list[RenderableType] = [facts]
        if event is None:
            parts += [Text(""), Text(self._problem or "Reading the event…", style="italic")]
            return Group(*parts)
        for where, text in long_texts(event.data):
            parts += [Text(""), Text(where, style=label), Text(readable(text))]
        code = json.dumps(event.data, indent=2, ensure_ascii=False, default=str)
        syntax = Syntax(
            code,
            "json",
            theme="monokai" if self.app.current_theme.dark else "friendly",
            word_wrap=True,
            background_color=self.app.theme_variables.get("surface"),
        )
        parts += [Text(""), Text("Data", style=label), syntax]
        return Group(*parts)

    def action_close(self) -> None:
        self.dismiss(None)
