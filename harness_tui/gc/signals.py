"""GC signals: patterns in the event log worth a remediation, each with its evidence.

`find_signals` is a pure fold over events in log order (one pass; only the rising
failure rate keeps a bounded window). A signal names the positions of the events that
make it up, so a user can jump from the signal to the log and check it.

Kinds, in the order they are reported:

- repeated_warning: the same policy prompt (by rule id, else reason), or the same reason
  for denying an approval, at least `repeated_warning` times.
- chronic_block: the same rule (or, without one, the same reason) forbidding commands at
  least `chronic_block` times.
- hot_file: the same file asked to be written or edited at least `hot_file` times,
  across sessions.
- slow_tool: calls of one tool slower than `slow_tool_ms`, at least `slow_tool` times.
- rising_failure_rate: of the last `failure_window` tool results, the second half
  failing at least `failure_rise` times as often as the first (and at least twice, so
  one unlucky call after a clean stretch is not a trend).
- repeated_failing_command: the same shell command failing at least
  `repeated_failing_command` times within one session; one signal per command, listing
  every session where it did.

A call the policy forbade or the user denied never ran, so it is a block, not a failure;
nor is a call cancelled or closed unrun when its turn ended.
"""

from __future__ import annotations

import heapq
import itertools
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness_tui import events as ev
from harness_tui.config import GCSignalsConfig
from harness_tui.events import Event

SignalThresholds = GCSignalsConfig
"""The `[gc.signals]` section is the thresholds, so `config.gc.signals` goes straight in."""

KINDS = (
    "repeated_warning",
    "chronic_block",
    "hot_file",
    "slow_tool",
    "rising_failure_rate",
    "repeated_failing_command",
)

EDIT_TOOLS = frozenset({"write_file", "edit_file"})

# What the engine writes into tool.failed for calls that never ran: the user cancelled
# them, or the turn ended before they started. Neither says anything about the command.
_NOT_RUN_ERRORS = ("cancelled", "not run")

# A session, then its own identifier: call ids and approval ids are only unique per
# session (the scripted provider numbers them from 1 in every session).
_Scoped = tuple[str, str]


@dataclass(frozen=True)
class Signal:
    kind: str
    key: str
    """What the pattern is about: a rule id or reason, a path, a tool, a command."""
    count: int
    evidence: list[int]
    """Positions of the events that make up the signal, in log order."""
    detail: str
    """One line for the user."""

    @property
    def id(self) -> str:
        """Stable across GC runs: budgets and drafts are counted per signal id."""
        return f"{self.kind}:{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "count": self.count,
            "evidence": list(self.evidence),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Signal:
        return cls(
            kind=raw["kind"],
            key=raw["key"],
            count=int(raw["count"]),
            evidence=[int(p) for p in raw.get("evidence", ())],
            detail=raw.get("detail", ""),
        )


def command_failed(data: Mapping[str, Any]) -> bool:
    """Did the call whose tool.completed data this is fail? An error result, or a
    non-zero exit code (the bash tool reports it in metadata)."""
    if data.get("is_error"):
        return True
    metadata = data.get("metadata")
    exit_code = metadata.get("exit_code") if isinstance(metadata, Mapping) else None
    return isinstance(exit_code, int) and exit_code != 0


def never_ran(error: object) -> bool:
    """A tool.failed error that means the call was cancelled or never started."""
    return isinstance(error, str) and error.startswith(_NOT_RUN_ERRORS)


def normalise_path(path: str) -> str:
    """One spelling per file: ./src/a.py, src//a.py and src/b/../a.py are src/a.py."""
    return posixpath.normpath(path.strip())


def normalise_command(command: str) -> str:
    """Whitespace differences do not make a different command."""
    return " ".join(command.split())


# -- the fold, one session at a time ---------------------------------------------------
#
# Every pattern is counted per session and the sessions are combined when signals are
# asked for, so the fold's state can be kept per session: a checkpoint saves each
# session's part, retention deletes a session's part with it (see gc/history.py), and
# what is combined is always exactly the sessions in the log.
#
# A session's part is a JSON object, its keys present only once used:
#
#   calls      {call_id: [tool, command or null, blocked]}   calls still open
#   approvals  {approval_id: [call_id, rule_id, summary]}    approvals still open
#   prompts, denials, blocks, edits, slow
#              {key: [count, evidence, reason_at, reason, slowest_ms]}
#   failing    {command: [count, evidence]}
#   window     [position, …] its last `window` tool results, failures negated
#
# Evidence keeps the first EVIDENCE_KEPT positions (count says how many there were), so
# a part is bounded by what it can show, not by how long the session ran. `reason_at`
# is where the session first gave the pattern a reason (0: not yet): the reason shown
# is the earliest across sessions, as one pass over the whole log would find it.

EVIDENCE_KEPT = 100
"""Positions kept per pattern: more than any face shows (the draft prompt shows 20)."""

_COUNT, _EVIDENCE, _REASON_AT, _REASON, _SLOWEST = range(5)

Part = dict[str, Any]
"""One session's part of the fold: JSON, as described above."""


@dataclass(frozen=True)
class FoldSettings:
    """What the fold itself depends on (the other thresholds apply when signals are
    read): a checkpoint folded with other settings is not reused."""

    slow_tool_ms: float
    window: int

    @classmethod
    def of(cls, thresholds: GCSignalsConfig) -> FoldSettings:
        return cls(thresholds.slow_tool_ms, 2 * max(1, thresholds.failure_window // 2))


def fold(part: Part, event: Event, position: int, settings: FoldSettings) -> None:
    """Fold one event of the part's session (in log order) into the part."""
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(part, event.data, position, settings)


def _tool_requested(part: Part, data: Mapping[str, Any], pos: int, _: FoldSettings) -> None:
    tool = str(data.get("tool", ""))
    raw_args = data.get("args")
    args: Mapping[str, Any] = raw_args if isinstance(raw_args, Mapping) else {}
    command = args.get("command") if isinstance(args.get("command"), str) else None
    part.setdefault("calls", {})[str(data.get("call_id"))] = [
        tool,
        normalise_command(command) if command else None,
        False,
    ]
    path = args.get("path")
    if tool in EDIT_TOOLS and isinstance(path, str) and path.strip():
        _sight(part, "edits", normalise_path(path), pos, "")


def _policy_decided(part: Part, data: Mapping[str, Any], pos: int, _: FoldSettings) -> None:
    decision = data.get("decision")
    rule_id = data.get("rule_id") or None
    reason = str(data.get("reason") or "")
    key = rule_id or reason
    if decision == "prompt" and key:
        _sight(part, "prompts", key, pos, reason)
    elif decision == "forbid":
        _block(part, data.get("call_id"))
        if key:
            _sight(part, "blocks", key, pos, reason)


def _approval_requested(part: Part, data: Mapping[str, Any], pos: int, _: FoldSettings) -> None:
    part.setdefault("approvals", {})[str(data.get("approval_id"))] = [
        data.get("call_id"),
        data.get("rule_id") or None,
        str(data.get("summary") or ""),
    ]


def _approval_resolved(part: Part, data: Mapping[str, Any], pos: int, _: FoldSettings) -> None:
    # A resolution is the approval's last event: forgetting it keeps the part small.
    asked = _forget(part, "approvals", str(data.get("approval_id")), None)
    if data.get("decision") != "deny":
        return
    call_id, rule_id, summary = asked if asked is not None else (None, None, "")
    _block(part, call_id)
    # The user's words say why best; without them, what was asked stands in.
    reason = str(data.get("reason") or "").strip() or rule_id or summary
    if reason:
        _sight(part, "denials", reason, pos, reason)


def _tool_completed(part: Part, data: Mapping[str, Any], pos: int, settings: FoldSettings) -> None:
    # A result is the call's last event: forgetting it keeps the fold's memory to the
    # calls still open, however long the log.
    call = _forget(part, "calls", str(data.get("call_id")), None)
    duration = data.get("duration_ms")
    if call is not None and isinstance(duration, int | float):
        if duration > settings.slow_tool_ms:
            tally = _sight(part, "slow", call[0], pos, "")
            tally[_SLOWEST] = max(tally[_SLOWEST], int(duration))
    _result(part, call, command_failed(data), pos, settings)


def _tool_failed(part: Part, data: Mapping[str, Any], pos: int, settings: FoldSettings) -> None:
    call = _forget(part, "calls", str(data.get("call_id")), None)
    if not never_ran(data.get("error")):
        _result(part, call, True, pos, settings)


def _block(part: Part, call_id: object) -> None:
    call = part.get("calls", {}).get(str(call_id))
    if call is not None:
        call[2] = True


def _sight(part: Part, pattern: str, key: str, pos: int, reason: str) -> list[Any]:
    tallies = part.setdefault(pattern, {})
    tally: list[Any] | None = tallies.get(key)
    if tally is None:
        tally = [0, [], 0, "", 0]
        tallies[key] = tally
    tally[_COUNT] += 1
    if len(tally[_EVIDENCE]) < EVIDENCE_KEPT:
        tally[_EVIDENCE].append(pos)
    if reason and not tally[_REASON]:
        tally[_REASON_AT], tally[_REASON] = pos, reason
    return tally


def _result(
    part: Part, call: list[Any] | None, failed: bool, pos: int, settings: FoldSettings
) -> None:
    if call is not None and call[2]:
        return
    window: list[int] = part.setdefault("window", [])
    window.append(-pos if failed else pos)
    if len(window) > settings.window:
        del window[: len(window) - settings.window]
    if failed and call is not None and call[1]:
        entry = part.setdefault("failing", {}).setdefault(call[1], [0, []])
        entry[0] += 1
        if len(entry[1]) < EVIDENCE_KEPT:
            entry[1].append(pos)


_HANDLERS = {
    ev.TOOL_REQUESTED: _tool_requested,
    ev.POLICY_DECIDED: _policy_decided,
    ev.APPROVAL_REQUESTED: _approval_requested,
    ev.APPROVAL_RESOLVED: _approval_resolved,
    ev.TOOL_COMPLETED: _tool_completed,
    ev.TOOL_FAILED: _tool_failed,
}


def _forget(part: Part, open_items: str, key: str, default: Any) -> Any:
    """Take an open call or approval out of the part once its last event came; the
    part keeps no empty table, so a settled session's part stays small."""
    items = part.get(open_items)
    if not items:
        return default
    found = items.pop(key, default)
    if not items:
        del part[open_items]
    return found


FOLDED_TYPES = frozenset(_HANDLERS)
"""The only event types the fold looks at."""


# -- combining the sessions ------------------------------------------------------------


@dataclass
class _Tally:
    """A pattern across sessions."""

    count: int = 0
    evidence: list[int] = field(default_factory=list)
    reason_at: int = 0
    reason: str = ""
    slowest_ms: int = 0
    sessions: int = 0

    def add(self, tally: list[Any]) -> None:
        self.count += tally[_COUNT]
        self.evidence.extend(tally[_EVIDENCE])
        at = tally[_REASON_AT]
        if tally[_REASON] and (not self.reason or at < self.reason_at):
            self.reason_at, self.reason = at, tally[_REASON]
        self.slowest_ms = max(self.slowest_ms, tally[_SLOWEST])
        self.sessions += 1


def signals_of(parts: Mapping[str, Part], thresholds: GCSignalsConfig) -> list[Signal]:
    """The signals of the sessions whose parts these are (by session id, in the order
    the sessions first appeared in the log), most telling first within each kind."""
    patterns: dict[str, dict[str, _Tally]] = {
        name: {} for name in ("prompts", "denials", "blocks", "edits", "slow")
    }
    failing: dict[str, list[tuple[int, str, int, list[int]]]] = {}
    windows: list[list[int]] = []
    for sid, part in parts.items():
        for name, tallies in patterns.items():
            for key, tally in part.get(name, {}).items():
                tallies.setdefault(key, _Tally()).add(tally)
        for command, (count, evidence) in part.get("failing", {}).items():
            if count >= thresholds.repeated_failing_command:
                failing.setdefault(command, []).append((evidence[0], sid, count, evidence))
        if part.get("window"):
            windows.append(part["window"])
    found: list[Signal] = []
    t = thresholds
    for key, tally in _over(patterns["prompts"], t.repeated_warning):
        why = f"{tally.reason} [{key}]" if tally.reason and tally.reason != key else key
        found.append(
            _signal(
                "repeated_warning",
                f"prompt: {key}",
                tally,
                f"policy asked {tally.count} times for approval: {why}",
            )
        )
    for key, tally in _over(patterns["denials"], t.repeated_warning):
        found.append(
            _signal(
                "repeated_warning",
                f"denied: {key}",
                tally,
                f"approval denied {tally.count} times: {key}",
            )
        )
    for key, tally in _over(patterns["blocks"], t.chronic_block):
        why = f" ({tally.reason})" if tally.reason and tally.reason != key else ""
        found.append(
            _signal("chronic_block", key, tally, f"{key} forbade {tally.count} commands{why}")
        )
    for key, tally in _over(patterns["edits"], t.hot_file):
        n, s = tally.count, tally.sessions
        found.append(
            _signal("hot_file", key, tally, f"{key} edited {n} times in {_plural(s, 'session')}")
        )
    for key, tally in _over(patterns["slow"], t.slow_tool):
        n = tally.count
        limit, slowest = _seconds(t.slow_tool_ms), _seconds(tally.slowest_ms)
        found.append(
            _signal(
                "slow_tool",
                key,
                tally,
                f"{key} took longer than {limit} {_plural(n, 'time')} (slowest {slowest})",
            )
        )
    rise = _rising_failures(windows, FoldSettings.of(t).window, t.failure_rise)
    if rise is not None:
        found.append(rise)
    found.extend(_failing_commands(failing))
    order = {kind: i for i, kind in enumerate(KINDS)}
    # Most sightings first within a kind; ties by where the pattern began.
    found.sort(key=lambda s: (order[s.kind], -s.count, s.evidence[0], s.key))
    return found


def _over(tallies: dict[str, _Tally], threshold: int) -> list[tuple[str, _Tally]]:
    return [(k, v) for k, v in tallies.items() if v.count >= threshold]


def _rising_failures(windows: list[list[int]], size: int, rise: float) -> Signal | None:
    # The last `size` tool results of the whole log are among each session's last `size`.
    results = sorted(heapq.nlargest(size, itertools.chain.from_iterable(windows), key=abs), key=abs)
    if len(results) < size:
        return None  # too few results to speak of a trend
    half = size // 2
    first = sum(position < 0 for position in results[:half])
    second = [-position for position in results[half:] if position < 0]
    if len(second) < 2 or len(second) < rise * first:
        return None
    detail = (
        f"tool failures rose from {first} to {len(second)} of {half} calls "
        f"over the last {size} tool results"
    )
    return Signal("rising_failure_rate", f"last {size} tool results", len(second), second, detail)


def _failing_commands(
    failing: dict[str, list[tuple[int, str, int, list[int]]]],
) -> list[Signal]:
    found = []
    for command, sessions in failing.items():
        sessions.sort()  # where each session first failed it, as the log has them
        evidence = sorted(p for *_, positions in sessions for p in positions)[:EVIDENCE_KEPT]
        count = sum(count for _, _, count, _ in sessions)
        where = ", ".join(f"{count} in {sid}" for _, sid, count, _ in sessions)
        detail = f"`{command}` failed {count} times ({where})"
        found.append(Signal("repeated_failing_command", command, count, evidence, detail))
    return found


def _signal(kind: str, key: str, tally: _Tally, detail: str) -> Signal:
    return Signal(kind, key, tally.count, sorted(tally.evidence)[:EVIDENCE_KEPT], detail)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _seconds(ms: float) -> str:
    return f"{ms / 1000:g}s"


def find_signals(events: Iterable[Event], thresholds: GCSignalsConfig) -> list[Signal]:
    """Every signal in `events` (in log order), most telling first within each kind.

    Evidence is event positions; an event the store has not numbered (position None)
    is named by its 1-based index in `events` instead, which is only meaningful when
    none are numbered, as in a log built in memory."""
    settings = FoldSettings.of(thresholds)
    parts: dict[str, Part] = {}
    for index, event in enumerate(events, start=1):
        part = parts.setdefault(event.session_id, {})
        fold(part, event, event.position if event.position is not None else index, settings)
    return signals_of(parts, thresholds)


__all__ = [
    "EVIDENCE_KEPT",
    "FOLDED_TYPES",
    "KINDS",
    "FoldSettings",
    "Part",
    "Signal",
    "SignalThresholds",
    "command_failed",
    "find_signals",
    "fold",
    "never_ran",
    "normalise_command",
    "normalise_path",
    "signals_of",
]
