"""`harness-tui` without a subcommand: the dashboard, in this terminal.

Textual is imported here, when the dashboard opens, and nowhere else in the command
line: `--exec` and the subcommands start without it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from harness_tui.cli.exitcodes import ExitCode

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    from harness_tui.tui.factory import make_app

    app = make_app(config, demo_pace=True)
    app.run()
    if app.open_error is not None:
        # Without an engine the dashboard had nothing to show and closed; the
        # error boundary says why, once the screen is gone.
        raise app.open_error
    return app.return_code or ExitCode.OK
