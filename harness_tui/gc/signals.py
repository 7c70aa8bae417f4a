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

import posixpath
from collections import deque
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


@dataclass
class _Tally:
    """Sightings of one key: positions in order, plus anything a detail needs."""

    evidence: list[int] = field(default_factory=list)
    reason: str = ""
    sessions: dict[str, int] = field(default_factory=dict)
    slowest_ms: int = 0


@dataclass
class _Call:
    tool: str
    command: str | None
    blocked: bool = False


class _Fold:
    def __init__(self, thresholds: GCSignalsConfig) -> None:
        self.t = thresholds
        self.calls: dict[_Scoped, _Call] = {}
        self.approvals: dict[_Scoped, tuple[str | None, str | None, str]] = {}
        self.prompts: dict[str, _Tally] = {}
        self.denials: dict[str, _Tally] = {}
        self.blocks: dict[str, _Tally] = {}
        self.edits: dict[str, _Tally] = {}
        self.slow: dict[str, _Tally] = {}
        # (session, command) -> positions of its failures in that session.
        self.failing: dict[tuple[str, str], list[int]] = {}
        # Only the last whole window matters: (position, failed) of each tool result.
        half = max(1, self.t.failure_window // 2)
        self.window: deque[tuple[int, bool]] = deque(maxlen=2 * half)

    def apply(self, event: Event, position: int) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event.session_id, event.data, position)

    # -- events --------------------------------------------------------------------

    def _tool_requested(self, sid: str, data: Mapping[str, Any], pos: int) -> None:
        tool = str(data.get("tool", ""))
        raw_args = data.get("args")
        args: Mapping[str, Any] = raw_args if isinstance(raw_args, Mapping) else {}
        command = args.get("command") if isinstance(args.get("command"), str) else None
        self.calls[(sid, str(data.get("call_id")))] = _Call(
            tool, normalise_command(command) if command else None
        )
        path = args.get("path")
        if tool in EDIT_TOOLS and isinstance(path, str) and path.strip():
            tally = self.edits.setdefault(normalise_path(path), _Tally())
            tally.evidence.append(pos)
            tally.sessions[sid] = tally.sessions.get(sid, 0) + 1

    def _policy_decided(self, sid: str, data: Mapping[str, Any], pos: int) -> None:
        decision = data.get("decision")
        rule_id = data.get("rule_id") or None
        reason = str(data.get("reason") or "")
        if decision == "prompt":
            self._sight(self.prompts, rule_id or reason, pos, reason)
        elif decision == "forbid":
            self._block(sid, data.get("call_id"))
            self._sight(self.blocks, rule_id or reason, pos, reason)

    def _approval_requested(self, sid: str, data: Mapping[str, Any], pos: int) -> None:
        self.approvals[(sid, str(data.get("approval_id")))] = (
            data.get("call_id"),
            data.get("rule_id") or None,
            str(data.get("summary") or ""),
        )

    def _approval_resolved(self, sid: str, data: Mapping[str, Any], pos: int) -> None:
        if data.get("decision") != "deny":
            return
        call_id, rule_id, summary = self.approvals.get(
            (sid, str(data.get("approval_id"))), (None, None, "")
        )
        self._block(sid, call_id)
        # The user's words say why best; without them, what was asked stands in.
        reason = str(data.get("reason") or "").strip() or rule_id or summary
        if reason:
            self._sight(self.denials, reason, pos, reason)

    def _tool_completed(self, sid: str, data: Mapping[str, Any], pos: int) -> None:
        # A result is the call's last event: forgetting it keeps the fold's memory to
        # the calls still open, however long the log.
        call = self.calls.pop((sid, str(data.get("call_id"))), None)
        duration = data.get("duration_ms")
        if call is not None and isinstance(duration, int | float):
            if duration > self.t.slow_tool_ms:
                tally = self.slow.setdefault(call.tool, _Tally())
                tally.evidence.append(pos)
                tally.slowest_ms = max(tally.slowest_ms, int(duration))
        self._result(sid, call, command_failed(data), pos)

    def _tool_failed(self, sid: str, data: Mapping[str, Any], pos: int) -> None:
        call = self.calls.pop((sid, str(data.get("call_id"))), None)
        if not never_ran(data.get("error")):
            self._result(sid, call, True, pos)

    # -- helpers -------------------------------------------------------------------

    def _block(self, sid: str, call_id: object) -> None:
        call = self.calls.get((sid, str(call_id)))
        if call is not None:
            call.blocked = True

    @staticmethod
    def _sight(tallies: dict[str, _Tally], key: str, pos: int, reason: str) -> None:
        if not key:
            return
        tally = tallies.setdefault(key, _Tally())
        tally.evidence.append(pos)
        tally.reason = tally.reason or reason

    def _result(self, sid: str, call: _Call | None, failed: bool, pos: int) -> None:
        if call is not None and call.blocked:
            return
        self.window.append((pos, failed))
        if failed and call is not None and call.command:
            self.failing.setdefault((sid, call.command), []).append(pos)

    # -- signals -------------------------------------------------------------------

    def signals(self) -> list[Signal]:
        found: list[Signal] = []
        t = self.t
        for key, tally in self._over(self.prompts, t.repeated_warning):
            n = len(tally.evidence)
            why = f"{tally.reason} [{key}]" if tally.reason and tally.reason != key else key
            found.append(
                _signal(
                    "repeated_warning",
                    f"prompt: {key}",
                    tally,
                    f"policy asked {n} times for approval: {why}",
                )
            )
        for key, tally in self._over(self.denials, t.repeated_warning):
            n = len(tally.evidence)
            found.append(
                _signal(
                    "repeated_warning", f"denied: {key}", tally, f"approval denied {n} times: {key}"
                )
            )
        for key, tally in self._over(self.blocks, t.chronic_block):
            n = len(tally.evidence)
            why = f" ({tally.reason})" if tally.reason and tally.reason != key else ""
            found.append(_signal("chronic_block", key, tally, f"{key} forbade {n} commands{why}"))
        for key, tally in self._over(self.edits, t.hot_file):
            n, s = len(tally.evidence), len(tally.sessions)
            found.append(
                _signal(
                    "hot_file", key, tally, f"{key} edited {n} times in {_plural(s, 'session')}"
                )
            )
        for key, tally in self._over(self.slow, t.slow_tool):
            n = len(tally.evidence)
            limit, slowest = _seconds(t.slow_tool_ms), _seconds(tally.slowest_ms)
            found.append(
                _signal(
                    "slow_tool",
                    key,
                    tally,
                    f"{key} took longer than {limit} {_plural(n, 'time')} (slowest {slowest})",
                )
            )
        rise = self._rising_failures()
        if rise is not None:
            found.append(rise)
        found.extend(self._failing_commands())
        order = {kind: i for i, kind in enumerate(KINDS)}
        # Most sightings first within a kind; ties by where the pattern began.
        found.sort(key=lambda s: (order[s.kind], -s.count, s.evidence[0], s.key))
        return found

    @staticmethod
    def _over(tallies: dict[str, _Tally], threshold: int) -> list[tuple[str, _Tally]]:
        return [(k, v) for k, v in tallies.items() if len(v.evidence) >= threshold]

    def _rising_failures(self) -> Signal | None:
        if len(self.window) < self.window.maxlen:  # type: ignore[operator]
            return None  # too few results to speak of a trend
        half = len(self.window) // 2
        results = list(self.window)
        first = sum(failed for _, failed in results[:half])
        second = [pos for pos, failed in results[half:] if failed]
        if len(second) < 2 or len(second) < self.t.failure_rise * first:
            return None
        detail = (
            f"tool failures rose from {first} to {len(second)} of {half} calls "
            f"over the last {2 * half} tool results"
        )
        return Signal(
            "rising_failure_rate", f"last {2 * half} tool results", len(second), second, detail
        )

    def _failing_commands(self) -> list[Signal]:
        by_command: dict[str, list[tuple[str, list[int]]]] = {}
        for (sid, command), positions in self.failing.items():
            if len(positions) >= self.t.repeated_failing_command:
                by_command.setdefault(command, []).append((sid, positions))
        found = []
        for command, sessions in by_command.items():
            evidence = sorted(p for _, positions in sessions for p in positions)
            where = ", ".join(f"{len(p)} in {sid}" for sid, p in sessions)
            detail = f"`{command}` failed {len(evidence)} times ({where})"
            found.append(
                Signal("repeated_failing_command", command, len(evidence), evidence, detail)
            )
        return found


_HANDLERS = {
    ev.TOOL_REQUESTED: _Fold._tool_requested,
    ev.POLICY_DECIDED: _Fold._policy_decided,
    ev.APPROVAL_REQUESTED: _Fold._approval_requested,
    ev.APPROVAL_RESOLVED: _Fold._approval_resolved,
    ev.TOOL_COMPLETED: _Fold._tool_completed,
    ev.TOOL_FAILED: _Fold._tool_failed,
}


def _signal(kind: str, key: str, tally: _Tally, detail: str) -> Signal:
    return Signal(kind, key, len(tally.evidence), list(tally.evidence), detail)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}s"


def find_signals(events: Iterable[Event], thresholds: GCSignalsConfig) -> list[Signal]:
    """Every signal in `events` (in log order), most telling first within each kind.

    Evidence is event positions; an event the store has not numbered (position None)
    is named by its 1-based index in `events` instead, which is only meaningful when
    none are numbered, as in a log built in memory."""
    fold = _Fold(thresholds)
    for index, event in enumerate(events, start=1):
        fold.apply(event, event.position if event.position is not None else index)
    return fold.signals()


__all__ = [
    "KINDS",
    "Signal",
    "SignalThresholds",
    "command_failed",
    "find_signals",
    "never_ran",
    "normalise_command",
    "normalise_path",
]
