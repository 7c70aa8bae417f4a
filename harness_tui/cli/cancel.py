"""`harness-tui cancel SID`: stop a session's turn, its background tasks and subagents,
whichever process runs it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui.cli.outcome import report, timeout
from harness_tui.engine.engine import Engine

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, args, timeout(args, config)))


async def _run(
    config: Config, args: argparse.Namespace, wait: float, out: TextIO = sys.stdout
) -> int:
    # A session that an engine runs is cancelled there (a command); one left running
    # by an engine that is gone is taken over here and its turn closed.
    engine = await Engine.open(config, recover=False)
    try:
        outcome = await engine.cancel(args.session_id, wait=wait)
    finally:
        await engine.close()
    return report(outcome, f"cancel session {args.session_id}", out)
