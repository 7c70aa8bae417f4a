"""Every kind of error as the user sees it, in process and through the real CLI: one
line per problem, naming the file (and line), the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_tui.config import ConfigError, load_config
from tests.config.helpers import project_file, run_cli, write

FILE_ERRORS = [
    pytest.param(
        "[engine]\nmax_steps = 3\nmax_total_tokens = \n",
        "{file}:3: invalid TOML: invalid value (column 20)",
        id="malformed",
    ),
    pytest.param(
        "# mine\n[enginee]\nmax_steps = 3\n",
        "{file}:2: unknown section [enginee] (did you mean [engine]?)",
        id="unknown-section",
    ),
    pytest.param(
        "[engine]\nmax_steps = 3\nmax_stepz = 4\n",
        "{file}:3: unknown key engine.max_stepz (did you mean engine.max_steps?)",
        id="unknown-key",
    ),
    pytest.param(
        '[engine]\nmax_steps = "ten"\n',
        '{file}:2: engine.max_steps: expected an integer, got "ten"',
        id="string-for-integer",
    ),
    pytest.param(
        "[engine]\nmax_steps = true\n",
        "{file}:2: engine.max_steps: expected an integer, got true",
        id="bool-for-integer",
    ),
    pytest.param(
        "[engine]\n\nmax_steps = 0\n",
        "{file}:3: engine.max_steps: expected an integer ≥ 1, got 0",
        id="out-of-range",
    ),
    pytest.param(
        "[tools]\nbash_timeout_s = 0\n",
        "{file}:2: tools.bash_timeout_s: expected an integer > 0, got 0",
        id="timeout-zero",
    ),
    pytest.param(
        "[engine]\nmax_cost_usd = -1\n",
        "{file}:2: engine.max_cost_usd: expected a number ≥ 0, got -1",
        id="negative-budget",
    ),
    pytest.param(
        '[provider]\nmodel = "m"\nname = "gemini"\n',
        '{file}:3: provider.name: expected one of auto, scripted, anthropic, openai, got "gemini"',
        id="bad-choice",
    ),
    pytest.param(
        "engine = 5\n",
        "{file}:1: engine: expected a table, got 5",
        id="value-for-section",
    ),
    pytest.param(
        'engine.max_steps = "x"\n',
        '{file}:1: engine.max_steps: expected an integer, got "x"',
        id="dotted-key",
    ),
    pytest.param(
        '[engine]\nsystem_prompt = """\n[tools]\nmax_steps = 1\n"""\nmax_steps = 1.5\n',
        "{file}:6: engine.max_steps: expected an integer, got 1.5",
        id="after-a-multiline-string",
    ),
    pytest.param(
        '[engine]\nmax_steps = 3\n\n[store]\nurl = "mysql://x"\n',
        "{file}:5: store.url: expected sqlite:///PATH, postgresql://HOST/DB or "
        'postgres://HOST/DB, got "mysql://x"',
        id="store-url-scheme",
    ),
    pytest.param(
        '[store]\nurl = "sqlite:///"\n',
        '{file}:2: store.url: expected a database file after sqlite:///, got "sqlite:///"',
        id="store-url-no-file",
    ),
]


@pytest.mark.parametrize(("text", "expected"), FILE_ERRORS)
def test_a_broken_project_file_names_file_line_key_and_expectation(
    project: Path, text: str, expected: str
) -> None:
    path = project_file(project, text)
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    message = str(caught.value)
    assert message == expected.format(file=path.resolve())
    assert "\n" not in message


def test_a_broken_user_file_names_the_user_file(project: Path, user_config: Path) -> None:
    write(user_config, "[provider]\nmax_tokens = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    assert str(caught.value) == (
        f"{user_config}:2: provider.max_tokens: expected an integer ≥ 1, got 0"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"HARNESS_ENGINE__MAX_STEPS": "x"},
            'environment HARNESS_ENGINE__MAX_STEPS: expected an integer, got "x"',
        ),
        (
            {"HARNESS_ENGINE__MAX_STEPS": "0"},
            "environment HARNESS_ENGINE__MAX_STEPS: expected an integer ≥ 1, got 0",
        ),
        (
            {"HARNESS_ENGINE__MAX_COST_USD": "cheap"},
            'environment HARNESS_ENGINE__MAX_COST_USD: expected a number, got "cheap"',
        ),
        (
            {"HARNESS_ANTHROPIC__PROMPT_CACHING": "maybe"},
            "environment HARNESS_ANTHROPIC__PROMPT_CACHING: "
            'expected true or false (or yes/no, 1/0), got "maybe"',
        ),
        (
            {"HARNESS_PROVIDER__NAME": "gemini"},
            "environment HARNESS_PROVIDER__NAME: "
            'expected one of auto, scripted, anthropic, openai, got "gemini"',
        ),
        (
            {"HARNESS_STORE__URL": "sqlite://harness.db"},
            "environment HARNESS_STORE__URL: expected sqlite:///PATH, postgresql://HOST/DB "
            'or postgres://HOST/DB, got "sqlite://harness.db"',
        ),
        (
            {"HARNESS_ENGINE__MAX_STEPZ": "3"},
            "environment HARNESS_ENGINE__MAX_STEPZ: "
            "unknown key engine.max_stepz (did you mean engine.max_steps?)",
        ),
        (
            {"HARNESS_ENGINEE__MAX_STEPS": "3"},
            "environment HARNESS_ENGINEE__MAX_STEPS: "
            "unknown section [enginee] (did you mean [engine]?)",
        ),
        (
            {"HARNESS_ENGINE__MAX_STEPS__EXTRA": "3"},
            "environment HARNESS_ENGINE__MAX_STEPS__EXTRA: unknown key engine.max_steps.extra",
        ),
    ],
)
def test_a_bad_environment_variable_is_named(project: Path, env: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env=env)
    assert str(caught.value) == expected


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"engine.max_steps": 0}, "flag engine.max_steps: expected an integer ≥ 1, got 0"),
        ({"provider.nme": "x"}, "flag provider.nme: unknown key provider.nme"),
        ({"engine.max_steps": True}, "flag engine.max_steps: expected an integer, got true"),
        (
            {"store.url": "mysql://x"},
            "flag store.url: expected sqlite:///PATH, postgresql://HOST/DB or "
            'postgres://HOST/DB, got "mysql://x"',
        ),
    ],
)
def test_a_bad_flag_is_named(project: Path, flags: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={}, flags=flags)
    assert str(caught.value).startswith(expected)


def test_a_missing_project_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="project directory .*nowhere does not exist"):
        load_config(project=tmp_path / "nowhere", env={})


def test_a_project_file_that_is_not_utf8_is_named(project: Path) -> None:
    path = project / ".harness" / "config.toml"
    path.write_bytes(b'[engine]\nsystem_prompt = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    assert str(caught.value).startswith(f"{path.resolve()}: invalid TOML: not UTF-8")


@pytest.mark.parametrize(("text", "expected"), FILE_ERRORS[:6] + FILE_ERRORS[8:9])
def test_cli_broken_config_exits_2_with_one_line(
    tmp_path: Path, project: Path, text: str, expected: str
) -> None:
    path = project_file(project, text)
    done = run_cli("config", "show", "--project", str(project), xdg=tmp_path / "xdg", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "harness-tui: " + expected.format(file=path.resolve()),
    ]


def test_cli_bad_environment_value_exits_2_naming_the_variable(
    tmp_path: Path, project: Path
) -> None:
    done = run_cli(
        "config",
        "show",
        "--project",
        str(project),
        xdg=tmp_path / "xdg",
        cwd=tmp_path,
        env={"HARNESS_ENGINE__MAX_STEPS": "x"},
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        'harness-tui: environment HARNESS_ENGINE__MAX_STEPS: expected an integer, got "x"'
    ]


def test_cli_broken_user_file_exits_2_naming_it(tmp_path: Path, project: Path) -> None:
    xdg = tmp_path / "other-xdg"
    user_file = write(xdg / "harness-tui" / "config.toml", "[provider]\nname = 'gemini'\n")
    done = run_cli("config", "show", "--project", str(project), xdg=xdg, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"harness-tui: {user_file}:2: provider.name: expected one of")
