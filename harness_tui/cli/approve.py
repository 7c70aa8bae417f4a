"""`harness-tui approve ID [--always | --deny [REASON] | --edit COMMAND]`: answer a
pending approval, whichever process asked for it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any, TextIO

from harness_tui.cli.errors import UsageError
from harness_tui.cli.outcome import report, timeout
from harness_tui.engine.engine import Engine, EngineError

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(_run(config, args, timeout(args, config)))


async def _run(
    config: Config, args: argparse.Namespace, wait: float, out: TextIO = sys.stdout
) -> int:
    approval_id: str = args.approval_id
    # Only reads and sends a command: this process never runs the session's turn.
    engine = await Engine.open(config, recover=False)
    try:
        decision, reason, edited = await _answer(engine, args)
        outcome = await engine.resolve_approval(
            approval_id, decision, reason, edited, wait=wait, run_here=False
        )
    finally:
        await engine.close()
    return report(outcome, f"approval {approval_id}: {decision}", out)


async def _answer(
    engine: Engine, args: argparse.Namespace
) -> tuple[str, str | None, dict[str, Any] | None]:
    if args.always:
        return "allow_always", None, None
    if args.deny is not None:
        return "deny", args.deny or None, None
    if args.edit is None:
        return "allow_once", None, None
    if not args.edit.strip():
        raise UsageError("--edit needs the command to run instead")
    for state, approval in await engine.pending_approvals():
        if approval.approval_id != args.approval_id:
            continue
        call = state.open_calls.get(approval.call_id)
        if call is None or "command" not in call.arguments:
            raise UsageError(
                f"--edit: approval {args.approval_id} is not for a shell command; allow or deny it"
            )
        return "edit", None, {**call.arguments, "command": args.edit}
    raise EngineError(f"no pending approval {args.approval_id!r}")
