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
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass
class _Turn:
    started: datetime | None = None
    waited_s: float = 0.0
    edited: bool = False
    tested: bool = False


@dataclass
class _Fold:
    slow_tool_ms: float
    slow_turn_s: float
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
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
            ),
            0,
        )
    )
    sessions: set[str] = field(default_factory=set)
    calls: dict[tuple[str, str], bool] = field(default_factory=dict)  # -> blocked
    turns: list[_Turn] = field(default_factory=list)
    # The turn a session's events belong to: the open one, else its last.
    current: dict[str, _Turn] = field(default_factory=dict)
    open_turn: dict[str, bool] = field(default_factory=dict)
    approvals: dict[tuple[str, str], tuple[str | None, datetime]] = field(default_factory=dict)

    def turn(self, sid: str) -> _Turn:
        # Events before any turn.started (a log cut short at the front) get a turn too.
        if sid not in self.current:
            self.current[sid] = _Turn()
            self.turns.append(self.current[sid])
        return self.current[sid]

    def apply(self, event: Event) -> None:
        sid, data, c = event.session_id, event.data, self.counts
        self.sessions.add(sid)
        kind = event.type
        if kind == ev.TURN_STARTED:
            self.current[sid] = _Turn(started=event.ts)
            self.turns.append(self.current[sid])
            self.open_turn[sid] = True
        elif kind == ev.TURN_COMPLETED:
            turn = self.turn(sid)
            self.open_turn[sid] = False
            c["turns"] += 1
            c["failed_turns"] += data.get("reason") == "failed"
            if turn.started is not None:
                length = (event.ts - turn.started).total_seconds() - turn.waited_s
                c["timed"] += 1
                c["timely"] += length <= self.slow_turn_s
        elif kind == ev.TOOL_REQUESTED:
            c["tool_calls"] += 1
            self.calls[(sid, str(data.get("call_id")))] = False
            raw_args = data.get("args")
            args: Mapping[str, Any] = raw_args if isinstance(raw_args, Mapping) else {}
            turn = self.turn(sid)
            if data.get("tool") in EDIT_TOOLS:
                turn.edited = True
            command = args.get("command")
            if isinstance(command, str) and runs_tests(command):
                turn.tested = True
        elif kind == ev.VALIDATION_COMPLETED:
            self.turn(sid).tested = True
        elif kind == ev.POLICY_DECIDED and data.get("decision") == "forbid":
            self._block(sid, data.get("call_id"))
        elif kind == ev.APPROVAL_REQUESTED:
            key = (sid, str(data.get("approval_id")))
            self.approvals[key] = (data.get("call_id"), event.ts)
        elif kind == ev.APPROVAL_RESOLVED:
            call_id, asked = self.approvals.pop((sid, str(data.get("approval_id"))), (None, None))
            if asked is not None and self.open_turn.get(sid):
                self.turn(sid).waited_s += (event.ts - asked).total_seconds()
            if data.get("decision") == "deny":
                self._block(sid, call_id)
        elif kind == ev.TOOL_COMPLETED:
            if self.calls.get((sid, str(data.get("call_id")))):
                return
            c["results"] += 1
            c["failed_results"] += command_failed(data)
            duration = data.get("duration_ms")
            if isinstance(duration, int | float):
                c["timed"] += 1
                c["timely"] += duration <= self.slow_tool_ms
        elif kind == ev.TOOL_FAILED:
            if self.calls.get((sid, str(data.get("call_id")))) or never_ran(data.get("error")):
                return
            c["results"] += 1
            c["failed_results"] += 1

    def _block(self, sid: str, call_id: object) -> None:
        key = (sid, str(call_id))
        if key in self.calls and not self.calls[key]:
            self.calls[key] = True
            self.counts["blocked"] += 1

    def result(self, weights: GCGradeConfig) -> Grade | None:
        c = self.counts
        if c["tool_calls"] == 0:
            return None
        edit_turns = [t for t in self.turns if t.edited]
        c["edit_turns"] = len(edit_turns)
        c["tested_edit_turns"] = sum(t.tested for t in edit_turns)
        dims: dict[str, float | None] = {
            "security": max(0.0, 1 - c["blocked"] / c["tool_calls"]),
            "stability": _share_ok(
                c["failed_results"] + c["failed_turns"], c["results"] + c["turns"]
            ),
            "coverage": c["tested_edit_turns"] / len(edit_turns) if edit_turns else None,
            "speed": c["timely"] / c["timed"] if c["timed"] else None,
        }
        weighed = [(getattr(weights, d), s) for d, s in dims.items() if s is not None]
        total = sum(w for w, _ in weighed)
        if total <= 0:
            return None  # only dimensions without evidence carry weight
        score = sum(w * s for w, s in weighed) / total
        return Grade(_letter(score), score, dims, dict(c), len(self.sessions))


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
    _check(weights)
    fold = _Fold(slow_tool_ms, slow_turn_s)
    for event in events:
        fold.apply(event)
    return fold.result(weights)


def grade_project(
    events_by_session: Mapping[str, Iterable[Event]],
    weights: GCGradeConfig,
    *,
    slow_tool_ms: float = DEFAULT_SLOW_TOOL_MS,
    slow_turn_s: float = DEFAULT_SLOW_TURN_S,
) -> Grade | None:
    """The grade of a project: every session's events pooled; None without tool calls."""
    _check(weights)
    fold = _Fold(slow_tool_ms, slow_turn_s)
    for session_events in events_by_session.values():
        for event in session_events:
            fold.apply(event)
    return fold.result(weights)


__all__ = ["DIMENSIONS", "Grade", "GradeWeights", "grade", "grade_project", "runs_tests"]
