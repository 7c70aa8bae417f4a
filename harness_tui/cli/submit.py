"""`harness-tui submit PROMPT`: queue a session for the workers and print its id, alone
on stdout, so a script can capture it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui.engine.submit import submit_session
from harness_tui.store import open_store

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, args))


async def _run(config: Config, args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    store = await open_store(config.store_url, retry_s=config.store.retry_s)
    try:
        queued = await submit_session(
            store,
            config,
            args.prompt,
            priority=args.priority,
            provider=args.provider,
            model=args.model,
            worktree=args.worktree,
            approval_mode=args.approval_mode,
            sandbox_mode=args.sandbox,
        )
    finally:
        await store.close()
    print(queued.session_id, file=out)
    return 0
