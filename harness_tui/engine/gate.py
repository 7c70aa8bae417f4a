"""The policy gate: what the loop asks before a tool call runs.

Shell commands go through the rule set; file writes are shown as diffs and prompt in
`untrusted` mode. Whatever the mode, file tools may not write git's internals (hooks
and config run code on the next git command) or the harness's own files (.harness/,
where the policy and config live, or an agent could approve itself), may not read or
write credentials, and may not use a path that leaves the workspace or that the kernel
cannot resolve: those calls are forbidden before they run, with the reason. The tools
check the same again on the directory handles they write through (policy.jail).

Under the policy, the session's sandbox confines what commands do; the gate asks a
person about what would leave it: a command that needs the network the sandbox does not
give, and, in a read-only session, any file write. When nothing confines the commands
(danger-full-access, or no working bubblewrap), the rules are judged failing closed: a
command no rule covers prompts.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness_tui.backends.base import Verdict
from harness_tui.policy.evaluate import Decision, evaluate_command
from harness_tui.policy.jail import (
    JailError,
    check_read,
    check_write,
    open_in_workspace,
    workspace_relative,
)
from harness_tui.policy.matching import RuleSet
from harness_tui.policy.network import needs_network
from harness_tui.policy.path_classes import PathContext
from harness_tui.policy.rules import default_rule_paths, load_rules
from harness_tui.sandbox import DANGER_FULL_ACCESS, READ_ONLY, Sandbox
from harness_tui.tools.base import ToolError
from harness_tui.tools.files import preview_edit, preview_write, unified_diff

# What an external agent's commands run in, as far as our policy knows: nothing of
# ours confines them.
UNCONFINED = Sandbox(DANGER_FULL_ACCESS, network=True)

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

    def judge(
        self,
        tool: str,
        args: dict[str, Any],
        workspace: Path,
        mode: str,
        *,
        sandbox: Sandbox | None = None,
    ) -> Verdict:
        """The verdict on one call, in approval `mode`, for a session whose commands run
        in `sandbox` (None: judged by the rules alone, as when nothing was wanted)."""
        if tool == "bash":
            return self._judge_command(str(args.get("command", "")), workspace, mode, sandbox)
        if tool in FILE_WRITERS:
            return self._judge_write(tool, args, workspace, mode, sandbox)
        if tool in FILE_READERS and isinstance(args.get("path"), str):
            refused = _refusal(tool, args["path"], workspace, write=False)
            if refused is not None:
                return refused
        return Verdict("allow", None, "read-only or engine tool", "low", summary=tool)

    def judge_agent(self, tool: str, args: dict[str, Any], workspace: Path, mode: str) -> Verdict:
        """The verdict on what an external agent asks leave to do. It runs the command
        itself, outside our sandbox, so the rules are judged failing closed (a command
        no rule allows prompts); a tool of its own the policy cannot see into prompts,
        unless the mode allows all but the forbidden."""
        if tool == "bash" or tool in FILE_WRITERS or tool in FILE_READERS:
            return self.judge(tool, args, workspace, mode, sandbox=UNCONFINED)
        summary = f"{tool} {_short_args(args)}".strip()
        if mode == "auto":
            return Verdict("allow", None, "mode auto allows the agent's tools", "low", summary)
        reason = f"the agent's own tool {tool}: the policy cannot see what it does"
        if mode == "never":
            return Verdict(
                "forbid", "agent:tool", f"{reason}, and mode is never", "medium", summary
            )
        return Verdict("prompt", "agent:tool", reason, "medium", summary=summary)

    def _judge_command(
        self, command: str, workspace: Path, mode: str, sandbox: Sandbox | None
    ) -> Verdict:
        decision = evaluate_command(
            command,
            self.rules,
            mode,
            str(workspace),
            self.home,
            # Unconfined by choice (danger-full-access) or for want of bubblewrap, the
            # policy is all there is between the command and the machine: it fails closed.
            sandboxed=sandbox is None or sandbox.confined,
        )
        prompted = tuple(
            tuple(str(word) for word in seg.segment.argv)
            for seg in decision.segments
            if seg.decision == "prompt" and seg.segment.argv
        )
        verdict = Verdict(
            decision.decision,
            decision.rule_id,
            decision.reason,
            decision.risk,
            summary=command,
            prompted_segments=prompted,
        )
        if sandbox is not None and sandbox.confined:
            verdict = self._leaving(verdict, decision, workspace, mode, sandbox)
        return verdict

    def _leaving(
        self, verdict: Verdict, decision: Decision, workspace: Path, mode: str, sandbox: Sandbox
    ) -> Verdict:
        """What the command needs from outside its sandbox, which running it as approved
        grants, this once: the paths outside the workspace it writes (the rules prompt
        for those), and the network if the sandbox has none. A command that needs the
        network asks for it in every approval mode but never, where it is refused. A
        segment a person allowed always (a rule "allow always" wrote) is granted what it
        needs without asking."""
        where = PathContext(str(workspace), self.home)
        needing: list[tuple[tuple[str, ...], str]] = []
        writes: dict[str, None] = {}
        network = covered = False
        for seg in decision.segments:
            for word in seg.segment.writes:
                for cwd in seg.segment.cwds:
                    path = where.resolve(word, cwd)
                    if path is not None and "outside" in where.classify(path):
                        writes[path] = None
            if seg.decision == "forbid":
                continue
            approved = seg.decision == "allow" and any(
                rule.approved for rule in self.rules.matching(seg.segment, where)
            )
            covered = covered or approved
            why = None if sandbox.network else needs_network(seg.segment.argv)
            if why is not None:
                network = True
                if not approved:
                    needing.append((tuple(str(word) for word in seg.segment.argv), why))
        verdict = replace(
            verdict,
            network=network,
            writes=tuple(writes),
            granted=covered and verdict.decision == "allow" and not needing,
        )
        if verdict.decision == "forbid" or not needing:
            return verdict
        why = needing[0][1]
        if mode == "never":
            reason = (
                f"needs the network ({why}), which the sandbox does not give, and mode is never"
            )
            return replace(verdict, decision="forbid", rule_id="sandbox:network", reason=reason)
        segments = tuple(dict.fromkeys((*verdict.prompted_segments, *(a for a, _ in needing))))
        if verdict.decision == "prompt":
            reason = f"{verdict.reason}; it also needs the network ({why})"
            return replace(verdict, reason=reason, prompted_segments=segments)
        return replace(
            verdict,
            decision="prompt",
            rule_id="sandbox:network",
            reason=f"needs the network, which the sandbox does not give: {why}",
            risk="medium",
            prompted_segments=segments,
        )

    def _judge_write(
        self,
        tool: str,
        args: dict[str, Any],
        workspace: Path,
        mode: str,
        sandbox: Sandbox | None = None,
    ) -> Verdict:
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
        if sandbox is not None and sandbox.mode == READ_ONLY:
            # The session was started read-only: no write happens unasked, whichever
            # tool makes it. (In mode never, nobody is there to ask.)
            reason = f"{tool} changes {path}, and the session is read-only (sandbox read-only)"
            if mode == "never":
                return Verdict("forbid", "sandbox:read-only", reason, "medium", summary=summary)
            return Verdict(
                "prompt", "sandbox:read-only", reason, "medium", summary=summary, diff=diff
            )
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


def _short_args(args: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(args, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
