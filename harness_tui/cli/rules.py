"""`harness-tui rules check`: run the project's code-rule guards and print what they
found."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.engine.engine import Engine
from harness_tui.gc.coderules import format_violation

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_check(config, args))


async def _check(config: Config, args: argparse.Namespace) -> int:
    engine = await Engine.open(config, recover=False)
    try:
        report = await engine.gc.check_rules()
    finally:
        await engine.close()
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        for violation in report.violations:
            print(format_violation(violation))
        for error in report.errors:
            print(f"error: {error}", file=sys.stderr)
        print(f"{len(report.violations)} violations, {len(report.errors)} errors")
    if report.violations:
        return ExitCode.FAILURE
    # A guard that cannot run must not pass silently.
    return ExitCode.USAGE if report.errors else ExitCode.OK
