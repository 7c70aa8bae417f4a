"""`harness-tui approvals [--json]`: every approval waiting for an answer, across the
sessions in the store, with the engine that waits for it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.sessions import runner
from harness_tui.engine.engine import Engine

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, as_json=args.json))


async def _run(config: Config, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    engine = await Engine.open(config, recover=False)
    try:
        pending = await engine.pending_approvals()
        leases = await engine.leases({state.session_id for state, _ in pending})
    finally:
        await engine.close()
    rows: list[dict[str, Any]] = []
    for state, approval in pending:
        rows.append(
            {
                "approval_id": approval.approval_id,
                "session_id": state.session_id,
                "title": state.title,
                "tool": approval.tool,
                "summary": approval.summary,
                "reason": approval.reason,
                "risk": approval.risk,
                "rule_id": approval.rule_id,
                "requested_at": approval.requested_at.isoformat(),
                "runner": runner(leases.get(state.session_id)),
            }
        )
    if as_json:
        for row in rows:
            out.write(json.dumps(row) + "\n")
        return ExitCode.OK
    if not rows:
        out.write("no pending approvals\n")
        return ExitCode.OK
    table = [("APPROVAL", "SESSION", "RISK", "RULE", "RUNNER", "SUMMARY")]
    table += [
        (
            r["approval_id"],
            r["session_id"],
            r["risk"],
            r["rule_id"] or "-",
            r["runner"],
            r["summary"].splitlines()[0] if r["summary"] else "",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for line in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=False)))
        out.write("  " + line[5] + "\n")
    return ExitCode.OK
