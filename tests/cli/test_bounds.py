"""Settings and flags no run can mean are refused before anything runs: exit 2 and one
line naming the file and key, or the flag."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from harness_tui.cli.exitcodes import ExitCode
from tests.support.projects import cli_env, harness_cmd, init_repo


def exec_run(tmp_path: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_cmd("--exec", "hi", "--provider", "scripted", "--project", str(project), *args),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def sessions_in(project: Path) -> int:
    db = project / ".harness" / "harness.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(DISTINCT session_id) FROM events").fetchone()[0]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[provider]\nrequest_timeout_s = inf\n", "provider.request_timeout_s"),
        ("[provider]\nrequest_timeout_s = nan\n", "provider.request_timeout_s"),
        ("[provider]\nrequest_timeout_s = -1.5\n", "provider.request_timeout_s"),
        ("[engine]\nmax_steps = 99999999999999999999999\n", "engine.max_steps"),
        ('[keys]\nquit = "not a key!!"\n', "keys.quit"),
    ],
)
def test_a_setting_no_run_can_mean_is_one_line_and_exit_2(tmp_path, text, key):
    project = init_repo(tmp_path / "p")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text(text)
    done = exec_run(tmp_path, project)
    assert done.returncode == ExitCode.USAGE, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"harness-tui: {config.resolve()}:2: {key}: expected ")
    assert done.stdout == ""
    assert sessions_in(project) == 0


def test_a_huge_max_steps_flag_is_one_line_and_exit_2(tmp_path):
    project = init_repo(tmp_path / "p")
    done = exec_run(tmp_path, project, "--max-steps", "99999999999999999999999")
    assert done.returncode == ExitCode.USAGE, done.stderr
    [line] = done.stderr.splitlines()
    assert line == (
        "harness-tui: flag engine.max_steps: expected an integer ≤ 100000, "
        "got 99999999999999999999999"
    )
    assert sessions_in(project) == 0


@pytest.mark.parametrize("session", ["", "   "])
def test_an_empty_session_id_is_a_usage_error_not_a_new_session(tmp_path, session):
    project = init_repo(tmp_path / "p")
    done = exec_run(tmp_path, project, "--session", session)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr == "harness-tui: --session needs a session id\n"
    assert sessions_in(project) == 0


def test_an_empty_session_id_without_exec_is_refused_too(tmp_path):
    project = init_repo(tmp_path / "p")
    done = subprocess.run(
        harness_cmd("--session", "", "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr == "harness-tui: --session needs a session id\n"


def test_a_session_that_does_not_exist_is_a_usage_error(tmp_path):
    project = init_repo(tmp_path / "p")
    done = exec_run(tmp_path, project, "--session", "nosuch")
    assert done.returncode == ExitCode.USAGE, done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("harness-tui: no session 'nosuch' in sqlite:///")
    assert sessions_in(project) == 0
