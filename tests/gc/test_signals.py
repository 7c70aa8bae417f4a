"""Signals over a generated event log: every planted pattern is found with exactly the
events that make it up, and a busy but healthy log yields none."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness_tui.config import GCSignalsConfig, load_config
from harness_tui.events import Event
from harness_tui.gc.signals import KINDS, find_signals
from tests.gc.eventlog import Log

THRESHOLDS = GCSignalsConfig()


def healthy_log() -> Log:
    """Four sessions of ordinary work, with every pattern one short of its threshold
    (defaults: 3 warnings, 3 blocks, 5 edits, 3 slow calls, 3 failures of a command)."""
    log = Log()
    for n, sid in enumerate(("s1", "s2", "s3", "s4"), start=1):
        log.add(sid, "session.created", title=f"task {n}", project="/p")
        log.turn(sid)
        log.call(sid, "read_file", path=f"src/module{n}.py")
        log.call(sid, "edit_file", path=f"src/module{n}.py", old_string="a", new_string="b")
        log.call(sid, "bash", command="pytest -q")
        log.call(sid, "grep", pattern="TODO")
        log.end_turn(sid)
    # One short of each threshold:
    for sid in ("s1", "s2"):
        log.call(
            sid,
            "bash",
            command="npm publish",
            decision="prompt",
            rule_id="npm-publish",
            reason="publishing needs a human",
            approve="allow_once",
        )
    for sid in ("s3", "s4"):
        log.call(
            sid,
            "bash",
            command="pip install foo",
            decision="prompt",
            rule_id="pip",
            reason="installs change the env",
            approve="deny",
            deny_reason="use uv",
        )
    log.call(
        "s1",
        "bash",
        command="sudo ls",
        decision="forbid",
        rule_id="sudo",
        reason="sudo is not allowed",
    )
    log.call(
        "s2",
        "bash",
        command="sudo id",
        decision="forbid",
        rule_id="sudo",
        reason="sudo is not allowed",
    )
    for sid in ("s1", "s2", "s3", "s4"):
        log.call(sid, "write_file", path="README.md", content="x")
    log.call("s1", "grep", pattern="x", duration_ms=31_000)
    log.call("s2", "grep", pattern="y", duration_ms=45_000)
    log.call("s3", "bash", command="make build", duration_ms=30_000)  # at the limit: not slow
    # The same failing command twice in each of two sessions: never three in one.
    for sid in ("s3", "s4"):
        log.call(sid, "bash", command="pytest tests/test_api.py", exit_code=1)
        log.call(sid, "bash", command="pytest  tests/test_api.py", exit_code=1)
    # A steady trickle of failures, not a rise: one in each half of the last window.
    for i in range(20):
        failing = i in (4, 14)
        log.call("s4", "bash", command=f"check {i}", exit_code=1 if failing else 0)
    return log


def test_a_healthy_log_yields_no_signal() -> None:
    log = healthy_log()
    assert len(log.events) > 150
    assert find_signals(log.events, THRESHOLDS) == []


def test_every_planted_pattern_is_found_with_its_evidence() -> None:
    log = healthy_log()
    expected: dict[tuple[str, str], list[int]] = {}

    prompts = [
        log.call(
            sid,
            "bash",
            command="git push",
            decision="prompt",
            rule_id="git-push",
            reason="pushing publishes work",
            approve="allow_once",
        ).decided
        for sid in ("s1", "s2", "s3")
    ]
    expected[("repeated_warning", "prompt: git-push")] = prompts

    # Denied for the same reason, though different rules asked.
    denials = [
        log.call(
            sid,
            "bash",
            command=command,
            decision="prompt",
            rule_id=rule,
            reason="network",
            approve="deny",
            deny_reason="do not download during tests",
        ).approval_resolved
        for sid, command, rule in (
            ("s1", "curl -O https://x.test/a", "curl"),
            ("s2", "wget https://x.test/b", "wget"),
            ("s4", "curl https://x.test/c", "curl"),
        )
    ]
    expected[("repeated_warning", "denied: do not download during tests")] = denials

    # The same forbidden command three times in one session: blocked, never run, so
    # it must not also count as a failing command.
    blocks = [
        log.call(
            "s2",
            "bash",
            command="rm -rf /var/cache",
            decision="forbid",
            rule_id="rm-outside",
            reason="deletes outside the workspace",
        ).decided
        for _ in range(3)
    ]
    expected[("chronic_block", "rm-outside")] = blocks

    edits = [
        log.call(sid, tool, path=path, content="x", old_string="a", new_string="b").requested
        for sid, tool, path in (
            ("s1", "edit_file", "src/app.py"),
            ("s2", "edit_file", "./src/app.py"),
            ("s2", "write_file", "src//app.py"),
            ("s3", "edit_file", "src/lib/../app.py"),
            ("s4", "edit_file", "src/app.py"),
        )
    ]
    expected[("hot_file", "src/app.py")] = edits

    slow = [
        log.call(sid, "bash", command="make all", duration_ms=ms).result
        for sid, ms in (("s1", 30_001), ("s3", 95_000), ("s4", 61_000))
    ]
    expected[("slow_tool", "bash")] = slow

    failing = [
        log.call("s1", "bash", command="pytest tests/test_api.py", exit_code=2).result,
        log.call("s1", "bash", command="pytest tests/test_api.py", error="bash crashed").result,
        log.call("s1", "bash", command="pytest tests/test_api.py", exit_code=1).result,
    ]
    expected[("repeated_failing_command", "pytest tests/test_api.py")] = failing

    # The last 20 tool results: 1 failure in the first ten, 4 in the second ten.
    rising = []
    for i in range(20):
        fails = i in (3, 11, 14, 17, 19)
        call = log.call("s5", "bash", command=f"step {i}", exit_code=1 if fails else 0)
        if fails and i >= 10:
            rising.append(call.result)
    expected[("rising_failure_rate", "last 20 tool results")] = rising

    signals = find_signals(log.events, THRESHOLDS)
    found = {(s.kind, s.key): s.evidence for s in signals}
    assert found == expected
    for signal in signals:
        assert signal.count == len(signal.evidence)
        assert signal.detail
    # Reported kind by kind, in a fixed order.
    assert [s.kind for s in signals] == sorted((s.kind for s in signals), key=KINDS.index)
    details = {s.kind + ":" + s.key: s.detail for s in signals}
    assert details["hot_file:src/app.py"] == "src/app.py edited 5 times in 4 sessions"
    assert details["slow_tool:bash"] == "bash took longer than 30s 3 times (slowest 95s)"
    assert "from 1 to 4 of 10" in details["rising_failure_rate:last 20 tool results"]
    assert "3 in s1" in details["repeated_failing_command:pytest tests/test_api.py"]


def test_signals_survive_the_json_round_trip_of_the_store() -> None:
    """What `--json` and the store give back finds the same signals."""
    log = healthy_log()
    for sid in ("s1", "s2", "s3"):
        log.call(
            sid,
            "bash",
            command="git push",
            decision="prompt",
            rule_id="git-push",
            reason="pushing publishes work",
            approve="allow_once",
        )
    replayed = [Event.from_json(event.to_json()) for event in log.events]
    assert find_signals(replayed, THRESHOLDS) == find_signals(log.events, THRESHOLDS)
    assert [s.kind for s in find_signals(replayed, THRESHOLDS)] == ["repeated_warning"]


def test_the_same_log_gives_the_same_signals_every_time() -> None:
    log = healthy_log()
    for sid in ("s1", "s2", "s3", "s4", "s1"):
        log.call(sid, "edit_file", path="b.py", old_string="a", new_string="b")
        log.call(sid, "edit_file", path="a.py", old_string="a", new_string="b")
    first = find_signals(log.events, THRESHOLDS)
    # Equal counts: the pattern that began first comes first.
    assert [(s.key, s.count) for s in first] == [("b.py", 5), ("a.py", 5)]
    assert first == find_signals(iter(log.events), THRESHOLDS)


def test_thresholds_come_from_the_gc_signals_config(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".harness").mkdir(parents=True)
    (project / ".harness" / "config.toml").write_text(
        "[gc.signals]\nhot_file = 4\nslow_tool_ms = 40000\n", encoding="utf-8"
    )
    config = load_config(project=project, env={})
    log = healthy_log()  # README.md is edited four times; two greps over 30s, one over 40s
    signals = find_signals(log.events, config.gc.signals)
    assert [(s.kind, s.key, s.count) for s in signals] == [("hot_file", "README.md", 4)]


def test_a_window_not_yet_full_is_no_trend() -> None:
    log = Log()
    for i in range(19):
        log.call("s", "bash", command=f"c{i}", exit_code=1 if i > 9 else 0)
    assert find_signals(log.events, THRESHOLDS) == []
    log.call("s", "bash", command="c19", exit_code=1)
    (signal,) = find_signals(log.events, THRESHOLDS)
    assert signal.kind == "rising_failure_rate"
    assert signal.count == 10


def test_cancelled_calls_are_not_failures() -> None:
    log = Log()
    for _ in range(3):
        log.call("s", "bash", command="sleep 100", error="cancelled")
        log.call("s", "bash", command="sleep 100", error="not run: the turn ended")
    assert find_signals(log.events, THRESHOLDS) == []


def test_the_gc_package_never_imports_textual() -> None:
    code = (
        "import sys\n"
        "import harness_tui.gc.signals, harness_tui.gc.grade\n"
        "import harness_tui.gc.coderules, harness_tui.gc.drafts, harness_tui.gc.adoption\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith('harness_tui.tui')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
