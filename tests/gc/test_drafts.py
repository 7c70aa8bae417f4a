"""Drafts: budgets, the lifecycle as a projection of gc events, and adopting drafts
into real project files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.config import GCConfig
from harness_tui.events import Event
from harness_tui.gc.adoption import adopt_draft, apply_policy_rule_draft, validate_draft_target
from harness_tui.gc.coderules import load_code_rules
from harness_tui.gc.drafts import (
    DraftBudget,
    DraftError,
    DraftProposal,
    DraftsState,
    draft_created_data,
    draft_prompt,
    parse_draft_reply,
    plan_drafts,
    reject_draft,
    signal_event_data,
)
from harness_tui.gc.signals import Signal, find_signals
from harness_tui.policy.evaluate import evaluate_command
from harness_tui.policy.rules import builtin_rules_path, load_rules, project_rules_path
from tests.gc.eventlog import T0, Log

TTL_HOURS = 72

USER_POLICY = """\
# Our team's policy. Keep deploys manual!
# (reviewed 2025-02)

[[rule]]
id = "allow-make-test"   # tests are always fine
decision = "allow"
reason = "running the tests is harmless"
pattern = ["make", "test"]
match = ["make test"]
"""

DEPLOY_RULE = {
    "id": "no-make-deploy",
    "decision": "forbid",
    "reason": "deploys go through CI, never from an agent",
    "risk": "high",
    "pattern": ["make", "deploy"],
    "match": ["make deploy", "make deploy ENV=prod"],
    "not_match": ["make test"],
}


def signal(kind: str, key: str, *evidence: int) -> Signal:
    return Signal(kind, key, len(evidence), list(evidence), f"{kind} {key}")


SIGNALS = [
    signal("chronic_block", "rm-outside", 11, 14, 17),
    signal("hot_file", "src/app.py", 20, 23, 26, 29, 32),
    signal("repeated_failing_command", "make deploy", 40, 43, 46),
]


class GCLog:
    """The gc events of a project, as the lead's GC run and `gc adopt` append them."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def append(self, type_: str, data: dict, ts=T0) -> None:
        position = 5000 + len(self.events)
        self.events.append(Event("gc", len(self.events) + 1, type_, data, ts, position))

    def create(self, draft_id: str, sig: Signal, proposal: DraftProposal, ts=T0) -> None:
        self.append(ev.GC_DRAFT_CREATED, draft_created_data(draft_id, sig, proposal), ts)

    def state(self, now=T0) -> DraftsState:
        return DraftsState.from_events(self.events, now=now, ttl_hours=TTL_HOURS)


def policy_proposal(rule: dict | None = None) -> DraftProposal:
    rule = rule or DEPLOY_RULE
    return DraftProposal("policy_rule", ".harness/policy.toml", rule["id"], rule)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".harness").mkdir(parents=True)
    project_rules_path(root).write_text(USER_POLICY, encoding="utf-8")
    return root


# ---------------------------------------------------------------------------------------
# Budgets.


def test_a_total_budget_of_two_leaves_the_third_signal_without_a_draft() -> None:
    budget = DraftBudget(per_signal=1, per_run=3, total=2)
    to_draft, skipped = plan_drafts(SIGNALS, GCLog().state(), budget, max_drafts_per_run=3)
    assert to_draft == SIGNALS[:2]
    ((third, reason),) = skipped
    assert third == SIGNALS[2]
    assert reason == "total draft budget spent: 2 drafts in this project (gc.budget_total = 2)"
    # What gets recorded for it, so `gc status` can say why.
    recorded = signal_event_data(third, skipped=reason)
    assert recorded["skipped"] == reason
    assert recorded["evidence"] == [40, 43, 46]
    assert Signal.from_dict(recorded) == third


def test_drafts_already_in_the_log_count_against_the_total() -> None:
    log = GCLog()
    log.create("d-old", signal("slow_tool", "bash", 1, 2, 3), policy_proposal())
    log.append(ev.GC_DRAFT_REJECTED, {"draft_id": "d-old", "reason": "not useful", "by": "me"})
    budget = DraftBudget(per_signal=1, per_run=3, total=2)
    to_draft, skipped = plan_drafts(SIGNALS, log.state(), budget, max_drafts_per_run=3)
    assert to_draft == SIGNALS[:1]
    assert [s for s, _ in skipped] == SIGNALS[1:]


def test_a_signal_gets_only_its_own_budget_of_drafts() -> None:
    log = GCLog()
    log.create("d-1", SIGNALS[0], policy_proposal())
    log.append(ev.GC_DRAFT_REJECTED, {"draft_id": "d-1", "reason": "too broad", "by": "me"})
    log.create("d-2", SIGNALS[1], DraftProposal("note", "AGENTS.md", "note", "Edit less."))
    budget = DraftBudget(per_signal=1, per_run=5, total=20)
    to_draft, skipped = plan_drafts(SIGNALS, log.state(), budget, max_drafts_per_run=5)
    assert to_draft == [SIGNALS[2]]
    assert dict((s.key, r) for s, r in skipped) == {
        "rm-outside": "signal budget spent: 1 draft for this signal already "
        "(gc.budget_per_signal = 1)",
        "src/app.py": "draft d-2 for this signal is still pending",
    }


def test_a_run_stops_at_its_budget_and_at_max_drafts_per_run() -> None:
    many = [signal("hot_file", f"f{i}.py", i) for i in range(5)]
    state = GCLog().state()
    to_draft, skipped = plan_drafts(many, state, DraftBudget(1, 2, 20), max_drafts_per_run=3)
    assert len(to_draft) == 2
    assert skipped[0][1] == "run budget spent: 2 drafts in this run (gc.budget_per_run = 2)"
    to_draft, skipped = plan_drafts(many, state, DraftBudget(1, 3, 20), max_drafts_per_run=1)
    assert len(to_draft) == 1
    assert skipped[0][1] == "1 draft in this run already (gc.max_drafts_per_run = 1)"


def test_the_budget_comes_from_the_gc_config() -> None:
    assert DraftBudget.from_config(GCConfig()) == DraftBudget(per_signal=1, per_run=3, total=20)


# ---------------------------------------------------------------------------------------
# The lifecycle.


def test_a_pending_draft_expires_after_the_ttl(project: Path) -> None:
    log = GCLog()
    log.create("d-1", SIGNALS[2], policy_proposal())
    (draft,) = log.state().listed()
    assert log.state(now=T0 + timedelta(hours=71)).status(draft) == "pending"
    late = log.state(now=T0 + timedelta(hours=72))
    assert late.status(draft) == "expired"
    assert late.listed("pending") == []
    before = project_rules_path(project).read_text()
    with pytest.raises(DraftError, match="draft d-1 is expired, not pending"):
        adopt_draft(project, late, "d-1")
    assert project_rules_path(project).read_text() == before
    # An expired draft no longer holds its signal back.
    to_draft, _ = plan_drafts([SIGNALS[2]], late, DraftBudget(2, 3, 20), 3)
    assert to_draft == [SIGNALS[2]]


def test_only_a_pending_draft_can_be_adopted_or_rejected(project: Path) -> None:
    log = GCLog()
    log.create("d-1", SIGNALS[0], policy_proposal())
    with pytest.raises(DraftError, match="say why"):
        reject_draft(log.state(), "d-1", "  ")
    rejected = reject_draft(log.state(), "d-1", "deploys are rare anyway")
    assert rejected == {"draft_id": "d-1", "reason": "deploys are rare anyway", "by": "user"}
    log.append(ev.GC_DRAFT_REJECTED, rejected)
    state = log.state()
    (draft,) = state.listed("rejected")
    assert draft.reason == "deploys are rare anyway"
    with pytest.raises(DraftError, match="draft d-1 is rejected, not pending"):
        adopt_draft(project, state, "d-1")
    with pytest.raises(DraftError, match="d-1 is rejected, not pending"):
        reject_draft(state, "d-1", "again")
    with pytest.raises(DraftError, match="no draft d-9"):
        adopt_draft(project, state, "d-9")
    assert project_rules_path(project).read_text() == USER_POLICY


# ---------------------------------------------------------------------------------------
# Adopting.


def decide(project: Path, command: str) -> tuple[str, str | None]:
    rules = load_rules([builtin_rules_path(), project_rules_path(project)])
    decision = evaluate_command(command, rules, "on-request", str(project), "/home/user")
    return decision.decision, decision.rule_id


def test_adopting_a_policy_rule_draft_changes_the_next_decision(project: Path) -> None:
    assert decide(project, "make deploy ENV=prod")[0] == "allow"  # a build tool, so far
    log = GCLog()
    log.create("d-7", SIGNALS[2], policy_proposal())

    adopted = adopt_draft(project, log.state(), "d-7", by="alice")
    assert adopted == {
        "draft_id": "d-7",
        "kind": "policy_rule",
        "target": ".harness/policy.toml",
        "by": "alice",
    }
    log.append(ev.GC_DRAFT_ADOPTED, adopted)

    assert decide(project, "make deploy ENV=prod") == ("forbid", "no-make-deploy")
    assert decide(project, "make test")[0] == "allow"
    text = project_rules_path(project).read_text()
    assert text.startswith(USER_POLICY)  # every comment and the user's rule, untouched
    assert "# adopted from GC draft d-7" in text
    assert log.state().listed("adopted")[0].by == "alice"
    with pytest.raises(DraftError, match="adopted, not pending"):
        adopt_draft(project, log.state(), "d-7")


def test_a_policy_rule_whose_examples_fail_never_reaches_the_file(project: Path) -> None:
    wrong = dict(DEPLOY_RULE, id="bad-examples", match=["make deploy", "make test"])
    log = GCLog()
    log.create("d-8", SIGNALS[2], policy_proposal(wrong))
    with pytest.raises(DraftError, match="rule 'bad-examples': match example 'make test'"):
        adopt_draft(project, log.state(), "d-8")
    assert project_rules_path(project).read_text() == USER_POLICY


def test_a_policy_rule_reusing_an_id_is_refused(project: Path) -> None:
    clash = dict(DEPLOY_RULE, id="allow-make-test")
    with pytest.raises(DraftError, match="defined twice"):
        apply_policy_rule_draft(project_rules_path(project), clash)
    assert project_rules_path(project).read_text() == USER_POLICY


def test_a_policy_rule_can_start_a_new_policy_file(tmp_path: Path) -> None:
    path = tmp_path / ".harness" / "policy.toml"
    apply_policy_rule_draft(path, DEPLOY_RULE)
    assert [rule.id for rule in load_rules([path])] == ["no-make-deploy"]


def test_a_target_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / "docs").symlink_to(outside)
    for target in (
        "../elsewhere/AGENTS.md",
        str(outside / "AGENTS.md"),
        "docs/AGENTS.md",  # a symlink that leads out
        "/etc/passwd",
    ):
        with pytest.raises(DraftError, match="outside the project"):
            validate_draft_target(project, target)
    with pytest.raises(DraftError, match="inside .git"):
        validate_draft_target(project, ".git/hooks/pre-commit")
    assert validate_draft_target(project, "AGENTS.md") == project.resolve() / "AGENTS.md"

    log = GCLog()
    log.create("d-3", SIGNALS[1], DraftProposal("note", "../elsewhere/AGENTS.md", "n", "Hi"))
    with pytest.raises(DraftError, match="outside the project"):
        adopt_draft(project, log.state(), "d-3")
    assert list(outside.iterdir()) == []


def test_a_policy_rule_must_go_in_the_project_policy_file(project: Path) -> None:
    log = GCLog()
    log.create("d-4", SIGNALS[2], DraftProposal("policy_rule", "policy.toml", "x", DEPLOY_RULE))
    with pytest.raises(DraftError, match="goes in .harness/policy.toml"):
        adopt_draft(project, log.state(), "d-4")
    assert not (project / "policy.toml").exists()


def test_adopting_a_code_rule_and_a_note(project: Path) -> None:
    (project / "AGENTS.md").write_text("# Agents\n\nBe brief.", encoding="utf-8")
    log = GCLog()
    rule_text = "## ONE-APP-EDIT: Plan edits to src/app.py (warning)\nRead it whole first.\n"
    log.create(
        "d-5", SIGNALS[1], DraftProposal("code_rule", ".harness/rules/gc.md", "r", rule_text)
    )
    note = "Run `make test` before `make deploy`; deploys go through CI."
    log.create("d-6", SIGNALS[2], DraftProposal("note", "AGENTS.md", "n", note))

    adopt_draft(project, log.state(), "d-5")
    adopt_draft(project, log.state(), "d-6")

    rules, errors = load_code_rules(project)
    assert errors == []
    assert rules["ONE-APP-EDIT"].severity == "warning"
    assert (project / "AGENTS.md").read_text() == f"# Agents\n\nBe brief.\n\n{note}\n"

    log.create(
        "d-9", SIGNALS[0], DraftProposal("code_rule", ".harness/rules/gc.md", "r", rule_text)
    )
    with pytest.raises(DraftError, match="ONE-APP-EDIT is already defined"):
        adopt_draft(project, log.state(), "d-9")


# ---------------------------------------------------------------------------------------
# From signals to a draft, as a GC run does it.


def test_a_signal_found_in_the_log_is_drafted_and_adopted(project: Path) -> None:
    events = Log()
    for sid in ("s1", "s2", "s3"):
        events.call(sid, "bash", command="make deploy", exit_code=2)
        events.call(sid, "bash", command="make deploy", exit_code=2)
        events.call(sid, "bash", command="make deploy", exit_code=2)
    (found,) = find_signals(events.events, GCConfig().signals)
    prompt = draft_prompt(found, ["tool.failed make deploy: exit 2"])
    assert found.detail in prompt
    reply = (
        "Here is my proposal:\n```json\n"
        '{"kind": "policy_rule", "title": "Forbid make deploy", "content": '
        '{"id": "no-make-deploy", "decision": "forbid", "reason": "deploys go through CI", '
        '"pattern": ["make", "deploy"], "match": ["make deploy"]}}\n```\n'
    )
    proposal = parse_draft_reply(reply)
    assert (proposal.kind, proposal.target) == ("policy_rule", ".harness/policy.toml")

    log = GCLog()
    log.create("d-1", found, proposal)
    adopt_draft(project, log.state(), "d-1")
    assert decide(project, "make deploy") == ("forbid", "no-make-deploy")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("I would rather not.", "holds no JSON object"),
        ('{"kind": "poem", "content": "x"}', "draft kind must be one of"),
        ('{"kind": "policy_rule", "content": "forbid it"}', "needs content: a rule table"),
        ('{"kind": "note", "content": ""}', "needs content: Markdown text"),
        ('{"kind": "note", ', "holds no JSON object"),
        ('{"kind": "note" "content": "x"}', "not valid JSON"),
    ],
)
def test_a_reply_that_is_not_a_draft_says_why(reply: str, message: str) -> None:
    with pytest.raises(DraftError, match=message):
        parse_draft_reply(reply)
