"""`harness-tui sessions [--json] [--status S]`: the sessions in the store, newest first,
with the engine (host and pid) that runs each; first the sessions `submit` queued that
no worker has started yet (status queued, nothing of theirs in the log)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.engine.engine import Engine
from harness_tui.engine.owner import pid_gone
from harness_tui.store import Lease
from harness_tui.store.queue import QUEUED, QueuedSession

if TYPE_CHECKING:
    from harness_tui.config import Config


def runner(lease: Lease | None) -> str:
    """Who runs a session, as the lease says (and, on its own machine, its pid)."""
    if lease is None:
        return "-"
    where = f"{lease.host} pid {lease.pid}"
    if lease.expired:
        return f"orphaned ({where}, lease expired)"
    if pid_gone(lease.host, lease.pid, lease.pid_start):
        return f"orphaned ({where}, process gone)"
    return where


def lease_dict(lease: Lease | None) -> dict[str, Any] | None:
    if lease is None:
        return None
    return {
        "engine": lease.owner,
        "host": lease.host,
        "pid": lease.pid,
        "expires_at": lease.expires_at.isoformat(),
        "expired": lease.expired,
    }


def _queued_row(entry: QueuedSession) -> dict[str, Any]:
    """A submitted session no worker has started, in the shape of a session's row."""
    submitted = entry.submitted_at.isoformat() if entry.submitted_at else None
    return {
        "session_id": entry.session_id,
        "title": " ".join(entry.prompt.split()),
        "status": QUEUED,
        "project": entry.project,
        "provider": entry.provider,
        "model": entry.model,
        "parent_id": None,
        "created_at": submitted,
        "updated_at": submitted,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "lease": None,
        "queue": {"priority": entry.priority, "submitted_by": entry.submitted_by},
    }


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, status=args.status, as_json=args.json))


async def _run(
    config: Config, *, status: str | None, as_json: bool, out: TextIO = sys.stdout
) -> int:
    engine = await Engine.open(config, recover=False)
    try:
        summaries = await engine.sessions()
        leases = await engine.leases()
        queue = await engine.queue()
    finally:
        await engine.close()
    started = {s.session_id for s in summaries}
    # Newest first, like the sessions: the last submitted on top.
    waiting = [q for q in reversed(queue) if q.state == QUEUED and q.session_id not in started]
    if status is not None:
        summaries = [s for s in summaries if s.status == status]
        waiting = waiting if status == QUEUED else []
    if as_json:
        for q in waiting:
            out.write(json.dumps(_queued_row(q)) + "\n")
        for s in summaries:
            row = {
                "session_id": s.session_id,
                "title": s.title,
                "status": s.status,
                "project": s.project,
                "provider": s.provider,
                "model": s.model,
                "parent_id": s.parent_id,
                "created_at": s.created_at.isoformat(),
                "updated_at": s.updated_at.isoformat(),
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "cost_usd": s.cost_usd,
                "lease": lease_dict(leases.get(s.session_id)),
            }
            out.write(json.dumps(row) + "\n")
        return ExitCode.OK
    if not summaries and not waiting:
        out.write("no sessions" + (f" with status {status}" if status else "") + "\n")
        return ExitCode.OK
    table = [("SESSION", "STATUS", "RUNNER", "UPDATED", "TITLE")]
    table += [
        (
            q.session_id,
            QUEUED,
            "queued for a worker",
            q.submitted_at.strftime("%Y-%m-%d %H:%M:%S") if q.submitted_at else "",
            " ".join(q.prompt.split()),
        )
        for q in waiting
    ]
    table += [
        (
            s.session_id,
            s.status,
            runner(leases.get(s.session_id)),
            s.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            s.title,
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for line in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)))
        out.write("  " + line[4] + "\n")
    return ExitCode.OK
