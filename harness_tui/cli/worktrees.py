"""`harness-tui worktrees [list|prune]`: the project's worktree sessions, from the event
log and `git worktree list`, and removal of stale worktrees."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.process import one_shot
from harness_tui.cli.render import recovery_line
from harness_tui.engine.engine import Engine
from harness_tui.engine.worktree_sessions import WorktreeRecord

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    one_shot()
    return asyncio.run(_run(config, args.action, as_json=args.json))


async def _run(config: Config, action: str, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    # Listing only reads. Pruning first recovers what dead processes left (that fails
    # their sessions and removes their worktrees), then removes what is still stale.
    engine = await Engine.open(config, recover=action == "prune")
    try:
        for failure in engine.recovery_failures:
            print(recovery_line(failure), file=sys.stderr)
        if action == "prune":
            pruned = await engine.prune_worktrees()
            _show_pruned(pruned, as_json, out)
        else:
            _show(await engine.worktree_records(), as_json, out)
    finally:
        await engine.close()
    return ExitCode.OK


def changes(record: WorktreeRecord) -> str:
    if record.files is None:
        return "-"
    return f"{record.files} files +{record.insertions} -{record.deletions}"


def _show(records: list[WorktreeRecord], as_json: bool, out: TextIO) -> None:
    if as_json:
        for record in records:
            out.write(json.dumps(record.to_dict()) + "\n")
        return
    if not records:
        out.write("no worktree sessions\n")
        return
    rows = [("SESSION", "BRANCH", "STATUS", "WORKTREE", "CHANGES", "TITLE")]
    rows += [
        (r.session_id, r.branch, r.status or "-", r.worktree, changes(r), r.title) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[5]]).rstrip() + "\n")


def _show_pruned(records: list[WorktreeRecord], as_json: bool, out: TextIO) -> None:
    if as_json:
        for record in records:
            out.write(json.dumps({**record.to_dict(), "pruned": True}) + "\n")
        return
    if not records:
        out.write("nothing to prune\n")
        return
    for record in records:
        whose = (
            "no session in the log"
            if record.worktree == "unknown"
            else f"session {record.session_id}, {record.status}"
        )
        out.write(f"removed {record.path} ({whose}); branch {record.branch} kept\n")
