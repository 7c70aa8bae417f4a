"""Every problem at once: a file with several mistakes reports all of them, each with its
file, line and key, and `check_config` lists them for `harness-tui config check`."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness_tui import paths
from harness_tui.config import (
    ConfigError,
    ConfigProblem,
    ProjectConfig,
    check_config,
    config_files,
    load_config,
    parse_table,
)
from tests.config.helpers import project_file, write

THREE_PROBLEMS = """\
[engine]
max_stepz = 4
max_cost_usd = "cheap"

[provider]
name = "gemini"
"""


def test_a_file_with_three_problems_reports_all_three(project: Path) -> None:
    path = project_file(project, THREE_PROBLEMS).resolve()
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    assert caught.value.problems == [
        ConfigProblem(
            "unknown key engine.max_stepz (did you mean engine.max_steps?)",
            source=str(path),
            file=path,
            line=2,
            key="engine.max_stepz",
        ),
        ConfigProblem(
            'engine.max_cost_usd: expected a number, got "cheap"',
            source=str(path),
            file=path,
            line=3,
            key="engine.max_cost_usd",
        ),
        ConfigProblem(
            'provider.name: expected one of auto, scripted, anthropic, openai, got "gemini"',
            source=str(path),
            file=path,
            line=6,
            key="provider.name",
        ),
    ]
    assert str(caught.value).splitlines() == [
        f"{path}:2: unknown key engine.max_stepz (did you mean engine.max_steps?)",
        f'{path}:3: engine.max_cost_usd: expected a number, got "cheap"',
        f'{path}:6: provider.name: expected one of auto, scripted, anthropic, openai, got "gemini"',
    ]


def test_problems_come_in_the_order_of_their_lines(project: Path) -> None:
    # tomllib gathers [engine] into one table, so its keys are checked together; the
    # report still follows the file from top to bottom.
    project_file(project, "[engine]\nmax_steps = 0\n[tools]\ninline_ms = -1\n[engine.x]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    assert [problem.line for problem in caught.value.problems] == [2, 4, 5]


def test_every_layer_is_checked_before_anything_is_refused(
    project: Path, user_config: Path
) -> None:
    write(user_config, "[provider]\nmax_tokens = 0\n")
    project_path = project_file(project, "[enginee]\nmax_steps = 3\n").resolve()
    problems = check_config(
        project=project,
        env={"HARNESS_ENGINE__MAX_STEPS": "x", "HARNESS_TOOLS__INLINE_MS": "-5"},
        flags={"provider.nme": "x"},
    )
    assert [str(problem) for problem in problems] == [
        f"{user_config}:2: provider.max_tokens: expected an integer ≥ 1, got 0",
        f"{project_path}:1: unknown section [enginee] (did you mean [engine]?)",
        'environment HARNESS_ENGINE__MAX_STEPS: expected an integer, got "x"',
        "environment HARNESS_TOOLS__INLINE_MS: expected an integer ≥ 0, got -5",
        "flag provider.nme: unknown key provider.nme (did you mean provider.name?)",
    ]
    assert [(problem.file, problem.key) for problem in problems] == [
        (user_config, "provider.max_tokens"),
        (project_path, "enginee"),
        (None, "engine.max_steps"),
        (None, "tools.inline_ms"),
        (None, "provider.nme"),
    ]


def test_a_syntax_error_is_one_problem_and_the_other_files_are_still_checked(
    project: Path, user_config: Path
) -> None:
    write(user_config, "[engine]\nmax_steps = = 3\n")
    project_path = project_file(project, "[tools]\nmax_read_lines = 0\n").resolve()
    problems = check_config(project=project, env={})
    assert [(problem.file, problem.line, problem.key) for problem in problems] == [
        (user_config, 2, ""),
        (project_path, 2, "tools.max_read_lines"),
    ]
    assert problems[0].message.startswith("invalid TOML: ")


def test_every_bad_item_of_a_list_and_entry_of_a_table_is_reported(project: Path) -> None:
    path = project_file(
        project,
        "[policy]\nallow_env = [1, 'OK', 2]\n"
        "[keys]\nquit = 1\nhelp = 2\n"
        "[[projects]]\npath = '/a'\nmax_concurrent = -1\n"
        "[[projects]]\npriority = 'high'\n",
    ).resolve()
    problems = check_config(project=project, env={})
    assert [str(problem) for problem in problems] == [
        f"{path}:2: policy.allow_env[0]: expected a string, got 1",
        f"{path}:2: policy.allow_env[2]: expected a string, got 2",
        f"{path}:4: keys.quit: expected a string, got 1",
        f"{path}:5: keys.help: expected a string, got 2",
        f"{path}:8: projects[0].max_concurrent: expected an integer ≥ 0, got -1",
        f'{path}:10: projects[1].priority: expected an integer, got "high"',
    ]


def test_parse_table_reports_every_problem() -> None:
    table = tomllib.loads("path = 1\nmax_concurrent = -1\nweight = 2\n")
    with pytest.raises(ConfigError) as caught:
        parse_table(ProjectConfig, table, "projects.toml")
    assert str(caught.value).splitlines() == [
        "projects.toml: path: expected a string, got 1",
        "projects.toml: max_concurrent: expected an integer ≥ 0, got -1",
        "projects.toml: unknown key weight",
    ]


def test_a_valid_config_has_no_problems_and_names_the_files_checked(
    project: Path, user_config: Path
) -> None:
    write(user_config, "[engine]\nmax_steps = 10\n")
    assert check_config(project=project, env={}) == []
    assert config_files(project) == [paths.default_config_file(), user_config]
    project_path = project_file(project, "[engine]\nmax_steps = 12\n")
    assert config_files(project)[-1] == project_path.resolve()


def test_a_missing_project_directory_is_one_problem_without_a_file(tmp_path: Path) -> None:
    (problem,) = check_config(project=tmp_path / "nowhere", env={})
    assert problem.file is None and problem.key == ""
    assert str(problem) == f"project directory {tmp_path / 'nowhere'} does not exist"


def test_keys_accepts_only_the_dashboards_binding_ids(project: Path) -> None:
    path = project_file(project, '[keys]\nnew_session = "ctrl+n"\nfilter_typ = "F"\n').resolve()
    problems = check_config(project=project, env={"HARNESS_KEYS__HLEP": "f1"})
    assert [str(problem) for problem in problems] == [
        f"{path}:3: unknown key keys.filter_typ (did you mean keys.filter_type?)",
        "environment HARNESS_KEYS__HLEP: unknown key keys.hlep (did you mean keys.help?)",
    ]
    project_file(project, '[keys]\nnew_session = "ctrl+n"\n')
    config = load_config(project=project, env={"HARNESS_KEYS__HELP": "f1"})
    assert config.keys == {"new_session": "ctrl+n", "help": "f1"}
