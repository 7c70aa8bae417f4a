"""`harness-tui worker`: run queued sessions until SIGTERM or Ctrl-C (engine.worker);
progress lines on stderr."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from harness_tui.engine.worker import Worker

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, args.max_sessions))


async def _run(config: Config, max_sessions: int | None) -> int:
    def say(line: str) -> None:
        print(f"harness-tui worker {line}", file=sys.stderr, flush=True)

    worker = Worker(config, max_sessions=max_sessions, say=say)
    loop = asyncio.get_running_loop()
    # Installed before anything starts: a signal at any moment stops it the same way.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, worker.stop)
    try:
        await worker.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0
