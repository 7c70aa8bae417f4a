"""The one line `approve`, `send` and `cancel` end with, and their exit code: what came
of the command they sent (see CONTROL_EPILOG in parser.py)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from harness_tui.cli.errors import UsageError
from harness_tui.cli.exitcodes import ExitCode
from harness_tui.engine.engine import CommandOutcome

if TYPE_CHECKING:
    from harness_tui.config import Config


def timeout(args: argparse.Namespace, config: Config) -> float:
    """--timeout, else [control] command_timeout_s."""
    value = args.timeout
    if value is None:
        return config.control.command_timeout_s
    if not 0 <= value < 1e9:
        raise UsageError(f"--timeout {value:g}: expected seconds, 0 or more")
    return float(value)


def report(outcome: CommandOutcome, what: str, out: TextIO) -> int:
    """Print the outcome of `what` ("approval ap_1: allow_once"); its exit code.
    (A rejection is raised, CommandRejected, and reported by the error boundary.)"""
    if outcome.status == "pending":
        out.write(
            f"pending: {what}: not applied yet (command {outcome.command_id}); no engine "
            "runs the session now, or it has not got to it: the command stays queued and "
            "is applied by whoever runs the session next\n"
        )
        return ExitCode.PENDING
    where = f" by {outcome.settled_by}" if outcome.settled_by else " here"
    if outcome.command_id is None:
        where = " (this process ran the session)"
    out.write(f"applied: {what}{where}\n")
    return ExitCode.OK
