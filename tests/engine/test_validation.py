"""Validation commands as real bash processes: results, stopping at the first failure,
timeouts and cancellation that leave nothing running, and the capped output tail."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from harness_tui.engine.validation import ValidationResult, failure_feedback, run_validation
from tests.support.waiting import wait_for

ENV = {"PATH": os.environ["PATH"], "LC_ALL": "C"}


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


async def validate(commands, cwd, *, env=ENV, timeout_s=30.0, output_limit=4000):
    return await run_validation(commands, cwd, env, timeout_s, output_limit)


async def test_passing_commands_run_in_order_in_the_worktree(tmp_path):
    env = ENV | {"CHECK_NAME": "lint"}
    results = await validate(["pwd; echo $CHECK_NAME", "echo tests >&2; ls"], tmp_path, env=env)

    assert [r.command for r in results] == ["pwd; echo $CHECK_NAME", "echo tests >&2; ls"]
    assert all(r.passed and r.exit_code == 0 and not r.timed_out for r in results)
    assert results[0].output_tail == f"{tmp_path}\nlint\n"
    assert results[1].output_tail == "tests\n"  # stderr is kept too; the folder is empty


async def test_the_first_failure_stops_the_rest(tmp_path):
    results = await validate(
        ["echo fine", "echo 'assert 1 == 2' >&2; exit 3", "touch third-ran"], tmp_path
    )

    assert [r.exit_code for r in results] == [0, 3]
    failed = results[-1]
    assert not failed.passed
    assert failed.output_tail == "assert 1 == 2\n"
    assert not (tmp_path / "third-ran").exists()


async def test_a_command_past_its_timeout_is_stopped_with_its_children(tmp_path):
    command = "echo started; sleep 60 & echo $! > child.pid; wait"
    (result,) = await validate([command, "touch next-ran"], tmp_path, timeout_s=0.5)

    assert result.timed_out
    assert not result.passed
    assert result.exit_code < 0  # ended by a signal
    assert result.output_tail == "started\n"
    assert not is_running(int((tmp_path / "child.pid").read_text()))
    assert not (tmp_path / "next-ran").exists()


async def test_cancelling_validation_stops_the_running_command(tmp_path):
    pid_file = tmp_path / "child.pid"
    task = asyncio.create_task(validate(["sleep 60 & echo $! > child.pid; wait"], tmp_path))
    await wait_for(
        lambda: pid_file.exists() and bool(pid_file.read_text().strip()),
        message="the command to write its child's pid",
    )

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not is_running(int(pid_file.read_text()))


async def test_only_the_tail_of_long_output_is_kept(tmp_path):
    (result,) = await validate(
        ["for i in $(seq 1 20000); do echo line $i; done; exit 1"], tmp_path, output_limit=300
    )

    tail = result.output_tail
    assert len(tail.encode()) <= 300
    assert tail.endswith("line 19999\nline 20000\n")
    assert tail.startswith("line ")  # whole lines, not a cut one
    assert "line 1\n" not in tail
    assert result.output_bytes == sum(len(f"line {i}\n") for i in range(1, 20001))


async def test_a_tail_cut_inside_a_character_stays_valid_text(tmp_path):
    (result,) = await validate(["printf 'é%.0s' $(seq 1 500)"], tmp_path, output_limit=101)

    assert result.output_tail == "é" * 50
    assert result.output_bytes == 1000


async def test_no_commands_means_nothing_to_fail(tmp_path):
    assert await validate([], tmp_path) == []


async def test_a_missing_folder_cannot_be_validated(tmp_path):
    with pytest.raises(OSError):
        await validate(["true"], tmp_path / "gone")


def test_failure_feedback_tells_the_agent_what_failed_and_what_is_left():
    result = ValidationResult(
        command="pytest -q",
        exit_code=1,
        output_tail="FAILED test_calc.py::test_mean\n1 failed\n",
        timed_out=False,
        duration_ms=1200,
        output_bytes=9000,
    )
    text = failure_feedback(result, retries_left=1)
    assert text.splitlines() == [
        "Validation `pytest -q` failed with exit code 1.",
        "The end of its output:",
        "FAILED test_calc.py::test_mean",
        "1 failed",
        "Fix the cause and finish again; validation then runs again (1 more try after this).",
    ]
    assert result.event_data() == {
        "command": "pytest -q",
        "exit_code": 1,
        "output_tail": "FAILED test_calc.py::test_mean\n1 failed\n",
        "timed_out": False,
        "duration_ms": 1200,
        "output_bytes": 9000,
    }

    timed_out = ValidationResult("make", -15, "", True, 600_000)
    last = failure_feedback(timed_out, retries_left=0)
    assert "`make` was stopped after running too long" in last
    assert "It printed nothing." in last
    assert "last try" in last
