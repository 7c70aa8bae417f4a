"""The event log: a Line-API widget that paints only the rows on screen.

It shows one source of `LogLine`s (every session, or one) through a text and type
filter. Lines arrive in batches (one call per frame, however many events), the view
keeps a bounded window and drops the oldest lines in chunks, and the view follows the
newest line only while the user is at the bottom, like `tail -f` in a pager.

A cursor picks a line: up and down move it (and stop the following, as reading does),
Enter asks for the whole event behind it. Without a cursor, Enter means the newest line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from harness_tui.tui import keys
from harness_tui.tui.format import ellipsize
from harness_tui.tui.model import ALL_WINDOW, Clock
from harness_tui.tui.render import LogLine

STAMP_WIDTH = 9
KINDS = ("input", "model", "tool", "result", "policy", "approval", "task", "status", "error")
LABEL_WIDTH = 10
TAG_WIDTH = 14


class EventLog(ScrollView, can_focus=True):
    BINDINGS = [*keys.LOG]
    COMPONENT_CLASSES = {
        "event-log--time",
        "event-log--session",
        "event-log--cursor",
        *(f"event-log--{kind}" for kind in KINDS),
    }

    @dataclass
    class Open(Message):
        """Show the whole event this line belongs to."""

        line: LogLine

    class ReachedTop(Message):
        """The reader is at the oldest line shown: older history may be read."""

    def __init__(
        self,
        clock: Clock,
        *,
        window: int = ALL_WINDOW,
        tag_for: Callable[[str], str] = lambda sid: sid,
        follow_key: str = "end",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.follow_key = follow_key
        self.clock = clock
        self.window = window
        self.tag_for = tag_for
        self._source: Sequence[LogLine] = ()
        self._lines: list[LogLine] = []
        # Lines dropped from the front of _lines so far: the cursor stays on its line
        # across a trim because it counts from the first line this view ever held.
        self._dropped = 0
        self._needle = ""
        self._categories: frozenset[str] = frozenset()
        self._filter_name = "all"
        self._show_session = True
        self._unseen = 0
        # Follow the newest line until the user scrolls up; scrolling back to the
        # bottom (or G) follows again. A flag, not "is the view at the end", because
        # the view is not at the end for a moment whenever it grows or resizes.
        self._follow = True
        # Painted lines by the line itself, not by its row: a switch to another source
        # and back (all sessions, one session, a filter) finds the rows it painted
        # before, so the switch costs a frame, not a repaint of every row.
        self._cache: LRUCache[tuple[LogLine, int, str], Strip] = LRUCache(512)
        self._styles: dict[str, Style] = {}
        self._tags: dict[str, str] = {}
        self._stamps: dict[int, str] = {}
        self._paint_width = 0
        # The line under the cursor, counted like the cache keys (from the first line
        # this view ever held); None: no cursor, the newest line stands for it.
        self._cursor: int | None = None
        # Lines kept as new ones arrive: the window, plus what the reader asked for by
        # scrolling back (kept until another source is shown).
        self._limit = window
        self._switching = False
        self.last_position = 0
        """The newest store position handed to the log, shown or filtered out."""

    # -- what is shown -------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def following(self) -> bool:
        return self._follow

    @property
    def lines(self) -> Sequence[LogLine]:
        return self._lines

    @property
    def cursor_line(self) -> LogLine | None:
        """The line Enter opens: the one under the cursor, else the newest."""
        index = self._cursor_index()
        if index is not None:
            return self._lines[index]
        return self._lines[-1] if self._lines else None

    def _cursor_index(self) -> int | None:
        if self._cursor is None:
            return None
        index = self._cursor - self._dropped
        return index if 0 <= index < len(self._lines) else None

    def show(self, source: Sequence[LogLine], *, show_session: bool) -> None:
        """Switch to another source (every session, or one) and follow its end."""
        self._source = source
        self._show_session = show_session
        self._limit = self.window
        self._rebuild(follow=True)

    def extend_back(self, source: Sequence[LogLine]) -> None:
        """The same source with older lines above those shown (read as the reader
        scrolled up to them): the rows on screen stay where they are."""
        cursor = self._cursor_index()
        before = len(self._lines)
        self._source = source
        wanted = self._wanted(source)
        self._limit = max(self._limit, len(wanted))
        self._lines = wanted[-self._limit :]
        added = len(self._lines) - before
        self._dropped = 0
        self._cursor = None if cursor is None else cursor + added
        self._set_line_count(len(self._lines))
        if added > 0:
            self._follow = False
            self.scroll_to(y=self.scroll_y + added, animate=False, immediate=True, force=True)
        self.refresh()
        self._update_subtitle()

    def set_filter(self, needle: str, name: str, categories: frozenset[str]) -> None:
        self._needle = needle.strip().lower()
        self._filter_name = name
        self._categories = categories
        self._rebuild(follow=True)

    def _wanted(self, lines: Iterable[LogLine]) -> list[LogLine]:
        """The lines the filter lets through. Lines of one event stay together: an
        event is shown whole when any of its lines matches."""
        categories, needle = self._categories, self._needle
        if not categories and not needle:
            return list(lines)
        kept: list[LogLine] = []
        group: list[LogLine] = []
        hit = False
        for line in lines:
            if line.label and group:
                if hit:
                    kept.extend(group)
                group, hit = [], False
            group.append(line)
            if not hit and (not categories or line.kind in categories):
                hit = not needle or line.matches(needle)
        if hit:
            kept.extend(group)
        return kept

    def _rebuild(self, *, follow: bool) -> None:
        # Another source or filter moves the view by itself, not the reader.
        self._switching = True
        try:
            self._show_lines(follow=follow)
        finally:
            self._switching = False

    def _show_lines(self, *, follow: bool) -> None:
        self._lines = self._wanted(self._source)[-self._limit :]
        self._dropped = 0
        self._cursor = None
        self._unseen = 0
        self._tags.clear()
        self._set_line_count(len(self._lines))
        if follow:
            self._follow = True
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self.refresh()
        self._update_subtitle()

    def add(self, lines: Sequence[LogLine]) -> None:
        """New lines of the current source, in order; called once per batch."""
        if not lines:
            return
        if lines[-1].position:
            self.last_position = max(self.last_position, lines[-1].position)
        # A continuation line whose first line is already in the view belongs to it.
        wanted = self._wanted(lines)
        if not wanted:
            return
        following = self._follow and self._cursor is None and not self.is_vertical_scrollbar_grabbed
        self._lines.extend(wanted)
        excess = len(self._lines) - self._limit
        trimmed = 0
        # Trimming in chunks keeps the list's front deletions rare.
        if excess > self.window // 10:
            trimmed = excess
            del self._lines[:trimmed]
            self._dropped += trimmed
        self._set_line_count(len(self._lines))
        if following:
            self._unseen = 0
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        else:
            self._unseen += len(wanted)
            if trimmed:
                # Keep the rows the reader is looking at where they are.
                self.scroll_to(
                    y=max(0, self.scroll_y - trimmed), animate=False, immediate=True, force=True
                )
        self.refresh()
        self._update_subtitle()

    def _set_line_count(self, count: int) -> None:
        """Set the scrollable height without laying out the whole screen: a layout
        costs tens of milliseconds on a full dashboard, and the log grows every frame.
        Only the scrollbar needs to know; it asks for a layout itself when it has to
        appear or go."""
        size = Size(0, count)
        if size != self.virtual_size:
            self.set_reactive(EventLog.virtual_size, size)
            self._scroll_update(size)

    def follow(self) -> None:
        self._follow = True
        self._unseen = 0
        if self._cursor is not None:
            self._cursor = None
            self.refresh()
        self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)
        self._update_subtitle()

    # -- the cursor ----------------------------------------------------------------

    def _visible_rows(self) -> tuple[int, int]:
        top = int(self.scroll_y)
        return top, min(len(self._lines), top + self.scrollable_content_region.height)

    def _move_cursor(self, index: int) -> None:
        if index < 0:
            self.post_message(self.ReachedTop())
        index = max(0, min(index, len(self._lines) - 1))
        self._cursor = index + self._dropped
        self._follow = False
        top, bottom = self._visible_rows()
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True, force=True)
        elif index >= bottom:
            height = self.scrollable_content_region.height
            self.scroll_to(y=index - height + 1, animate=False, immediate=True, force=True)
        self.refresh()
        self._update_subtitle()

    def action_cursor_up(self) -> None:
        if not self._lines:
            return
        index = self._cursor_index()
        top, bottom = self._visible_rows()
        last = len(self._lines) - 1
        if index is None and bottom > last:
            # The newest line stood for the cursor: up is the line above it.
            self._move_cursor(last - 1)
        elif index is None or not top <= index < bottom:
            # From where the reader is looking: the bottom line on screen.
            self._move_cursor(bottom - 1)
        else:
            self._move_cursor(index - 1)

    def action_cursor_down(self) -> None:
        index = self._cursor_index()
        if index is None:
            return
        if index >= len(self._lines) - 1:
            # Past the newest line: back to following the tail.
            self.follow()
            return
        top, bottom = self._visible_rows()
        self._move_cursor(index + 1 if top <= index < bottom else top)

    def action_open_event(self) -> None:
        line = self.cursor_line
        if line is not None:
            self.post_message(self.Open(line))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = int(self.scroll_y) + offset.y
        if 0 <= index < len(self._lines):
            self._move_cursor(index)
            if event.chain >= 2:
                self.action_open_event()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def action_scroll_end(self) -> None:
        self.follow()

    def on_resize(self) -> None:
        self._cache.clear()
        if self._follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll_y <= 0 and self._lines:
            self.post_message(self.ReachedTop())

    # At the top already, these move nothing (and watch_scroll_y hears of nothing),
    # yet the reader asks for what is above.
    def action_scroll_home(self) -> None:
        if self.scroll_y <= 0:
            self.post_message(self.ReachedTop())
        super().action_scroll_home()

    def action_scroll_up(self) -> None:
        if self.scroll_y <= 0:
            self.post_message(self.ReachedTop())
        super().action_scroll_up()

    def action_page_up(self) -> None:
        if self.scroll_y <= 0:
            self.post_message(self.ReachedTop())
        super().action_page_up()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if new_value <= 0 < old_value and not self._switching:
            self.post_message(self.ReachedTop())
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and new_value < self.max_scroll_y:
            self._follow = False
        elif new_value >= self.max_scroll_y and self._cursor is None:
            self._follow = True
            self._unseen = 0
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        # The filters are in the title, which the dashboard writes.
        parts = []
        if self._cursor is not None:
            parts.append(f"cursor · Enter shows the event · {self.follow_key} follows")
        elif self._follow:
            parts.append("following")
        elif self._unseen:
            parts.append(f"paused · {self._unseen:,} new below · {self.follow_key} follows")
        else:
            parts.append(f"paused · {self.follow_key} follows")
        parts.append(f"{len(self._lines):,} lines")
        subtitle = " · ".join(parts)
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle

    # -- painting ------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()
        self._stamps.clear()

    def _style(self, name: str) -> Style:
        # Styles are looked up once per theme or style change, not once per line:
        # working them out from the CSS is the dearest part of painting a line.
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"event-log--{name}")
            self._styles[name] = style
        return style

    def _tag(self, session_id: str) -> str:
        tag = self._tags.get(session_id)
        if tag is None:
            tag = self._tags[session_id] = ellipsize(self.tag_for(session_id), TAG_WIDTH - 1)
        return tag

    def render_lines(self, crop: Region) -> list[Strip]:
        # Worked out once per paint rather than once per line.
        self._paint_width = self.scrollable_content_region.width
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self._paint_width or self.scrollable_content_region.width
        index = int(self.scroll_y) + y
        if index >= len(self._lines):
            return Strip.blank(width, self._style("base"))
        line = self._lines[index]
        # The session column's tag is in the key: a session's title can arrive later.
        key = (line, width, self._tag(line.session_id) if self._show_session else "")
        strip = self._cache.get(key)
        if strip is None:
            strip = self._cache[key] = self._paint(line, width)
        if self.has_focus and self._is_cursor(index):
            strip = self._highlight(strip)
        return strip.apply_offsets(0, index)

    def _is_cursor(self, index: int) -> bool:
        cursor = self._cursor_index()
        if cursor is None:
            return self._cursor is None and index == len(self._lines) - 1
        return index == cursor

    def _highlight(self, strip: Strip) -> Strip:
        cursor = self._style("cursor")
        return Strip(
            [Segment(text, (style or cursor) + cursor, control) for text, style, control in strip],
            strip.cell_length,
        )

    def _stamp(self, ts: datetime) -> str:
        key = int(ts.timestamp())
        stamp = self._stamps.get(key)
        if stamp is None:
            if len(self._stamps) > 4096:
                self._stamps.clear()
            stamp = self._stamps[key] = self.clock.local(ts).strftime("%H:%M:%S ")
        return stamp

    def _paint(self, line: LogLine, width: int) -> Strip:
        """One line as a strip exactly `width` cells wide. At firehose rates every
        visible line is new in every frame, so this stays lean: styles and time
        stamps come from caches and the text is cut to fit before it becomes a strip."""
        styles = self._styles
        base = self._style("base")
        kind = line.kind if line.kind in KINDS else "status"
        text_style = styles.get(f"{kind}-text")
        if text_style is None:
            text_style = styles[f"{kind}-text"] = base + self._style(kind)
            styles[f"{kind}-label"] = text_style + Style(bold=True)
            styles["time-cell"] = base + self._style("time")
            styles["session-cell"] = base + self._style("session")
        segments: list[Segment] = []
        if line.label:
            segments.append(Segment(self._stamp(line.ts), styles["time-cell"]))
            used = STAMP_WIDTH
            if self._show_session:
                tag = self._tag(line.session_id)
                segments.append(Segment(f"{tag:<{TAG_WIDTH}}", styles["session-cell"]))
                used += TAG_WIDTH
            segments.append(Segment(f"{line.label:<{LABEL_WIDTH}}", styles[f"{kind}-label"]))
            used += LABEL_WIDTH
        else:
            used = STAMP_WIDTH + (TAG_WIDTH if self._show_session else 0) + LABEL_WIDTH
            segments.append(Segment(" " * used, base))
        if used >= width:
            return Strip(segments).crop_extend(0, width, base)
        room = width - used
        text = line.text
        if text.isascii():
            text = text[:room].ljust(room)
        else:
            text = set_cell_size(text, room)
        segments.append(Segment(text, text_style))
        return Strip(segments, width)
