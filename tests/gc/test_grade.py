"""Grades from events: what each dimension measures, the letter, and no grade without
evidence."""

from __future__ import annotations

from datetime import timedelta

import pytest

from harness_tui import events as ev
from harness_tui.config import GCGradeConfig
from harness_tui.gc.grade import grade, grade_project, runs_tests
from tests.gc.eventlog import Log

WEIGHTS = GCGradeConfig()


def careful_session(log: Log, sid: str) -> None:
    """Reads, edits, runs the tests, all quick and clean."""
    log.turn(sid)
    log.call(sid, "read_file", path="src/app.py")
    log.call(sid, "edit_file", path="src/app.py", old_string="a", new_string="b")
    log.call(sid, "bash", command=".venv/bin/pytest -q")
    log.end_turn(sid)


def reckless_session(log: Log, sid: str) -> None:
    """Ten calls: three forbidden, two that fail, an edit never tested."""
    log.turn(sid)
    for _ in range(3):
        log.call(sid, "bash", command="sudo rm -rf /", decision="forbid", rule_id="sudo")
    log.call(sid, "edit_file", path="src/app.py", old_string="a", new_string="b")
    log.call(sid, "bash", command="make build", exit_code=2)
    log.call(sid, "bash", command="make build", error="bash crashed: OSError")
    for _ in range(4):
        log.call(sid, "read_file", path="src/app.py")
    log.end_turn(sid)


def test_a_careful_session_gets_an_a() -> None:
    log = Log()
    careful_session(log, "s1")
    result = grade(log.events, WEIGHTS)
    assert result is not None
    assert result.letter == "A"
    assert result.dimensions == {"security": 1.0, "stability": 1.0, "coverage": 1.0, "speed": 1.0}
    assert result.summary() == ("A 1.00  security 1.00  stability 1.00  coverage 1.00  speed 1.00")


def test_a_reckless_session_is_marked_down_on_every_count() -> None:
    log = Log()
    reckless_session(log, "s1")
    result = grade(log.events, WEIGHTS)
    assert result is not None
    assert result.dimensions["security"] == pytest.approx(0.7)  # 3 of 10 calls forbidden
    # 7 calls ran, 2 failed; the one turn ended well: 1 - 2/8.
    assert result.dimensions["stability"] == pytest.approx(0.75)
    assert result.dimensions["coverage"] == 0.0  # edited, never tested
    assert result.dimensions["speed"] == 1.0
    # 0.4·0.7 + 0.3·0.75 + 0.2·0 + 0.1·1 = 0.605
    assert result.score == pytest.approx(0.605)
    assert result.letter == "C"
    assert result.evidence["blocked"] == 3
    assert result.evidence["failed_results"] == 2


def test_the_weights_decide_what_matters() -> None:
    log = Log()
    reckless_session(log, "s1")
    only_coverage = GCGradeConfig(security=0, stability=0, coverage=1, speed=0)
    only_speed = GCGradeConfig(security=0, stability=0, coverage=0, speed=1)
    assert grade(log.events, only_coverage).letter == "D"
    assert grade(log.events, only_speed).letter == "A"
    with pytest.raises(ValueError, match="every weight is 0"):
        grade(log.events, GCGradeConfig(security=0, stability=0, coverage=0, speed=0))


def test_no_tool_calls_no_grade() -> None:
    log = Log()
    log.turn("s1", "what does this project do?")
    log.add("s1", ev.MODEL_COMPLETED, text="It is a dashboard.", tool_calls=[])
    log.end_turn("s1")
    assert grade(log.events, WEIGHTS) is None
    assert grade([], WEIGHTS) is None
    assert grade_project({"s1": log.events, "s2": []}, WEIGHTS) is None


def test_a_session_that_changes_nothing_is_not_judged_on_coverage() -> None:
    log = Log()
    log.turn("s1")
    log.call("s1", "read_file", path="README.md")
    log.call("s1", "grep", pattern="TODO")
    log.end_turn("s1")
    result = grade(log.events, WEIGHTS)
    assert result.dimensions["coverage"] is None
    assert result.letter == "A"
    assert "coverage -" in result.summary()


def test_validation_after_the_turn_counts_as_testing_it() -> None:
    log = Log()
    log.turn("s1")
    log.call("s1", "write_file", path="src/new.py", content="x = 1\n")
    log.end_turn("s1")
    untested = grade(log.events, WEIGHTS)
    assert untested.dimensions["coverage"] == 0.0
    log.add(
        "s1",
        ev.VALIDATION_COMPLETED,
        command="make check",
        exit_code=0,
        output_tail="",
        kind="test",
    )
    assert grade(log.events, WEIGHTS).dimensions["coverage"] == 1.0


def test_coverage_is_the_share_of_editing_turns_that_ran_tests() -> None:
    log = Log()
    for tested in (True, False, True, True):
        log.turn("s1")
        log.call("s1", "edit_file", path="a.py", old_string="a", new_string="b")
        if tested:
            log.call("s1", "bash", command="cd app && uv run pytest -x")
        else:
            log.call("s1", "bash", command="pip install pytest")
        log.end_turn("s1")
    assert grade(log.events, WEIGHTS).dimensions["coverage"] == pytest.approx(0.75)


def test_waiting_for_an_approval_does_not_make_a_turn_slow() -> None:
    log = Log()
    log.turn("s1")
    # The approval sat in the inbox for twenty minutes; the turn limit is fifteen.
    log.call(
        "s1",
        "bash",
        command="git push",
        decision="prompt",
        rule_id="git-push",
        approve="allow_once",
        approval_wait_s=1200,
        duration_ms=900,
    )
    log.end_turn("s1")
    assert log.events[-1].ts - log.events[1].ts > timedelta(minutes=20)
    assert grade(log.events, WEIGHTS).dimensions["speed"] == 1.0

    slow = Log()
    slow.turn("s1")
    slow.call("s1", "bash", command="make all", duration_ms=1_200_000)
    slow.end_turn("s1")
    # The call and its turn both went over their limits.
    assert grade(slow.events, WEIGHTS).dimensions["speed"] == 0.0
    assert (
        grade(slow.events, WEIGHTS, slow_tool_ms=2_000_000, slow_turn_s=3600).dimensions["speed"]
        == 1.0
    )


def test_a_failed_turn_costs_stability() -> None:
    log = Log()
    log.turn("s1")
    log.call("s1", "read_file", path="a.py")
    log.end_turn("s1", reason="failed", error="provider unreachable")
    assert grade(log.events, WEIGHTS).dimensions["stability"] == pytest.approx(0.5)


def test_the_project_grade_pools_its_sessions() -> None:
    log = Log()
    careful_session(log, "good")
    reckless_session(log, "bad")
    by_session = log.by_session()
    good = grade(by_session["good"], WEIGHTS)
    bad = grade(by_session["bad"], WEIGHTS)
    project = grade_project(by_session, WEIGHTS)
    assert (good.letter, bad.letter) == ("A", "C")
    assert bad.score < project.score < good.score
    assert project.sessions == 2
    assert project.evidence["tool_calls"] == 13
    assert project.to_dict()["letter"] == project.letter


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("pytest -q", True),
        (".venv/bin/pytest tests/gc", True),
        ("cd web && npm test", True),
        ("npm run test -- --watch=false", True),
        ("go test ./...", True),
        ("python3 -m unittest discover", True),
        ("timeout 600 make check", True),
        ("CI=1 cargo test --all", True),
        ("pip install pytest", False),
        ("cat pytest.ini", False),
        ("make build", False),
        ("git log | grep test", False),
    ],
)
def test_what_counts_as_running_tests(command: str, expected: bool) -> None:
    assert runs_tests(command) is expected
