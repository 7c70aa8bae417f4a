"""The policy gate: what the loop asks before a tool call runs.

Shell commands go through the rule set; file writes are shown as diffs and prompt in
`untrusted` mode. Whatever the mode, file tools may not write git's internals (hooks
and config run code on the next git command) or the harness's own files (.harness/,
where the policy and config live, or an agent could approve itself), may not read or
write credentials, and may not use a path that leaves the workspace or that the kernel
cannot resolve: those calls are forbidden before they run, with the reason. The tools
check the same again on the directory handles they write through (policy.jail).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

from harness_tui.backends.base import Verdict
from harness_tui.policy.evaluate import evaluate_command
from harness_tui.policy.jail import (
    JailError,
    check_read,
    check_write,
    open_in_workspace,
    workspace_relative,
)
from harness_tui.policy.matching import RuleSet
from harness_tui.policy.rules import default_rule_paths, load_rules
from harness_tui.tools.base import ToolError
from harness_tui.tools.files import preview_edit, preview_write, unified_diff

FILE_WRITERS = frozenset({"write_file", "edit_file"})
# Tools that read the file or directory their `path` argument names.
FILE_READERS = frozenset({"read_file", "grep", "glob"})


class PolicyGate:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.home = os.path.expanduser("~")
        self.rules = self.load()

    def load(self) -> RuleSet:
        """Built-in, user and project rules; raises PolicyLoadError naming the file."""
        return load_rules(default_rule_paths(self.project))

    def reload(self) -> None:
        self.rules = self.load()

    def judge(self, tool: str, args: dict[str, Any], workspace: Path, mode: str) -> Verdict:
        if tool == "bash":
            return self._judge_command(str(args.get("command", "")), workspace, mode)
        if tool in FILE_WRITERS:
            return self._judge_write(tool, args, workspace, mode)
        if tool in FILE_READERS and isinstance(args.get("path"), str):
            refused = _refusal(tool, args["path"], workspace, write=False)
            if refused is not None:
                return refused
        return Verdict("allow", None, "read-only or engine tool", "low", summary=tool)

    def _judge_command(self, command: str, workspace: Path, mode: str) -> Verdict:
        decision = evaluate_command(command, self.rules, mode, str(workspace), self.home)
        prompted = tuple(
            tuple(str(word) for word in seg.segment.argv)
            for seg in decision.segments
            if seg.decision == "prompt" and seg.segment.argv
        )
        return Verdict(
            decision.decision,
            decision.rule_id,
            decision.reason,
            decision.risk,
            summary=command,
            prompted_segments=prompted,
        )

    def _judge_write(self, tool: str, args: dict[str, Any], workspace: Path, mode: str) -> Verdict:
        path = str(args.get("path", ""))
        refused = _refusal(tool, path, workspace, write=True)
        if refused is not None:
            return refused
        try:
            change = (preview_edit if tool == "edit_file" else preview_write)(workspace, args)
            rel = workspace_relative(workspace, change.path)
            diff = unified_diff(rel, change.old_text or "", change.new_text, max_lines=400)
        except (ToolError, OSError, KeyError, TypeError):
            # The tool itself reports a bad call; there is nothing to show yet.
            diff = None
        summary = f"{tool} {path}"
        if mode == "untrusted":
            reason = f"{tool} changes {path} (mode untrusted)"
            return Verdict("prompt", None, reason, "medium", summary=summary, diff=diff)
        return Verdict(
            "allow",
            None,
            "file writes in the workspace are allowed",
            "low",
            summary=summary,
            diff=diff,
        )


def _refusal(tool: str, path: str, workspace: Path, *, write: bool) -> Verdict | None:
    """A forbid verdict when the file tools may not use `path` this way, else None.
    (The project's own .harness/ is outside any other workspace, so the jail keeps it;
    a workspace that is the project is kept out of its .harness/ by the check. The
    demo's workspace lives under .harness/demo/ and is writable like any other.)"""
    try:
        with open_in_workspace(workspace, path) as target:
            if write:
                check_write(target, path)
            else:
                check_read(target, path)
    except JailError as exc:
        return Verdict("forbid", exc.rule_id, str(exc), exc.risk, summary=f"{tool} {path}")
    return None


def approved_rule(argv: tuple[str, ...], approval_id: str) -> dict[str, Any]:
    """The rule "allow always" writes for one shell segment: exactly this command."""
    text = shlex.join(argv)
    slug = "-".join(token for token in argv[:3] if token.replace("-", "").isalnum())[:40]
    return {
        "id": f"approved-{slug or 'command'}-{approval_id.removeprefix('ap_')[:8]}",
        "decision": "allow",
        "approved": True,
        "reason": f"allowed always by the user (approval {approval_id})",
        "pattern": list(argv),
        "match": [text],
    }
