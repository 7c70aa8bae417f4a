"""`harness-tui config show`: the merged configuration and where each value came from."""

from __future__ import annotations

import argparse

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.config import Config, format_config


def run(args: argparse.Namespace, config: Config) -> int:
    print(format_config(config, as_json=args.json))
    return ExitCode.OK
