"""The command line: `harness-tui` opens the dashboard, `--exec` runs one prompt
headless, and each subcommand has a module of its own here. `parser` reads the
arguments, `errors` turns whatever fails into one line and an exit code.

A subcommand's module is imported only when it runs: `--exec` must start without
importing Textual, which only the dashboard needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from harness_tui.cli.errors import guarded
from harness_tui.cli.parser import overrides, parse


def main(argv: Sequence[str] | None = None) -> NoReturn:
    sys.exit(guarded(lambda: _run(argv)))


def _run(argv: Sequence[str] | None) -> int:
    from harness_tui.config import load_config

    args = parse(argv)
    if args.command == "config" and args.config_command == "check":
        from harness_tui.cli import config as config_command

        return config_command.check(args)
    command = _subcommand(args)
    config = load_config(project=args.project, flags=overrides(args))
    return command(args, config)


def _subcommand(args: argparse.Namespace) -> Callable[..., int]:
    if args.exec_prompt is not None:
        from harness_tui.cli import exec

        return exec.run
    if args.command == "config":
        from harness_tui.cli import config

        return config.run
    if args.command == "tail":
        from harness_tui.cli import tail

        return tail.run
    if args.command == "worktrees":
        from harness_tui.cli import worktrees

        return worktrees.run
    if args.command == "gc":
        from harness_tui.cli import gc

        return gc.run
    if args.command == "rules":
        from harness_tui.cli import rules

        return rules.run
    if args.command == "policy":
        from harness_tui.cli import policy

        return policy.run
    if args.command == "sessions":
        from harness_tui.cli import sessions

        return sessions.run
    if args.command == "approvals":
        from harness_tui.cli import approvals

        return approvals.run
    if args.command == "approve":
        from harness_tui.cli import approve

        return approve.run
    if args.command == "send":
        from harness_tui.cli import send

        return send.run
    if args.command == "cancel":
        from harness_tui.cli import cancel

        return cancel.run
    if args.command == "submit":
        from harness_tui.cli import submit

        return submit.run
    if args.command == "queue":
        from harness_tui.cli import queue

        return queue.run
    if args.command == "agents":
        from harness_tui.cli import agents

        return agents.run
    if args.command == "worker":
        from harness_tui.cli import worker

        return worker.run
    from harness_tui.cli import dashboard

    return dashboard.run
