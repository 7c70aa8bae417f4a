"""Remediation drafts: which signals get one, their lifecycle, and adopting them.

A draft is a proposed fix for a signal, written by the provider: a policy rule (a
`[[rule]]` table for the project's .harness/policy.toml), a code rule (a Markdown
`## ID: Title (severity)` section for .harness/rules/), or a note for the project's
agent instructions (AGENTS.md by default). Its life is recorded as events:

    gc.draft.created  {draft_id, signal{kind, key, count, evidence, detail}, kind,
                       target, title, content}
    gc.draft.adopted  {draft_id, kind, target, by}
    gc.draft.rejected {draft_id, reason, by}

and its status is a projection of them (`DraftsState`): pending until adopted or
rejected; a pending draft older than draft_ttl_hours is expired. Only a pending draft
can be adopted or rejected.

Budgets, counted from the drafts in the log and those planned in this run:
per signal (drafts one signal may ever get, whatever became of them), per run, and a
total for the project. `budget_per_run` and `max_drafts_per_run` both cap a run; the
smaller wins and the reason names it. A signal that gets no draft is recorded with the
reason (`signal_event_data`), so `gc status` can say why.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui import events as ev
from harness_tui.config import GCConfig, update_toml
from harness_tui.events import Event
from harness_tui.gc.coderules import load_code_rules, parse_rule_file
from harness_tui.gc.signals import Signal
from harness_tui.policy.rules import (
    PolicyLoadError,
    load_rules,
    parse_rules,
    project_rules_path,
)

if TYPE_CHECKING:
    import tomlkit

DRAFT_KINDS = ("policy_rule", "code_rule", "note")
STATUSES = ("pending", "adopted", "rejected", "expired")

DEFAULT_TARGETS = {
    "policy_rule": ".harness/policy.toml",
    "code_rule": ".harness/rules/gc.md",
    "note": "AGENTS.md",
}


class DraftError(Exception):
    """A draft that cannot be planned, adopted or rejected; the message is one line
    naming the draft and, where there is one, the file."""


@dataclass(frozen=True)
class DraftBudget:
    per_signal: int
    per_run: int
    total: int

    @classmethod
    def from_config(cls, gc: GCConfig) -> DraftBudget:
        return cls(gc.budget_per_signal, gc.budget_per_run, gc.budget_total)


@dataclass
class Draft:
    draft_id: str
    signal: dict[str, Any]
    kind: str
    target: str
    title: str
    content: Any
    """The rule table for a policy rule; Markdown text for a code rule or a note."""
    created_at: datetime
    position: int | None
    status: str = "pending"
    reason: str | None = None
    """Why it was rejected."""
    resolved_at: datetime | None = None
    by: str | None = None

    @property
    def signal_id(self) -> str:
        return f"{self.signal.get('kind')}:{self.signal.get('key')}"


@dataclass
class DraftsState:
    """Every draft in the log by id, with statuses as of `now`."""

    ttl: timedelta
    now: datetime | None = None
    drafts: dict[str, Draft] = field(default_factory=dict)
    by_signal: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_events(
        cls, events: Iterable[Event], *, now: datetime, ttl_hours: float
    ) -> DraftsState:
        state = cls(ttl=timedelta(hours=ttl_hours), now=now)
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: Event) -> None:
        data = event.data
        if event.type == ev.GC_DRAFT_CREATED:
            created = Draft(
                draft_id=str(data["draft_id"]),
                signal=dict(data.get("signal") or {}),
                kind=str(data.get("kind", "")),
                target=str(data.get("target", "")),
                title=str(data.get("title", "")),
                content=data.get("content"),
                created_at=event.ts,
                position=event.position,
            )
            self.drafts[created.draft_id] = created
            self.by_signal.setdefault(created.signal_id, []).append(created.draft_id)
        elif event.type in (ev.GC_DRAFT_ADOPTED, ev.GC_DRAFT_REJECTED):
            draft = self.drafts.get(str(data.get("draft_id")))
            # The first verdict stands: the log is the truth even if two faces raced.
            if draft is None or draft.status != "pending":
                return
            adopted = event.type == ev.GC_DRAFT_ADOPTED
            draft.status = "adopted" if adopted else "rejected"
            draft.reason = None if adopted else data.get("reason")
            draft.resolved_at = event.ts
            draft.by = data.get("by")

    def status(self, draft: Draft) -> str:
        """pending turns into expired once the draft is older than the TTL."""
        if draft.status == "pending" and self.now is not None:
            if self.now - draft.created_at >= self.ttl:
                return "expired"
        return draft.status

    def get(self, draft_id: str) -> Draft:
        draft = self.drafts.get(draft_id)
        if draft is None:
            raise DraftError(f"no draft {draft_id}")
        return draft

    def listed(self, status: str | None = None) -> list[Draft]:
        """Drafts in the order they were created, optionally only those with `status`."""
        return [d for d in self.drafts.values() if status is None or self.status(d) == status]

    def for_signal(self, signal_id: str) -> list[Draft]:
        return [self.drafts[i] for i in self.by_signal.get(signal_id, ())]


def plan_drafts(
    signals: Iterable[Signal],
    state: DraftsState,
    budget: DraftBudget,
    max_drafts_per_run: int,
) -> tuple[list[Signal], list[tuple[Signal, str]]]:
    """Which signals get a draft in this run, in the order given, and for every other
    one why not. A signal with a pending draft waits for it to be settled."""
    to_draft: list[Signal] = []
    skipped: list[tuple[Signal, str]] = []
    total = len(state.drafts)
    seen: set[str] = set()
    for signal in signals:
        if signal.id in seen:
            continue
        seen.add(signal.id)
        earlier = state.for_signal(signal.id)
        pending = [d.draft_id for d in earlier if state.status(d) == "pending"]
        planned = len(to_draft)
        if pending:
            reason = f"draft {pending[0]} for this signal is still pending"
        elif len(earlier) >= budget.per_signal:
            reason = (
                f"signal budget spent: {_drafts(len(earlier))} for this signal already "
                f"(gc.budget_per_signal = {budget.per_signal})"
            )
        elif total + planned >= budget.total:
            reason = (
                f"total draft budget spent: {_drafts(total + planned)} in this project "
                f"(gc.budget_total = {budget.total})"
            )
        elif planned >= budget.per_run and budget.per_run <= max_drafts_per_run:
            reason = (
                f"run budget spent: {_drafts(planned)} in this run "
                f"(gc.budget_per_run = {budget.per_run})"
            )
        elif planned >= max_drafts_per_run:
            reason = (
                f"{_drafts(planned)} in this run already "
                f"(gc.max_drafts_per_run = {max_drafts_per_run})"
            )
        else:
            to_draft.append(signal)
            continue
        skipped.append((signal, reason))
    return to_draft, skipped


def _drafts(n: int) -> str:
    return f"{n} draft" if n == 1 else f"{n} drafts"


def signal_event_data(
    signal: Signal, *, draft_id: str | None = None, skipped: str | None = None
) -> dict[str, Any]:
    """The data of a gc.signal event: the signal, and either the draft it got or the
    reason it got none."""
    data = signal.to_dict()
    if draft_id is not None:
        data["draft_id"] = draft_id
    if skipped is not None:
        data["skipped"] = skipped
    return data


# ---------------------------------------------------------------------------------------
# What the provider is asked, and what it answers.


@dataclass(frozen=True)
class DraftProposal:
    kind: str
    target: str
    title: str
    content: Any


def new_draft_id() -> str:
    return "d-" + uuid.uuid4().hex[:10]


def draft_prompt(signal: Signal, excerpts: Iterable[str] = ()) -> str:
    """The request for a remediation of `signal`; `excerpts` are a few of its evidence
    events rendered as text, so the model sees what actually happened."""
    lines = [
        "A recurring pattern was found in this project's agent sessions:",
        f"  {signal.kind}: {signal.detail}",
        f"  seen {signal.count} times (event positions {', '.join(map(str, signal.evidence[:20]))})",
    ]
    shown = list(excerpts)
    if shown:
        lines += ["Some of the events:", *(f"  {text}" for text in shown)]
    lines += [
        "",
        "Propose one remediation that stops it from recurring. Answer with one JSON object:",
        '  {"kind": "policy_rule" | "code_rule" | "note", "title": "...",',
        '   "target": "<path in the project, optional>", "content": ...}',
        "- policy_rule: content is a rule table for .harness/policy.toml: id, decision",
        "  (allow|prompt|forbid), reason, pattern (leading tokens), match (commands it must",
        "  match), not_match (commands it must not).",
        "- code_rule: content is Markdown: `## ID: Title (error|warning|info)` then why.",
        "- note: content is Markdown for the agent instructions (AGENTS.md).",
    ]
    return "\n".join(lines)


_JSON_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def parse_draft_reply(text: str) -> DraftProposal:
    """The provider's answer to `draft_prompt`: one JSON object, bare or in a fenced
    block. Raises DraftError saying what is wrong with it."""
    fenced = _JSON_BLOCK.search(text)
    raw = fenced[1] if fenced else text[text.find("{") : text.rfind("}") + 1]
    try:
        reply = json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise DraftError(f"the draft reply is not valid JSON: {exc.msg}") from None
    if not isinstance(reply, dict):
        raise DraftError("the draft reply holds no JSON object")
    kind = reply.get("kind")
    if kind not in DRAFT_KINDS:
        raise DraftError(f"draft kind must be one of {', '.join(DRAFT_KINDS)}, not {kind!r}")
    content = reply.get("content")
    if kind == "policy_rule" and not isinstance(content, dict):
        raise DraftError("a policy_rule draft needs content: a rule table")
    if kind != "policy_rule" and not (isinstance(content, str) and content.strip()):
        raise DraftError(f"a {kind} draft needs content: Markdown text")
    target = reply.get("target") or DEFAULT_TARGETS[kind]
    if not isinstance(target, str):
        raise DraftError("draft target must be a path")
    title = str(reply.get("title") or (content.get("id") if isinstance(content, dict) else kind))
    return DraftProposal(kind, target, title, content)


def draft_created_data(draft_id: str, signal: Signal, proposal: DraftProposal) -> dict[str, Any]:
    """The data of the gc.draft.created event for `proposal`."""
    return {
        "draft_id": draft_id,
        "signal": signal.to_dict(),
        "kind": proposal.kind,
        "target": proposal.target,
        "title": proposal.title,
        "content": proposal.content,
    }


# ---------------------------------------------------------------------------------------
# Adopting and rejecting.


def validate_draft_target(project: Path, path: str | Path) -> Path:
    """The absolute file `path` (relative to the project, or absolute) names, after
    following symlinks; DraftError when that is outside the project or inside .git."""
    root = Path(project).resolve()
    target = (root / Path(path).expanduser()).resolve()
    if not target.is_relative_to(root) or target == root:
        raise DraftError(f"draft target {path} is outside the project {root}")
    if target.is_relative_to(root / ".git"):
        raise DraftError(f"draft target {path} is inside .git")
    if target.is_dir():
        raise DraftError(f"draft target {path} is a directory, not a file")
    return target


def _pending(state: DraftsState, draft_id: str, verb: str) -> Draft:
    draft = state.get(draft_id)
    status = state.status(draft)
    if status != "pending":
        raise DraftError(f"draft {draft_id} is {status}, not pending: it cannot be {verb}")
    return draft


def adopt_draft(
    project: Path, state: DraftsState, draft_id: str, *, by: str = "user"
) -> dict[str, Any]:
    """Write a pending draft's artifact into the project and return the data of its
    gc.draft.adopted event, for the caller to append. Nothing is written when the
    draft is not pending, its target is outside the project, or the artifact would not
    load (a policy rule whose examples fail, a code rule heading that does not parse)."""
    draft = _pending(state, draft_id, "adopted")
    target = validate_draft_target(project, draft.target)
    note = f"adopted from GC draft {draft.draft_id}"
    if draft.kind == "policy_rule":
        # Only the project's own policy file is loaded; a rule anywhere else would
        # look adopted and change nothing.
        if target != project_rules_path(Path(project).resolve()):
            raise DraftError(f"draft {draft_id}: a policy rule goes in .harness/policy.toml")
        if not isinstance(draft.content, Mapping):
            raise DraftError(f"draft {draft_id}: a policy rule needs a rule table")
        apply_policy_rule_draft(target, dict(draft.content), comment=note)
    elif draft.kind == "code_rule":
        _apply_code_rule(Path(project), target, draft)
    elif draft.kind == "note":
        _append_markdown(target, str(draft.content))
    else:
        raise DraftError(f"draft {draft_id} has unknown kind {draft.kind!r}")
    return {"draft_id": draft.draft_id, "kind": draft.kind, "target": draft.target, "by": by}


def reject_draft(
    state: DraftsState, draft_id: str, reason: str, *, by: str = "user"
) -> dict[str, Any]:
    """The data of a gc.draft.rejected event; the reason is required, so the next draft
    for the same signal can be told what was wrong with this one."""
    _pending(state, draft_id, "rejected")
    if not reason or not reason.strip():
        raise DraftError(f"draft {draft_id}: say why it is rejected")
    return {"draft_id": draft_id, "reason": reason.strip(), "by": by}


def apply_policy_rule_draft(
    policy_path: Path, rule: dict[str, Any], *, comment: str | None = None
) -> None:
    """Append `rule` as a `[[rule]]` table to the policy file, keeping the user's
    comments and layout. The file as it would be is checked first (fields, a duplicate
    id, the rule's match / not_match examples), so a bad rule never reaches the disk;
    afterwards `load_rules` must accept the file, else the old text is put back."""
    import tomlkit
    from tomlkit.exceptions import ParseError
    from tomlkit.items import AoT

    policy_path = Path(policy_path)
    try:
        before = policy_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = None

    def append(document: tomlkit.TOMLDocument) -> None:
        table = tomlkit.table()
        table.update(rule)
        if comment:
            table.comment(comment)
        rules = document.get("rule")
        if rules is None:
            rules = tomlkit.aot()
            document.append("rule", rules)
        elif not tomlkit.dumps(document).endswith("\n\n"):
            # A blank line before the new table, as between the user's own rules.
            table.trivia.indent = "\n"
        if not isinstance(rules, AoT):
            raise DraftError(f"{policy_path}: `rule` is not an array of tables ([[rule]])")
        rules.append(table)

    try:
        preview = tomlkit.parse(before or "")
    except ParseError as exc:
        raise DraftError(f"{policy_path}: invalid TOML: {exc}") from None
    append(preview)
    try:
        parse_rules(tomlkit.dumps(preview), str(policy_path))
    except PolicyLoadError as exc:
        raise DraftError(str(exc)) from None
    update_toml(policy_path, append)
    try:
        load_rules([policy_path])
    except PolicyLoadError as exc:
        # Someone changed the file between the check and the write: restore it.
        if before is None:
            policy_path.unlink(missing_ok=True)
        else:
            _write_atomically(policy_path, before)
        raise DraftError(str(exc)) from None


def _apply_code_rule(project: Path, target: Path, draft: Draft) -> None:
    if target.suffix != ".md" or target.parent.name != "rules":
        raise DraftError(f"draft {draft.draft_id}: a code rule goes in .harness/rules/*.md")
    text = str(draft.content)
    rules, errors = parse_rule_file(text, draft.target)
    if errors:
        raise DraftError(f"draft {draft.draft_id}: {errors[0]}")
    if not rules:
        raise DraftError(f"draft {draft.draft_id}: no `## ID: Title (severity)` section")
    existing, _ = load_code_rules(project)
    for rule in rules:
        if rule.id in existing:
            first = existing[rule.id]
            raise DraftError(
                f"draft {draft.draft_id}: rule {rule.id} is already defined at "
                f"{first.file}:{first.line}"
            )
    _append_markdown(target, text)


def _append_markdown(target: Path, text: str) -> None:
    try:
        before = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = ""
    # A blank line between what was there and what is added keeps both readable.
    if not before or before.endswith("\n\n"):
        separator = ""
    elif before.endswith("\n"):
        separator = "\n"
    else:
        separator = "\n\n"
    _write_atomically(target, before + separator + text.strip("\n") + "\n")


def _write_atomically(path: Path, text: str) -> None:
    """A crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = [
    "DEFAULT_TARGETS",
    "DRAFT_KINDS",
    "STATUSES",
    "Draft",
    "DraftBudget",
    "DraftError",
    "DraftProposal",
    "DraftsState",
    "adopt_draft",
    "apply_policy_rule_draft",
    "draft_created_data",
    "draft_prompt",
    "new_draft_id",
    "parse_draft_reply",
    "plan_drafts",
    "reject_draft",
    "signal_event_data",
    "validate_draft_target",
]
