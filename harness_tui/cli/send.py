"""`harness-tui send SID TEXT [--steer]`: a follow-up for a session, or steering for its
running turn, whichever process runs it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui.cli.errors import UsageError
from harness_tui.cli.outcome import report, timeout
from harness_tui.engine.engine import Engine

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    if not args.text.strip():
        raise UsageError("send needs a non-empty TEXT")
    return asyncio.run(_run(config, args, timeout(args, config)))


async def _run(
    config: Config, args: argparse.Namespace, wait: float, out: TextIO = sys.stdout
) -> int:
    mode = "steer" if args.steer else "follow_up"
    # Only reads and sends a command: the turn runs in the engine that runs the session.
    engine = await Engine.open(config, recover=False)
    try:
        outcome = await engine.send(args.session_id, args.text, mode, wait=wait, run_here=False)
    finally:
        await engine.close()
    return report(outcome, f"{mode.replace('_', '-')} to session {args.session_id}", out)
