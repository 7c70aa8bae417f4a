"""The dashboard app. Until it lands, `harness-tui` without a command prints help."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness_tui.config import Config


def run_dashboard(config: Config) -> int:
    from harness_tui.cli import build_parser

    build_parser().print_help()
    return 0
