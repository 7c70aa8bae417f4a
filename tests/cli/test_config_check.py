"""`harness-tui config check`: every problem in the configuration at once, one line each,
exit 2; a clean configuration says which files it checked and exits 0."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness_tui.cli.exitcodes import ExitCode
from tests.support.projects import cli_env, harness_cmd, init_repo

THREE_PROBLEMS = """\
[engine]
max_stepz = 4
max_cost_usd = "cheap"

[provider]
name = "gemini"
"""


def config_check(tmp_path: Path, project: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_cmd("config", "check", "--project", str(project), *extra),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_check_lists_every_problem_and_exits_2(tmp_path):
    project = init_repo(tmp_path / "p")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text(THREE_PROBLEMS)
    done = config_check(tmp_path, project)
    assert done.returncode == ExitCode.USAGE
    lines = done.stderr.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == [
        f"{config.resolve()}:2",
        f"{config.resolve()}:3",
        f"{config.resolve()}:6",
    ]
    assert all(line.startswith("harness-tui: ") for line in lines)
    assert "engine.max_stepz" in lines[0] and "did you mean engine.max_steps" in lines[0]
    assert "engine.max_cost_usd" in lines[1] and "provider.name" in lines[2]
    assert done.stdout == ""


def test_any_other_command_reports_every_problem_too(tmp_path):
    project = init_repo(tmp_path / "p")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text(THREE_PROBLEMS)
    done = subprocess.run(
        harness_cmd("config", "show", "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.USAGE
    assert len(done.stderr.splitlines()) == 3
    assert all(line.startswith("harness-tui: ") for line in done.stderr.splitlines())


def test_a_clean_config_names_the_files_checked(tmp_path):
    project = init_repo(tmp_path / "p")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text("[engine]\nmax_steps = 4\n")
    done = config_check(tmp_path, project)
    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stdout.startswith("config OK: ")
    assert str(config.resolve()) in done.stdout


def test_a_bad_environment_variable_is_a_problem_too(tmp_path):
    project = init_repo(tmp_path / "p")
    done = subprocess.run(
        harness_cmd("config", "check", "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path, HARNESS_ENGINE__MAX_STEPS="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("harness-tui: ")
    assert "HARNESS_ENGINE__MAX_STEPS" in done.stderr


@pytest.mark.parametrize("action", ["show", "check"])
def test_an_unknown_binding_id_in_keys_is_refused_naming_the_closest_id(tmp_path, action):
    project = init_repo(tmp_path / "p")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text('[keys]\nhelp = "f1"\nquitt = "ctrl+q"\n')
    done = subprocess.run(
        harness_cmd("config", action, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.USAGE
    assert done.stderr.splitlines() == [
        f"harness-tui: {config.resolve()}:3: unknown key keys.quitt (did you mean keys.quit?)"
    ]
    assert done.stdout == ""
