"""`harness-tui gc status|drafts|adopt|reject|run`: GC's signals, remediation drafts,
grades and retention, from the shell."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import TYPE_CHECKING

from harness_tui.cli.exitcodes import ExitCode
from harness_tui.cli.process import one_shot
from harness_tui.engine.engine import Engine

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    one_shot()
    return asyncio.run(_run(config, args))


async def _run(config: Config, args: argparse.Namespace) -> int:
    engine = await Engine.open(config, recover=False)
    try:
        action = args.gc_command
        if action == "run":
            return await _gc_run(engine, config, args)
        if action == "status":
            return await _gc_status(engine, args)
        if action == "drafts":
            return await _gc_drafts(engine, args)
        if action == "adopt":
            data = await engine.gc.adopt(args.draft_id)
            print(f"adopted {data['draft_id']}: {data['kind']} written to {data['target']}")
        else:
            await engine.gc.reject(args.draft_id, args.reason or "")
            print(f"rejected {args.draft_id}")
        return ExitCode.OK
    finally:
        await engine.close()


async def _gc_run(engine: Engine, config: Config, args: argparse.Namespace) -> int:
    report = await engine.gc.run(dry_run=args.dry_run)
    would = "would " if report.dry_run else ""
    print(f"{len(report.signals)} signals")
    for signal, draft_id in report.drafted:
        print(f"  {signal.id}: {would}draft {draft_id}".rstrip())
    for signal, reason in report.skipped:
        print(f"  {signal.id}: no draft ({reason})")
    print(f"{would}prune {len(report.pruned)} sessions older than {config.gc.retention_days} days")
    for session_id in report.pruned:
        print(f"  {session_id}")
    return ExitCode.OK


async def _gc_status(engine: Engine, args: argparse.Namespace) -> int:
    status = await engine.gc.status()
    if args.json:
        print(
            json.dumps(
                {
                    "signals": [s.to_dict() for s in status.signals],
                    "grade": status.project_grade.to_dict() if status.project_grade else None,
                    "sessions": {k: g.to_dict() for k, g in status.session_grades.items()},
                    "drafts": {d.draft_id: status.drafts.status(d) for d in status.drafts.listed()},
                }
            )
        )
        return ExitCode.OK
    grade = status.project_grade
    print(f"project grade: {grade.summary() if grade else 'none (no evidence yet)'}")
    last = status.last_run.strftime("%Y-%m-%d %H:%M UTC") if status.last_run else "never"
    print(f"last GC run: {last}")
    print(f"{len(status.signals)} signals")
    for signal in status.signals:
        evidence = ", ".join(map(str, signal.evidence[:10]))
        print(f"  {signal.kind} ×{signal.count}: {signal.detail} (events {evidence})")
    pending = status.drafts.listed("pending")
    print(f"{len(pending)} pending drafts" + (" — see `harness-tui gc drafts`" if pending else ""))
    return ExitCode.OK


async def _gc_drafts(engine: Engine, args: argparse.Namespace) -> int:
    state = await engine.gc.drafts()
    for draft in state.listed(args.status):
        print(f"{draft.draft_id}  {state.status(draft):8}  {draft.kind:11}  {draft.title}")
        print(f"    target: {draft.target}   signal: {draft.signal_id}")
    return ExitCode.OK
