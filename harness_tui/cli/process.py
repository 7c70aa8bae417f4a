"""How a one-shot command's process is set up."""

from __future__ import annotations

import gc


def one_shot() -> None:
    """A command that reads a projection, prints and exits: Python's cycle collector
    off for its short life. A checkpoint's parts are tens of thousands of small objects
    that all stay alive until the process ends; each of the collector's full rounds
    walks them all again, which doubled the time `gc status` took on a year of history,
    and finds nothing (JSON values hold no cycles). The dashboard, which lives on,
    keeps its collector."""
    gc.disable()
