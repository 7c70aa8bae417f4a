"""`harness-tui config show`: the merged configuration and where each value came from.
`harness-tui config check`: every problem in it at once, one per line."""

from __future__ import annotations

import argparse
import sys

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.parser import overrides
from harness_tui.config import Config, check_config, config_files, format_config


def run(args: argparse.Namespace, config: Config) -> int:
    print(format_config(config, as_json=args.json))
    return ExitCode.OK


def check(args: argparse.Namespace) -> int:
    """Runs before any config is loaded: loading stops at the problems it lists."""
    problems = check_config(project=args.project, flags=overrides(args))
    for problem in problems:
        print(f"harness-tui: {problem}", file=sys.stderr)
    if problems:
        return ExitCode.USAGE
    files = ", ".join(str(path) for path in config_files(args.project))
    print(f"config OK: {files}")
    return ExitCode.OK
