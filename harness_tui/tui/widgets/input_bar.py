"""The input bar: a prompt for an idle session, steering for a running turn, or a
follow-up queued behind it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message
from textual.widgets import Input

from harness_tui.tui import keys


class InputBar(Input):
    BINDINGS = [*keys.INPUT]

    def __init__(self, **kwargs: Any) -> None:
        # Focus never selects the draft: the key that focused the bar is already in
        # it, and the next one must not replace it.
        kwargs.setdefault("select_on_focus", False)
        super().__init__(**kwargs)

    @dataclass
    class Send(Message):
        text: str
        # "send": steer a running turn, else prompt; "follow_up": after the turn.
        how: str

    class Leave(Message):
        """The user is done typing; focus goes back to the session list."""

    def set_hints(self, *, focused: str, unfocused: str) -> None:
        """What the empty bar says: how to use it while focused, and while not (typing
        on the dashboard goes to the bar)."""
        self._hints = (focused, unfocused)
        self._show_hint()

    def _show_hint(self) -> None:
        focused, unfocused = getattr(self, "_hints", ("", ""))
        hint = focused if self.has_focus else unfocused
        if self.placeholder != hint:
            self.placeholder = hint

    def on_focus(self) -> None:
        self._show_hint()

    def on_blur(self) -> None:
        self._show_hint()

    def action_send(self) -> None:
        self._post("send")

    def action_follow_up(self) -> None:
        self._post("follow_up")

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def _post(self, how: str) -> None:
        text = self.value.strip()
        if text:
            self.post_message(self.Send(text, how))
