"""The one way to build the dashboard app: the command line, the snapshot tests, the
screenshot command and the benchmark all call `make_app`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from harness_tui.tui.app import HarnessApp

if TYPE_CHECKING:
    from harness_tui.config import Config
    from harness_tui.tui.model import Clock

# A scripted reply's pause in the dashboard when the config sets none: long enough to
# watch the demo stream and to steer it mid-turn.
DEMO_DELAY_MS = 1200


def make_app(
    config: Config,
    *,
    app_class: type[HarnessApp] = HarnessApp,
    clock: Clock | None = None,
    watch_theme_files: bool = True,
    demo_pace: bool = False,
    key_guard_ms: int | None = None,
) -> HarnessApp:
    """The dashboard for `config`.

    `app_class`: HarnessApp or a subclass (tests record notifications with one).
    `clock`: a fixed clock makes pictures repeatable. `watch_theme_files`: reload
    themes when their files change. `demo_pace`: for a person watching, the scripted
    provider replies slowly enough to follow (and steer) unless the config says
    otherwise; tests and pictures keep its own pace. `key_guard_ms`: how long an
    approval prompt ignores keys after it opens, instead of `[ui] key_guard_ms`
    (tests that answer a prompt as soon as it opens set 0).
    """
    if demo_pace and config.scripted.delay_ms == 0:
        config = replace(config, scripted=replace(config.scripted, delay_ms=DEMO_DELAY_MS))
    return app_class(
        config, clock=clock, watch_theme_files=watch_theme_files, key_guard_ms=key_guard_ms
    )
