"""Remediation drafts: which signals get one, what the provider is asked, and their
lifecycle; adopting one writes into the project (`gc/adoption.py`).

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
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness_tui import events as ev
from harness_tui.config import GCConfig
from harness_tui.events import Event
from harness_tui.gc.signals import Signal

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

    def pending(self, draft_id: str, verb: str) -> Draft:
        """The draft, which must still be pending to be `verb` (adopted, rejected)."""
        draft = self.get(draft_id)
        status = self.status(draft)
        if status != "pending":
            raise DraftError(f"draft {draft_id} is {status}, not pending: it cannot be {verb}")
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
# Settling a draft. Adopting one writes its artifact into the project (gc/adoption.py).


def reject_draft(
    state: DraftsState, draft_id: str, reason: str, *, by: str = "user"
) -> dict[str, Any]:
    """The data of a gc.draft.rejected event; the reason is required, so the next draft
    for the same signal can be told what was wrong with this one."""
    state.pending(draft_id, "rejected")
    if not reason or not reason.strip():
        raise DraftError(f"draft {draft_id}: say why it is rejected")
    return {"draft_id": draft_id, "reason": reason.strip(), "by": by}


__all__ = [
    "DEFAULT_TARGETS",
    "DRAFT_KINDS",
    "STATUSES",
    "Draft",
    "DraftBudget",
    "DraftError",
    "DraftProposal",
    "DraftsState",
    "draft_created_data",
    "draft_prompt",
    "new_draft_id",
    "parse_draft_reply",
    "plan_drafts",
    "reject_draft",
    "signal_event_data",
]
