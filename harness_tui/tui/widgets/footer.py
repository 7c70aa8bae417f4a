"""The footer every screen shows: its keys, with quit and help first.

Textual's footer lists the focused widget's keys, then the screen's, then the app's,
and cuts off what does not fit: on a narrow terminal the app's quit and help keys were
the first to go. Here they come first, and below a width the keys close up.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer

# The app's own actions, shown before the screen's.
FIRST = ("quit", "help")
# Below this width the keys are drawn with less space between them.
COMPACT_BELOW = 140


class KeyFooter(Footer):
    # A compact footer gives every key a right margin, the palette key docked on the
    # right too: the last cell of the keys under it would show through.
    DEFAULT_CSS = """
    KeyFooter.-compact FooterKey.-command-palette {
        margin-right: 0;
    }
    """

    def compose(self) -> ComposeResult:
        # Textual's footer yields one flat run of keys (the bindings here use no
        # groups), so they can be reordered once composed.
        keys = list(super().compose())
        first = sorted(
            (key for key in keys if getattr(key, "action", None) in FIRST),
            key=lambda key: FIRST.index(key.action),  # type: ignore[attr-defined]
        )
        yield from first
        yield from (key for key in keys if key not in first)

    def on_resize(self) -> None:
        self.compact = self.size.width < COMPACT_BELOW
