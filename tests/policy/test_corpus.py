"""The built-in policy against a corpus of commands, and how a decision is reported.

The corpus (corpus.toml) holds what an agent might run, ordinary and hostile, with
the decision a user should see in each approval mode."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from harness_tui.policy.evaluate import MODES, Decision, evaluate_command, explain
from harness_tui.policy.rules import RuleSet, load_builtin_rules

WORKSPACE = "/home/user/project"
HOME = "/home/user"
CORPUS = tomllib.loads((Path(__file__).parent / "corpus.toml").read_text(encoding="utf-8"))
CASES = [(mode, case) for mode, cases in CORPUS.items() for case in cases]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_builtin_rules()


def judge(command: str, rules: RuleSet, mode: str = "on-request") -> Decision:
    return evaluate_command(command, rules, mode, WORKSPACE, HOME)


@pytest.mark.parametrize(
    ("mode", "case"), CASES, ids=[f"{mode}:{case['cmd']!r}"[:90] for mode, case in CASES]
)
def test_corpus(rules: RuleSet, mode: str, case: dict) -> None:
    decision = judge(case["cmd"], rules, mode)
    assert decision.decision == case["expect"], explain(decision)
    if "rule" in case:
        assert case["rule"] in decision.rules, explain(decision)


def test_the_corpus_is_large_and_covers_every_mode() -> None:
    assert set(CORPUS) == set(MODES)
    assert len(CORPUS["on-request"]) >= 150
    for mode in MODES:
        expected = {case["expect"] for case in CORPUS[mode]}
        assert {"allow", "forbid"} <= expected, mode
    assert all(set(case) <= {"cmd", "expect", "rule"} for _, case in CASES)


def test_every_builtin_rule_is_exercised_by_the_corpus(rules: RuleSet) -> None:
    seen = {rule_id for mode, case in CASES for rule_id in judge(case["cmd"], rules, mode).rules}
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
