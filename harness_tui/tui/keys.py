"""Every key binding of the dashboard, in one place, as Textual Bindings.

They are built from the plain data in `harness_tui.config.keymap`, where the config
also finds the ids `[keys]` may remap. Screens take their BINDINGS from here, so the
help screen and the keymap see exactly what the screens use.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding

from harness_tui.config import keymap
from harness_tui.config.keymap import KeySpec


def bindings(specs: Sequence[KeySpec]) -> list[Binding]:
    return [
        Binding(
            spec.key,
            spec.action,
            spec.description,
            show=spec.show,
            tooltip=spec.tooltip,
            id=spec.id,
        )
        for spec in specs
    ]


APP = bindings(keymap.APP)
DASHBOARD = bindings(keymap.DASHBOARD)
INPUT = bindings(keymap.INPUT)
LOG = bindings(keymap.LOG)
EVENT_DETAIL = bindings(keymap.EVENT_DETAIL)
FILTER = bindings(keymap.FILTER)
APPROVAL = bindings(keymap.APPROVAL)
APPROVAL_FORM = bindings(keymap.APPROVAL_FORM)
INBOX = bindings(keymap.INBOX)
TAIL = bindings(keymap.TAIL)
GC = bindings(keymap.GC)
REJECT_REASON = bindings(keymap.REJECT_REASON)
CONFIRM = bindings(keymap.CONFIRM)
NEW_SESSION = bindings(keymap.NEW_SESSION)
PICKER = bindings(keymap.PICKER)
HELP = bindings(keymap.HELP)

# What the help screen lists, under these headings.
CONTEXTS: tuple[tuple[str, list[Binding]], ...] = tuple(
    (heading, bindings(specs)) for heading, specs in keymap.CONTEXTS
)
