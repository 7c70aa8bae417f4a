"""`harness-tui policy check|test`: the policy, asked directly. `check` answers with
its exit code as well as its output (see PolicyCheckExit)."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

from harness_tui.cli.exitcodes import ExitCode, PolicyCheckExit
from harness_tui.policy.evaluate import evaluate_command, explain
from harness_tui.policy.rules import default_rule_paths, load_rules

if TYPE_CHECKING:
    from harness_tui.config import Config


def run(args: argparse.Namespace, config: Config) -> int:
    # Loading checks every rule's examples; a failing one raises PolicyLoadError.
    rules = load_rules(default_rule_paths(config.project), recheck=args.policy_command == "test")
    if args.policy_command == "test":
        examples = sum(len(rule.match) + len(rule.not_match) for rule in rules)
        print(f"{len(rules)} rules, {examples} examples, all pass ({', '.join(rules.sources)})")
        return ExitCode.OK
    mode = args.mode or config.policy.approval_mode
    decision = evaluate_command(
        args.shell_command,
        rules,
        mode,
        str(config.project),
        os.path.expanduser("~"),
        sandboxed=not args.no_sandbox,
    )
    if args.json:
        print(json.dumps(decision.to_json()))
    else:
        print(explain(decision))
    return PolicyCheckExit[decision.decision.upper()]
