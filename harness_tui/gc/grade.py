"""Grades A–D for a session or a whole project, computed from its events alone.

Four dimensions, each a score from 0 to 1:

- security  = 1 − blocked / tool calls, where blocked counts calls the policy forbade and
  approvals the user denied (capped at 0).
- stability = 1 − (failed tool results + failed turns) / (tool results + finished turns).
  A tool result fails when the call errors or exits non-zero; a call that was blocked,
  cancelled or never ran is not a result. A turn fails when it ends with reason failed.
- coverage  = tested edit turns / edit turns: of the turns that wrote or edited a file,
  the share that also ran tests (a shell command running a test runner, see
  `runs_tests`) or had a validation.completed (validation that runs after a turn counts
  for that turn). Turns that changed nothing are not judged.
- speed     = timely / timed: tool calls within `slow_tool_ms` plus finished turns within
  `slow_turn_s` (time spent waiting for an approval does not count against a turn),
  over all tool calls with a duration plus all finished turns.

A dimension with nothing to judge (no edit turns, say) has no score and its weight is
left out. The grade is the weighted mean of the others:

    score = Σ weight_d × score_d / Σ weight_d        over dimensions with a score

and the letter: A ≥ 0.90, B ≥ 0.75, C ≥ 0.60, else D. No tool calls, no evidence: no
grade (None). A project's grade pools the events of all its sessions, so a session with
many calls weighs more than one with few.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness_tui import events as ev
from harness_tui.config import GCGradeConfig
from harness_tui.events import Event
from harness_tui.gc.signals import EDIT_TOOLS, command_failed, never_ran

GradeWeights = GCGradeConfig
"""The `[gc.grade]` section is the weights, so `config.gc.grade` goes straight in."""

DIMENSIONS = ("security", "stability", "coverage", "speed")
LETTERS = (("A", 0.90), ("B", 0.75), ("C", 0.60))

DEFAULT_SLOW_TOOL_MS = 30_000
DEFAULT_SLOW_TURN_S = 900.0

# Test runners by the name they are run with, and tools whose `test` (or `check`)
# subcommand runs the tests.
_RUNNERS = frozenset(
    "pytest py.test tox nox jest vitest mocha rspec phpunit ctest unittest".split()
)
_TEST_SUBCOMMANDS = {
    **dict.fromkeys(
        "go cargo npm yarn pnpm bun deno mvn gradle gradlew dotnet mix swift zig".split(),
        frozenset({"test"}),
    ),
    "make": frozenset({"test", "check"}),
}
# Words that run the command after them: `uv run pytest`, `timeout 600 npm test`.
_WRAPPERS = frozenset("env time nice nohup timeout npx command exec".split())
_RUN_WRAPPERS = frozenset("uv poetry pipenv pdm hatch rye".split())
_SEGMENT_BREAK = re.compile(r"&&|\|\||[;&|()\n]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def runs_tests(command: str) -> bool:
    """Does this shell command run a test suite? Every simple command in it is looked
    at, behind environment assignments, wrappers (`uv run`, `timeout 600`, `python -m`)
    and paths (.venv/bin/pytest), so `cd app && npm test` counts and
    `pip install pytest` does not."""
    for segment in _SEGMENT_BREAK.split(command):
        words = segment.split()
        while words:
            name = words[0].rsplit("/", 1)[-1]
            if _ASSIGNMENT.match(words[0]) or name in _WRAPPERS:
                words = words[1:]
                # timeout and nice take a number or an option first.
                while words and (words[0][:1].isdigit() or words[0].startswith("-")):
                    words = words[1:]
            elif name in _RUN_WRAPPERS and len(words) > 1 and words[1] == "run":
                words = words[2:]
            elif re.fullmatch(r"python[0-9.]*", name) and len(words) > 2 and words[1] == "-m":
                words = words[2:]
            else:
                break
        if not words:
            continue
        name = words[0].rsplit("/", 1)[-1]
        if name in _RUNNERS:
            return True
        rest = [w for w in words[1:] if not w.startswith("-")]
        if rest[:1] == ["run"]:
            rest = rest[1:]
        if name in _TEST_SUBCOMMANDS and rest[:1] and rest[0] in _TEST_SUBCOMMANDS[name]:
            return True
    return False


@dataclass(frozen=True)
class Grade:
    letter: str
    score: float
    dimensions: dict[str, float | None]
    """Each dimension's score, None where there was nothing to judge."""
    evidence: dict[str, int]
    """The counts the scores come from, so a grade can be explained."""
    sessions: int

    def summary(self) -> str:
        """One line: `B 0.81  security 1.00  stability 0.67  coverage -  speed 1.00`."""
        parts = [f"{self.letter} {self.score:.2f}"]
        for name in DIMENSIONS:
            value = self.dimensions.get(name)
            parts.append(f"{name} {'-' if value is None else f'{value:.2f}'}")
        return "  ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "letter": self.letter,
            "score": round(self.score, 4),
            "dimensions": {
                name: None if value is None else round(value, 4)
                for name, value in self.dimensions.items()
            },
            "evidence": dict(self.evidence),
            "sessions": self.sessions,
        }


# -- the fold, one session at a time ---------------------------------------------------
#
# Every count is a session's own and a project's grade pools them, so the fold's state
# is kept per session (as the signals' is; see gc/history.py for the checkpoint). A
# session's part is a JSON object, its keys present only once used:
#
#   n          the counts of COUNTS, in that order; the edit counts cover turns that
#              are over (a later turn started), the current turn is added when read
#   turn       the current turn (the open one, else the last):
#              [started (µs since the epoch) or null, waited_s, edited, tested]
#   open       whether that turn is still open
#   calls      {call_id: blocked}                     calls still open
#   approvals  {approval_id: [call_id, asked (µs)]}   approvals still open
#
# Times are whole microseconds, so differences come out exactly as datetime's do.

COUNTS = (
    "tool_calls",
    "blocked",
    "results",
    "failed_results",
    "turns",
    "failed_turns",
    "edit_turns",
    "tested_edit_turns",
    "timed",
    "timely",
)
(
    _TOOL_CALLS,
    _BLOCKED,
    _RESULTS,
    _FAILED_RESULTS,
    _TURNS,
    _FAILED_TURNS,
    _EDIT_TURNS,
    _TESTED_EDIT_TURNS,
    _TIMED,
    _TIMELY,
) = range(len(COUNTS))
_STARTED, _WAITED, _EDITED, _TESTED = range(4)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Part = dict[str, Any]
"""One session's part of the fold: JSON, as described above."""


@dataclass(frozen=True)
class FoldSettings:
    """What the fold depends on: a checkpoint folded with other settings is not reused."""

    slow_tool_ms: float = DEFAULT_SLOW_TOOL_MS
    slow_turn_s: float = DEFAULT_SLOW_TURN_S


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // _MICROSECOND


def _counts(part: Part) -> list[int]:
    counts: list[int] | None = part.get("n")
    if counts is None:
        counts = part["n"] = [0] * len(COUNTS)
    return counts


def _turn(part: Part) -> list[Any]:
    # Events before any turn.started (a log cut short at the front) get a turn too.
    turn: list[Any] | None = part.get("turn")
    if turn is None:
        turn = part["turn"] = [None, 0.0, False, False]
    return turn


def fold(part: Part, event: Event, settings: FoldSettings) -> None:
    """Fold one event of the part's session (in log order) into the part."""
    data, kind = event.data, event.type
    c = _counts(part)
    if kind == ev.TURN_STARTED:
        ended = part.get("turn")
        if ended is not None and ended[_EDITED]:
            c[_EDIT_TURNS] += 1
            c[_TESTED_EDIT_TURNS] += bool(ended[_TESTED])
        part["turn"] = [_micros(event.ts), 0.0, False, False]
        part["open"] = True
    elif kind == ev.TURN_COMPLETED:
        turn = _turn(part)
        part["open"] = False
        c[_TURNS] += 1
        c[_FAILED_TURNS] += data.get("reason") == "failed"
        if turn[_STARTED] is not None:
            length = (_micros(event.ts) - turn[_STARTED]) / 10**6 - turn[_WAITED]
            c[_TIMED] += 1
            c[_TIMELY] += length <= settings.slow_turn_s
    elif kind == ev.TOOL_REQUESTED:
        c[_TOOL_CALLS] += 1
        part.setdefault("calls", {})[str(data.get("call_id"))] = False
        raw_args = data.get("args")
        args: Mapping[str, Any] = raw_args if isinstance(raw_args, Mapping) else {}
        turn = _turn(part)
        if data.get("tool") in EDIT_TOOLS:
            turn[_EDITED] = True
        command = args.get("command")
        if isinstance(command, str) and runs_tests(command):
            turn[_TESTED] = True
    elif kind == ev.VALIDATION_COMPLETED:
        _turn(part)[_TESTED] = True
    elif kind == ev.POLICY_DECIDED and data.get("decision") == "forbid":
        _block(part, data.get("call_id"))
    elif kind == ev.APPROVAL_REQUESTED:
        part.setdefault("approvals", {})[str(data.get("approval_id"))] = [
            data.get("call_id"),
            _micros(event.ts),
        ]
    elif kind == ev.APPROVAL_RESOLVED:
        call_id, asked = _forget(part, "approvals", str(data.get("approval_id")), (None, None))
        if asked is not None and part.get("open"):
            turn = _turn(part)
            turn[_WAITED] += (_micros(event.ts) - asked) / 10**6
        if data.get("decision") == "deny":
            _block(part, call_id)
    elif kind == ev.TOOL_COMPLETED:
        # A result is the call's last event: forgetting the call keeps the part to
        # the calls still open.
        if _forget(part, "calls", str(data.get("call_id")), False):
            return
        c[_RESULTS] += 1
        c[_FAILED_RESULTS] += command_failed(data)
        duration = data.get("duration_ms")
        if isinstance(duration, int | float):
            c[_TIMED] += 1
            c[_TIMELY] += duration <= settings.slow_tool_ms
    elif kind == ev.TOOL_FAILED:
        blocked = _forget(part, "calls", str(data.get("call_id")), False)
        if blocked or never_ran(data.get("error")):
            return
        c[_RESULTS] += 1
        c[_FAILED_RESULTS] += 1


def _block(part: Part, call_id: object) -> None:
    calls = part.get("calls", {})
    key = str(call_id)
    if key in calls and not calls[key]:
        calls[key] = True
        _counts(part)[_BLOCKED] += 1


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


FOLDED_TYPES = frozenset(
    {
        ev.TURN_STARTED,
        ev.TURN_COMPLETED,
        ev.TOOL_REQUESTED,
        ev.VALIDATION_COMPLETED,
        ev.POLICY_DECIDED,
        ev.APPROVAL_REQUESTED,
        ev.APPROVAL_RESOLVED,
        ev.TOOL_COMPLETED,
        ev.TOOL_FAILED,
    }
)
"""The event types that change a part's counts (any other event only makes the part,
so its session is counted among the grade's sessions)."""


def counts_of(part: Part) -> list[int]:
    """The part's counts with its current turn included."""
    counts = list(part.get("n") or [0] * len(COUNTS))
    turn = part.get("turn")
    if turn is not None and turn[_EDITED]:
        counts[_EDIT_TURNS] += 1
        counts[_TESTED_EDIT_TURNS] += bool(turn[_TESTED])
    return counts


def grade_of(parts: Iterable[Part], weights: GCGradeConfig) -> Grade | None:
    """The grade of the sessions whose parts these are, pooled; None without tool
    calls. Raises ValueError when every weight is 0."""
    _check(weights)
    total = [0] * len(COUNTS)
    sessions = 0
    for part in parts:
        sessions += 1
        for index, count in enumerate(counts_of(part)):
            total[index] += count
    return _result(dict(zip(COUNTS, total, strict=True)), sessions, weights)


def _result(c: dict[str, int], sessions: int, weights: GCGradeConfig) -> Grade | None:
    if c["tool_calls"] == 0:
        return None
    edit_turns = c["edit_turns"]
    dims: dict[str, float | None] = {
        "security": max(0.0, 1 - c["blocked"] / c["tool_calls"]),
        "stability": _share_ok(c["failed_results"] + c["failed_turns"], c["results"] + c["turns"]),
        "coverage": c["tested_edit_turns"] / edit_turns if edit_turns else None,
        "speed": c["timely"] / c["timed"] if c["timed"] else None,
    }
    weighed = [(getattr(weights, d), s) for d, s in dims.items() if s is not None]
    weight = sum(w for w, _ in weighed)
    if weight <= 0:
        return None  # only dimensions without evidence carry weight
    score = sum(w * s for w, s in weighed) / weight
    return Grade(_letter(score), score, dims, c, sessions)


def _share_ok(bad: int, total: int) -> float | None:
    return 1 - bad / total if total else None


def _letter(score: float) -> str:
    # A hair of tolerance so 0.9 computed as 0.8999999 still earns its A.
    for letter, floor in LETTERS:
        if score >= floor - 1e-9:
            return letter
    return "D"


def _check(weights: GCGradeConfig) -> None:
    if not any(getattr(weights, d) > 0 for d in DIMENSIONS):
        raise ValueError("gc.grade: every weight is 0, so nothing could be graded")


def grade(
    events: Iterable[Event],
    weights: GCGradeConfig,
    *,
    slow_tool_ms: float = DEFAULT_SLOW_TOOL_MS,
    slow_turn_s: float = DEFAULT_SLOW_TURN_S,
) -> Grade | None:
    """The grade of one session's events (in log order); None without tool calls.

    Pass `config.gc.signals.slow_tool_ms` so "slow" means the same here as in signals.
    Raises ValueError when every weight is 0."""
    return grade_project({"": events}, weights, slow_tool_ms=slow_tool_ms, slow_turn_s=slow_turn_s)


def grade_project(
    events_by_session: Mapping[str, Iterable[Event]],
    weights: GCGradeConfig,
    *,
    slow_tool_ms: float = DEFAULT_SLOW_TOOL_MS,
    slow_turn_s: float = DEFAULT_SLOW_TURN_S,
) -> Grade | None:
    """The grade of a project: every session's events pooled; None without tool calls."""
    _check(weights)
    settings = FoldSettings(slow_tool_ms, slow_turn_s)
    parts: dict[str, Part] = {}
    for session_events in events_by_session.values():
        for event in session_events:
            fold(parts.setdefault(event.session_id, {}), event, settings)
    return grade_of(parts.values(), weights)


__all__ = [
    "COUNTS",
    "DIMENSIONS",
    "FOLDED_TYPES",
    "FoldSettings",
    "Grade",
    "GradeWeights",
    "Part",
    "counts_of",
    "fold",
    "grade",
    "grade_of",
    "grade_project",
    "runs_tests",
]
