"""`harness-tui queue [--json] [--all]`: the sessions `submit` queued that have not run
to their end yet (waiting for a worker, or claimed by one), in the order workers claim
them; with --all, the finished ones too."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.store import open_store
from harness_tui.store.queue import CLAIMED, DONE, QUEUED, QueuedSession

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, as_json=args.json, everything=args.all))


async def _run(config: Config, *, as_json: bool, everything: bool, out: TextIO = sys.stdout) -> int:
    store = await open_store(config.store_url, retry_s=config.store.retry_s)
    try:
        states = (QUEUED, CLAIMED, DONE) if everything else (QUEUED, CLAIMED)
        entries = await store.queued_sessions(states)
    finally:
        await store.close()
    # Claimed ones first (they run), then the waiting ones in the order they are taken.
    entries.sort(key=lambda q: (q.state != CLAIMED, q.state == DONE, -q.priority, q.number))
    if as_json:
        for entry in entries:
            out.write(json.dumps(entry.to_dict()) + "\n")
        return ExitCode.OK
    if not entries:
        out.write("the queue is empty\n")
        return ExitCode.OK
    table = [("SESSION", "STATE", "PRIORITY", "WORKER", "SUBMITTED BY", "PROJECT")]
    table += [_row(entry) for entry in entries]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for line in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)))
        out.write("  " + line[5] + "\n")
    return ExitCode.OK


def _row(entry: QueuedSession) -> tuple[str, str, str, str, str, str]:
    return (
        entry.session_id,
        entry.state,
        str(entry.priority),
        entry.worker or "-",
        entry.submitted_by,
        entry.project,
    )
