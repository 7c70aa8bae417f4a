"""The built-in policy against a corpus of commands, and how a decision is reported.

The corpus (corpus.toml) holds what an agent might run, ordinary and hostile, with
the decision a user should see in each approval mode, with the sandbox and without."""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from harness_tui.policy.evaluate import MODES, Decision, evaluate_command, explain
from harness_tui.policy.rules import RuleSet, load_builtin_rules

WORKSPACE = "/home/user/project"
HOME = "/home/user"
CORPUS = tomllib.loads((Path(__file__).parent / "corpus.toml").read_text(encoding="utf-8"))
CASES = [(mode, case) for mode, cases in CORPUS.items() for case in cases]
FIELDS = {"cmd", "expect", "rule", "unsandboxed", "confined"}


def dangerous(case: dict) -> bool:
    """Prompted or forbidden with the sandbox, or allowed only because it confines it."""
    return case["expect"] != "allow" or case.get("confined", False)


DANGEROUS = [case for case in CORPUS["on-request"] if dangerous(case)]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_builtin_rules()


def judge(
    command: str, rules: RuleSet, mode: str = "on-request", *, sandboxed: bool = True
) -> Decision:
    return evaluate_command(command, rules, mode, WORKSPACE, HOME, sandboxed=sandboxed)


@pytest.mark.parametrize(
    ("mode", "case"), CASES, ids=[f"{mode}:{case['cmd']!r}"[:90] for mode, case in CASES]
)
def test_corpus(rules: RuleSet, mode: str, case: dict) -> None:
    inside = judge(case["cmd"], rules, mode)
    outside = judge(case["cmd"], rules, mode, sandboxed=False)
    assert inside.decision == case["expect"], explain(inside)
    assert outside.decision == case.get("unsandboxed", case["expect"]), explain(outside)
    if "rule" in case:
        assert case["rule"] in inside.rules + outside.rules, (
            explain(inside) + "\n" + explain(outside)
        )


def test_the_corpus_is_large_and_covers_every_mode() -> None:
    assert set(CORPUS) == set(MODES)
    assert len(CORPUS["on-request"]) >= 600
    assert len(DANGEROUS) >= 450
    for mode in MODES:
        expected = {case["expect"] for case in CORPUS[mode]}
        assert {"allow", "forbid"} <= expected, mode
    assert all(set(case) <= FIELDS for _, case in CASES)
    # A confined command is one the sandbox lets run: without it, it must not.
    for _, case in CASES:
        if case.get("confined"):
            assert case["expect"] == "allow", case
            assert case.get("unsandboxed", "allow") != "allow", case


def test_without_a_sandbox_no_dangerous_command_is_allowed_on_request(rules: RuleSet) -> None:
    allowed = [
        case["cmd"]
        for case in DANGEROUS
        if judge(case["cmd"], rules, "on-request", sandboxed=False).decision == "allow"
    ]
    assert allowed == []


def test_without_a_sandbox_unknown_commands_prompt_and_say_why(rules: RuleSet) -> None:
    decision = judge("terraform apply", rules, sandboxed=False)
    assert (decision.decision, decision.rule_id) == ("prompt", None)
    assert (
        decision.reason == "terraform is not covered by an allow rule, and no sandbox confines it"
    )
    # A rule that allows a command only inside the sandbox names itself.
    decision = judge("pytest -q", rules, sandboxed=False)
    assert decision.decision == "prompt"
    assert decision.reason.startswith("pytest runs code from the workspace: python-dev allows")
    assert decision.reason.endswith("only inside a sandbox, and none confines this command")
    # What is allowed without a sandbox stays allowed; what a rule decides is unchanged.
    for command in ("ls -la", "git status", "rg foo", "ruff check ."):
        assert judge(command, rules, sandboxed=False).decision == "allow", command
    assert judge("rm -rf /", rules, sandboxed=False).rule_id == "rm-critical-path"


def test_without_a_sandbox_each_mode_keeps_its_meaning(rules: RuleSet) -> None:
    assert judge("terraform apply", rules, "auto", sandboxed=False).decision == "allow"
    assert judge("terraform apply", rules, "untrusted", sandboxed=False).decision == "prompt"
    never = judge("terraform apply", rules, "never", sandboxed=False)
    assert never.decision == "forbid"
    assert never.reason.startswith("approval needed but mode is never: terraform is not covered")


def test_a_decision_says_whether_a_sandbox_confines_the_command(rules: RuleSet) -> None:
    assert judge("ls", rules).to_json()["sandboxed"] is True
    outside = judge("ls", rules, sandboxed=False)
    assert outside.to_json()["sandboxed"] is False
    assert "sandbox: none" in explain(outside).splitlines()


def test_dangerous_corpus_counts() -> None:
    """Not an assertion of exact numbers: prints them for the record (pytest -s)."""
    rules = load_builtin_rules()
    counts = {
        sandboxed: Counter(
            judge(case["cmd"], rules, sandboxed=sandboxed).decision for case in DANGEROUS
        )
        for sandboxed in (True, False)
    }
    print(f"\ndangerous on-request commands: {len(DANGEROUS)}")
    for sandboxed, counter in counts.items():
        label = "sandboxed" if sandboxed else "unsandboxed"
        print(
            f"  {label}: " + ", ".join(f"{d} {counter[d]}" for d in ("allow", "prompt", "forbid"))
        )
    assert counts[False]["allow"] == 0


def test_every_builtin_rule_is_exercised_by_the_corpus(rules: RuleSet) -> None:
    seen = {
        rule_id
        for mode, case in CASES
        for sandboxed in (True, False)
        for rule_id in judge(case["cmd"], rules, mode, sandboxed=sandboxed).rules
    }
    assert {rule.id for rule in rules} - seen == set()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("wrapped", "plain"),
    [
        ("coproc rm -rf /", "rm -rf /"),
        ("coproc NAME { git push --force; }", "git push --force"),
        ("coproc { git push --force; }", "git push --force"),
        ("coproc NAME ( rm -rf ~ )", "rm -rf ~"),
    ],
)
def test_coproc_is_judged_by_the_command_it_runs(
    rules: RuleSet, mode: str, wrapped: str, plain: str
) -> None:
    decision, expected = judge(wrapped, rules, mode), judge(plain, rules, mode)
    assert (decision.decision, decision.rule_id) == (expected.decision, expected.rule_id)
    assert decision.decision == "forbid", explain(decision)


def test_the_strictest_segment_decides_and_every_segment_is_reported(rules: RuleSet) -> None:
    decision = judge("git status && sudo make install; rm -rf ~", rules)
    assert decision.decision == "forbid"
    assert decision.rule_id == "rm-critical-path"
    assert decision.risk == "critical"
    assert [(s.segment.display(), s.decision) for s in decision.segments] == [
        ("git status", "allow"),
        ("sudo make install", "prompt"),
        ("make install", "allow"),
        ("rm -rf ~", "forbid"),
    ]
    assert decision.segments[1].rule_id == "privilege-escalation"


def test_never_mode_turns_prompts_into_refusals_and_says_why(rules: RuleSet) -> None:
    decision = judge("git reset --hard", rules, "never")
    assert decision.decision == "forbid"
    assert decision.rule_id == "git-reset-hard"
    assert decision.reason.startswith("approval needed but mode is never: ")


def test_untrusted_mode_names_the_command_that_needs_an_allow_rule(rules: RuleSet) -> None:
    decision = judge("ls && terraform apply", rules, "untrusted")
    assert decision.decision == "prompt"
    assert decision.rule_id is None
    assert "terraform" in decision.reason


def test_an_unknown_mode_is_refused(rules: RuleSet) -> None:
    with pytest.raises(ValueError, match="unknown approval mode 'yolo'"):
        judge("ls", rules, "yolo")


def test_explain_lists_the_verdict_and_each_segment_with_its_rule(rules: RuleSet) -> None:
    text = explain(judge("cd /tmp && sudo rm -rf /", rules))
    lines = text.splitlines()
    assert lines[0].startswith("forbid (critical risk): ")
    assert lines[0].endswith("[rm-critical-path]")
    assert "mode: on-request" in lines
    assert "command: cd /tmp && sudo rm -rf /" in lines
    assert "  3. rm -rf /  (via sudo)" in lines
    assert any("also matched: rm-outside-workspace" in line for line in lines)
    assert "  1. cd /tmp" in lines


def test_to_json_carries_the_decision_rules_segments_and_reason(rules: RuleSet) -> None:
    data = judge("echo $(rm -rf /tmp/x)", rules).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["decision"] == "prompt"
    assert data["rule"] == "rm-outside-workspace"
    assert data["rules"] == [
        "rm-outside-workspace",
        "file-tools",
        "read-only-tools",
        "shell:substitution",
    ]
    assert data["reason"]
    assert [s["command"] for s in data["segments"]] == ["rm -rf /tmp/x", "echo $(rm -rf /tmp/x)"]
    assert data["segments"][0]["via"] == ["$(…)"]
    assert data["segments"][1]["notes"] == ["substitution"]


def test_nothing_to_run_is_allowed(rules: RuleSet) -> None:
    decision = judge("   ", rules, "untrusted")
    assert (decision.decision, decision.reason, decision.segments) == (
        "allow",
        "nothing to run",
        [],
    )
