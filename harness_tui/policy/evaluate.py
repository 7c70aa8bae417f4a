"""Judge a shell command: split it into segments, judge each against the rules and the
approval mode, and let the strictest decision win (forbid > prompt > allow).

Besides the rules, some things can never be allowed silently because what would run
cannot be known from the text: command or process substitution, `eval`, a command name
or `bash -c` script only known at run time, a shell reading its script from a pipe,
`source` of a file outside the workspace, and text that cannot be parsed. They need at
least approval, in every mode, and no rule file can change that (their ids start with
`shell:`). The commands found inside them are judged as well, so
`echo $(rm -rf /)` is forbidden, not merely prompted.

Modes:
- untrusted: prompt for every command no allow rule covers.
- on-request (default): prompt only where a rule says prompt; unknown commands run.
- auto: prompt rules allow; forbid rules still forbid, and the checks above still prompt:
  approving them blindly would approve commands nobody has seen.
- never: for unattended runs; whatever would prompt is refused instead.

The sandbox: `sandboxed` says whether an operating-system sandbox confines the command
(workspace-only writes, no network, an empty home). Without one (danger-full-access,
or no working bubblewrap) the policy fails closed: a command no allow rule covers
prompts in on-request mode too (and is refused in never mode), rules marked
`sandbox = true` (allows for tools that run the workspace's own code) do not hold, and
rules marked `sandbox = false` (what only the sandbox would have confined) do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness_tui.policy.matching import RISK_ORDER, STRICTNESS, Rule, RuleSet
from harness_tui.policy.path_classes import PathContext
from harness_tui.policy.shell import Segment, analyze

MODES = ("untrusted", "on-request", "auto", "never")
DEFAULT_MODE = "on-request"

_FINDINGS = {
    "unparseable": ("shell:unparseable", "cannot be parsed ({detail}), so it cannot be judged"),
    "substitution": (
        "shell:substitution",
        "uses command substitution $(…) or `…`: what runs depends on its output",
    ),
    "process-substitution": (
        "shell:process-substitution",
        "uses process substitution <(…) or >(…)",
    ),
    "eval": ("shell:eval", "eval runs text as shell code"),
    "dynamic-command": ("shell:dynamic-command", "{detail}"),
    "dynamic-script": ("shell:dynamic-script", "{detail}"),
    "stdin-script": ("shell:stdin-script", "{detail}"),
}


@dataclass(frozen=True)
class SegmentDecision:
    segment: Segment
    decision: str
    rule_id: str | None
    reason: str
    risk: str
    # Every rule id and shell: check that matched, the deciding one included.
    matched: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.segment.display(),
            "argv": [str(word) for word in self.segment.argv],
            "via": list(self.segment.via),
            "decision": self.decision,
            "rule": self.rule_id,
            "rules": list(self.matched),
            "reason": self.reason,
            "risk": self.risk,
            "writes": [str(word) for word in self.segment.writes],
            "reads": [str(word) for word in self.segment.reads],
            "notes": [note.kind for note in self.segment.notes],
        }


@dataclass(frozen=True)
class Decision:
    decision: str
    rule_id: str | None
    reason: str
    risk: str
    segments: list[SegmentDecision] = field(default_factory=list)
    command: str = ""
    mode: str = DEFAULT_MODE
    sandboxed: bool = True

    @property
    def rules(self) -> list[str]:
        """Every rule id and shell: check that matched any segment, in order."""
        return list(dict.fromkeys(rid for seg in self.segments for rid in seg.matched))

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "mode": self.mode,
            "sandboxed": self.sandboxed,
            "decision": self.decision,
            "rule": self.rule_id,
            "rules": self.rules,
            "reason": self.reason,
            "risk": self.risk,
            "segments": [seg.to_json() for seg in self.segments],
        }


@dataclass(frozen=True)
class _Verdict:
    decision: str
    rule_id: str | None
    reason: str
    risk: str


def evaluate_command(
    command: str,
    rules: RuleSet,
    mode: str,
    workspace: str,
    home: str,
    *,
    sandboxed: bool = True,
) -> Decision:
    """Judge `command` as if run in `workspace` by a user whose home is `home`, inside
    the sandbox or (`sandboxed=False`) with nothing but this policy between it and the
    machine."""
    if mode not in MODES:
        raise ValueError(f"unknown approval mode {mode!r} (expected one of {', '.join(MODES)})")
    where = PathContext(workspace, home)
    analysis = analyze(command)
    judged = [judge_segment(seg, rules, mode, where, sandboxed) for seg in analysis.segments]
    if not judged:
        return Decision("allow", None, "nothing to run", "low", [], command, mode, sandboxed)
    worst = max(judged, key=lambda s: (STRICTNESS[s.decision], RISK_ORDER[s.risk]))
    return Decision(
        worst.decision, worst.rule_id, worst.reason, worst.risk, judged, command, mode, sandboxed
    )


def judge_segment(
    segment: Segment, rules: RuleSet, mode: str, where: PathContext, sandboxed: bool = True
) -> SegmentDecision:
    every = rules.matching(segment, where)
    matched = [rule for rule in every if rule.applies(sandboxed)]
    findings = shell_findings(segment, where)
    if not matched and segment.argv and not sandboxed:
        verdict = _unconfined(segment, every)
    else:
        verdict = _rule_verdict(segment, matched, mode)
    if mode == "auto" and verdict.decision == "prompt":
        verdict = replace(verdict, decision="allow", reason=f"{verdict.reason} (mode auto)")
    if findings and verdict.decision == "allow":
        rule_id, reason = findings[0]
        verdict = _Verdict("prompt", rule_id, reason, "medium")
    if mode == "never" and verdict.decision == "prompt":
        reason = f"approval needed but mode is never: {verdict.reason}"
        verdict = replace(verdict, decision="forbid", reason=reason)
    ids = (*(rule.id for rule in matched), *(rule_id for rule_id, _ in findings))
    return SegmentDecision(
        segment, verdict.decision, verdict.rule_id, verdict.reason, verdict.risk, ids
    )


def _rule_verdict(segment: Segment, matched: list[Rule], mode: str) -> _Verdict:
    if matched:
        approved = next((r for r in matched if r.approved), None)
        if approved is not None and not any(r.decision == "forbid" for r in matched):
            return _Verdict("allow", approved.id, approved.reason, approved.risk)
        # The strictest rule decides; among equals the riskier, then the earlier.
        best = max(matched, key=lambda r: (STRICTNESS[r.decision], RISK_ORDER[r.risk]))
        return _Verdict(best.decision, best.id, best.reason, best.risk)
    if not segment.argv:
        return _Verdict("allow", None, "runs no command", "low")
    if mode == "untrusted":
        reason = f"{segment.name} is not covered by an allow rule (mode untrusted)"
        return _Verdict("prompt", None, reason, "medium")
    return _Verdict("allow", None, "no rule matched", "low")


def _unconfined(segment: Segment, every: list[Rule]) -> _Verdict:
    """Fail closed: with no sandbox, a command no rule allows needs approval, whatever
    the mode would do with unknown commands (auto still allows it, never refuses it)."""
    inside_only = next((r for r in every if r.decision == "allow" and r.sandbox), None)
    if inside_only is not None:
        reason = (
            f"{segment.name} runs code from the workspace: {inside_only.id} allows it "
            "only inside a sandbox, and none confines this command"
        )
    else:
        reason = f"{segment.name} is not covered by an allow rule, and no sandbox confines it"
    return _Verdict("prompt", None, reason, "medium")


def shell_findings(segment: Segment, where: PathContext) -> list[tuple[str, str]]:
    """The checks no rule can switch off: (id, reason) for each that applies."""
    findings = []
    for note in segment.notes:
        if note.kind in _FINDINGS:
            rule_id, template = _FINDINGS[note.kind]
            findings.append((rule_id, template.format(detail=note.detail)))
    if segment.name in ("source", "."):
        operands = [a for a in segment.argv[1:] if not a.startswith("-")]
        if not operands:
            findings.append(("shell:source", f"{segment.name} without a file reads its input"))
        elif where.classify(operands[0], segment.cwds) & {"outside", "unknown"}:
            reason = f"{segment.name} {operands[0]} runs a file from outside the workspace"
            findings.append(("shell:source", reason))
    return list(dict.fromkeys(findings))


def explain(decision: Decision) -> str:
    """A multi-line account of a decision: the verdict, then each segment with the rule
    that decided it and why."""
    rule = f" [{decision.rule_id}]" if decision.rule_id else ""
    lines = [
        f"{decision.decision} ({decision.risk} risk): {decision.reason}{rule}",
        f"mode: {decision.mode}",
    ]
    if not decision.sandboxed:
        lines.append("sandbox: none")
    if decision.command:
        lines.append("command: " + decision.command.replace("\n", "\n         "))
    for i, seg in enumerate(decision.segments, 1):
        via = f"  (via {' > '.join(seg.segment.via)})" if seg.segment.via else ""
        lines.append(f"  {i}. {seg.segment.display()}{via}")
        rule = f" [{seg.rule_id}]" if seg.rule_id else ""
        lines.append(f"     {seg.decision} ({seg.risk}): {seg.reason}{rule}")
        others = [rid for rid in seg.matched if rid != seg.rule_id]
        if others:
            lines.append(f"     also matched: {', '.join(others)}")
    return "\n".join(lines)
