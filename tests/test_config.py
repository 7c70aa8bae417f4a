"""Configuration: the layers and their order, type conversion, every kind of error as the
user sees it (in process and through the real CLI), and writing files without losing
the user's comments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness_tui import paths
from harness_tui.config import (
    Config,
    ConfigError,
    as_dict,
    format_config,
    load_config,
    load_toml,
    parse_table,
    set_config_value,
    setting,
    update_toml,
)


def _is_config_variable(name: str) -> bool:
    return name.startswith("HARNESS_") and "__" in name[len("HARNESS_") :]


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point XDG_CONFIG_HOME at an empty folder so the developer's own config never
    leaks in, and drop any HARNESS_<SECTION>__<KEY> variables of the developer's shell.
    Returns where the user config file goes."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in list(os.environ):
        if _is_config_variable(name):
            monkeypatch.delenv(name)
    return tmp_path / "xdg" / "harness-tui" / "config.toml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".harness").mkdir(parents=True)
    return root


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def project_file(project: Path, text: str) -> Path:
    return write(project / ".harness" / "config.toml", text)


# ---------------------------------------------------------------------------------------
# The schema and the packaged defaults.


def _typed(value: object) -> object:
    """`value` with every scalar paired with its type, so 30 and 30.0, or 1 and true,
    do not compare equal."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def test_default_toml_and_the_dataclass_defaults_agree(tmp_path: Path) -> None:
    with paths.default_config_file().open("rb") as handle:
        packaged = tomllib.load(handle)
    schema = as_dict(Config(project=tmp_path))
    assert sorted(packaged) == sorted(schema), "the same sections"
    for section in schema:
        assert sorted(packaged[section]) == sorted(schema[section]), f"keys of [{section}]"
    assert _typed(packaged) == _typed(schema)


def test_with_no_files_every_value_is_the_default(project: Path) -> None:
    config = load_config(project=project, env={})
    assert config == Config(project=project.resolve())
    assert config.project == project.resolve()
    assert set(config.sources.values()) == {"default"}
    assert "engine.max_steps" in config.sources
    assert config.store_url == f"sqlite:///{project.resolve()}/.harness/harness.db"


def test_config_objects_are_frozen(project: Path) -> None:
    config = load_config(project=project, env={})
    with pytest.raises(AttributeError):
        config.engine.max_steps = 3  # type: ignore[misc]


def test_store_url_wins_over_the_project_database(project: Path) -> None:
    project_file(project, '[store]\nurl = "postgresql://db.example:5432/harness"\n')
    config = load_config(project=project, env={})
    assert config.store_url == "postgresql://db.example:5432/harness"


# ---------------------------------------------------------------------------------------
# Layers.


def test_each_layer_overrides_the_one_before(project: Path, user_config: Path) -> None:
    write(
        user_config,
        '[engine]\nmax_steps = 10\nsystem_prompt = "be brief"\n'
        '[provider]\nmodel = "from-user"\nmax_retries = 1\n',
    )
    project_file(project, '[engine]\nmax_steps = 20\n[provider]\nmodel = "from-project"\n')
    env = {"HARNESS_PROVIDER__MODEL": "from-env", "HARNESS_PROVIDER__MAX_RETRIES": "2"}
    config = load_config(project=project, env=env, flags={"provider.max_retries": 3})

    assert config.engine.system_prompt == "be brief"
    assert config.engine.max_steps == 20
    assert config.provider.model == "from-env"
    assert config.provider.max_retries == 3
    assert config.tools.max_read_lines == 2000

    project_path = project.resolve() / ".harness" / "config.toml"
    assert config.sources["engine.system_prompt"] == f"user file {user_config}"
    assert config.sources["engine.max_steps"] == f"project file {project_path}"
    assert config.sources["provider.model"] == "env HARNESS_PROVIDER__MODEL"
    assert config.sources["provider.max_retries"] == "flag"
    assert config.sources["tools.max_read_lines"] == "default"


def test_the_project_defaults_to_the_git_root_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "src" / "deep").mkdir(parents=True)
    project_file(checkout, "[engine]\nmax_steps = 7\n")
    monkeypatch.chdir(checkout / "src" / "deep")
    config = load_config(env={})
    assert config.project == checkout.resolve()
    assert config.engine.max_steps == 7


def test_os_environ_is_read_when_no_env_is_given(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_ENGINE__MAX_STEPS", "12")
    config = load_config(project=project)
    assert config.engine.max_steps == 12
    assert config.sources["engine.max_steps"] == "env HARNESS_ENGINE__MAX_STEPS"


@pytest.mark.parametrize(
    ("variable", "text", "key", "value"),
    [
        ("HARNESS_ENGINE__MAX_STEPS", "20", "engine.max_steps", 20),
        ("HARNESS_ENGINE__MAX_STEPS", " 20 ", "engine.max_steps", 20),
        ("HARNESS_PROVIDER__RETRY_MAX_DELAY_S", "5", "provider.retry_max_delay_s", 5.0),
        ("HARNESS_ENGINE__MAX_COST_USD", "1.25", "engine.max_cost_usd", 1.25),
        ("HARNESS_ANTHROPIC__PROMPT_CACHING", "no", "anthropic.prompt_caching", False),
        ("HARNESS_ANTHROPIC__PROMPT_CACHING", "0", "anthropic.prompt_caching", False),
        ("HARNESS_ANTHROPIC__PROMPT_CACHING", "FALSE", "anthropic.prompt_caching", False),
        ("HARNESS_ANTHROPIC__PROMPT_CACHING", "yes", "anthropic.prompt_caching", True),
        ("HARNESS_ANTHROPIC__PROMPT_CACHING", "1", "anthropic.prompt_caching", True),
        ("HARNESS_STORE__URL", "sqlite:////tmp/x.db", "store.url", "sqlite:////tmp/x.db"),
        ("HARNESS_ENGINE__SYSTEM_PROMPT", "", "engine.system_prompt", ""),
        ("HARNESS_PROVIDER__NAME", "scripted", "provider.name", "scripted"),
    ],
)
def test_environment_values_take_the_type_of_their_key(
    project: Path, variable: str, text: str, key: str, value: object
) -> None:
    config = load_config(project=project, env={variable: text})
    section, name = key.split(".")
    got = getattr(getattr(config, section), name)
    assert (type(got), got) == (type(value), value)
    assert config.sources[key] == f"env {variable}"


def test_variables_without_a_double_underscore_are_not_config(project: Path) -> None:
    env = {
        "HARNESS_TEST_POSTGRES_URL": "postgresql://localhost/test",
        "HARNESS_SOMETHING": "x",
        "HOME": "/nowhere",
    }
    assert load_config(project=project, env=env) == Config(project=project.resolve())


def test_flags_win_over_everything(project: Path, user_config: Path) -> None:
    write(user_config, '[store]\nurl = "sqlite:////user.db"\n')
    project_file(project, '[store]\nurl = "sqlite:////project.db"\n')
    config = load_config(
        project=project,
        env={"HARNESS_STORE__URL": "sqlite:////env.db"},
        flags={"store.url": "sqlite:////flag.db", "provider.model": None},
    )
    assert config.store_url == "sqlite:////flag.db"
    assert config.sources["store.url"] == "flag"
    # A flag that was not given (None) leaves the key alone.
    assert config.sources["provider.model"] == "default"


def test_a_flag_given_as_text_is_converted(project: Path) -> None:
    config = load_config(project=project, env={}, flags={"engine.max_steps": "15"})
    assert config.engine.max_steps == 15


# ---------------------------------------------------------------------------------------
# Errors: one line each, naming the file (and line), the key and what was expected.

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


# ---------------------------------------------------------------------------------------
# Showing the merged config.


def test_format_config_shows_each_value_with_its_source(project: Path) -> None:
    project_file(project, "[engine]\nmax_steps = 12\n")
    config = load_config(project=project, env={"HARNESS_PROVIDER__NAME": "scripted"})
    lines = format_config(config).splitlines()
    source = project.resolve() / ".harness" / "config.toml"
    assert f"engine.max_steps = 12  # project file {source}" in lines
    assert 'provider.name = "scripted"  # env HARNESS_PROVIDER__NAME' in lines
    assert "anthropic.prompt_caching = true  # default" in lines
    assert 'engine.system_prompt = ""  # default' in lines
    assert lines[-1] == f'project = "{project.resolve()}"'
    # Sections are grouped: a blank line sits between the last store key and the first
    # provider key.
    assert lines[lines.index('store.url = ""  # default') + 1] == ""


def test_format_config_as_json(project: Path) -> None:
    project_file(project, "[engine]\nmax_cost_usd = 2\n")
    document = json.loads(format_config(load_config(project=project, env={}), as_json=True))
    assert document["project"] == str(project.resolve())
    source = f"project file {project.resolve() / '.harness' / 'config.toml'}"
    assert document["values"]["engine.max_cost_usd"] == {"value": 2.0, "source": source}
    assert document["values"]["engine.max_steps"] == {"value": 40, "source": "default"}
    assert document["store_url"].endswith("/.harness/harness.db")


# ---------------------------------------------------------------------------------------
# The validator on the kinds of schema later sections need.


@dataclass(frozen=True)
class Signals:
    min_count: int = setting(3, ge=1)
    """Signals seen fewer times than this are ignored."""


@dataclass(frozen=True)
class ProjectEntry:
    path: str
    """Required: an entry without a path means nothing."""
    name: str = ""
    weight: float = setting(1.0, ge=0, le=10)


@dataclass(frozen=True)
class Preset:
    model: str = ""
    tools: list[str] = setting(["bash", "read_file"])
    max_steps: int = setting(10, ge=1)


@dataclass(frozen=True)
class FutureSections:
    approval_mode: str = setting("untrusted", choices=("untrusted", "on-request", "auto"))
    commands: list[str] = setting([])
    keys: dict[str, str] = setting({"quit": "q"})
    signals: Signals = field(default_factory=Signals)
    projects: list[ProjectEntry] = setting([])
    presets: dict[str, Preset] = setting({})
    ratio: float = 0.5
    enabled: bool = False


FUTURE = """\
approval_mode = "auto"
commands = ["pytest -q", "ruff check"]
ratio = 1
enabled = true

[keys]
help = "?"

[signals]
min_count = 5

[[projects]]
path = "/src/a"

[[projects]]
path = "/src/b"
name = "b"
weight = 2

[presets.reviewer]
model = "small"
tools = ["read_file"]
"""


def test_the_validator_handles_lists_tables_nested_sections_and_records() -> None:
    parsed = parse_table(FutureSections, tomllib.loads(FUTURE), "future.toml")
    assert parsed == FutureSections(
        approval_mode="auto",
        commands=["pytest -q", "ruff check"],
        keys={"quit": "q", "help": "?"},
        signals=Signals(min_count=5),
        projects=[ProjectEntry(path="/src/a"), ProjectEntry(path="/src/b", name="b", weight=2.0)],
        presets={"reviewer": Preset(model="small", tools=["read_file"])},
        ratio=1.0,
        enabled=True,
    )
    assert type(parsed.ratio) is float


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('commands = ["ok", 1]\n', "commands[1]: expected a string, got 1"),
        ('commands = "pytest"\n', 'commands: expected a list of strings, got "pytest"'),
        ("[keys]\nquit = 1\n", "keys.quit: expected a string, got 1"),
        ("[signals]\nmin_count = 0\n", "signals.min_count: expected an integer ≥ 1, got 0"),
        ("[[projects]]\nname = 'x'\n", "missing required key projects[0].path"),
        (
            "[[projects]]\npath = 'a'\nweight = 11\n",
            "projects[0].weight: expected a number ≥ 0 and ≤ 10, got 11",
        ),
        ("[presets.r]\nmax_step = 3\n", "unknown key presets.r.max_step"),
        ("[presets.r]\ntools = [1]\n", "presets.r.tools[0]: expected a string, got 1"),
        ('approval_mode = "yolo"\n', "approval_mode: expected one of untrusted, on-request"),
    ],
)
def test_the_validator_names_the_key_inside_lists_and_tables(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_table(FutureSections, tomllib.loads(text), "future.toml")
    assert str(caught.value).startswith(f"future.toml: {expected}")


def test_an_error_in_the_second_array_table_points_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "future.toml", '[[projects]]\npath = "a"\n\n[[projects]]\nweight = -1\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_toml(FutureSections, path)
    assert str(caught.value) == (
        f"{path}:5: projects[1].weight: expected a number ≥ 0 and ≤ 10, got -1"
    )


# ---------------------------------------------------------------------------------------
# Writing: comments and key order survive.

USER_FILE = """\
# My settings. Keep these comments.
[tools]
max_read_lines = 500  # long files are rare here

[engine]
# Extra instructions first, on purpose.
system_prompt = "Answer in English."
max_steps = 30
"""


def test_set_config_value_keeps_comments_and_key_order(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", USER_FILE)
    set_config_value(path, "engine.max_steps", 25)
    set_config_value(path, "provider.name", "scripted")
    assert path.read_text(encoding="utf-8") == (
        USER_FILE.replace("max_steps = 30", "max_steps = 25") + '\n[provider]\nname = "scripted"\n'
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"], "no temp files left"


def test_set_config_value_checks_the_value_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", USER_FILE)
    with pytest.raises(ConfigError) as caught:
        set_config_value(path, "engine.max_steps", 0)
    assert str(caught.value) == f"{path}: engine.max_steps: expected an integer ≥ 1, got 0"
    with pytest.raises(ConfigError, match="unknown key engine.max_stepz"):
        set_config_value(path, "engine.max_stepz", 3)
    assert path.read_text(encoding="utf-8") == USER_FILE


def test_set_config_value_creates_the_file_and_it_loads(project: Path) -> None:
    path = project / ".harness" / "config.toml"
    path.unlink(missing_ok=True)
    set_config_value(path, "engine.max_steps", "18")  # text, as a command line gives it
    set_config_value(path, "anthropic.prompt_caching", False)
    config = load_config(project=project, env={})
    assert config.engine.max_steps == 18
    assert config.anthropic.prompt_caching is False
    assert config.sources["engine.max_steps"] == f"project file {path.resolve()}"


def test_update_toml_lets_a_feature_add_its_own_tables(tmp_path: Path) -> None:
    path = write(tmp_path / "policy.toml", "# Rules I wrote by hand.\n[[rules]]\nid = 'git-push'\n")

    def add_rule(document) -> None:
        import tomlkit

        rule = tomlkit.table()
        rule["id"] = "npm-test"
        rule["decision"] = "allow"
        document["rules"].append(rule)

    update_toml(path, add_rule)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Rules I wrote by hand.\n[[rules]]\nid = 'git-push'\n")
    assert tomllib.loads(text)["rules"] == [
        {"id": "git-push"},
        {"id": "npm-test", "decision": "allow"},
    ]


def test_update_toml_refuses_a_broken_file(tmp_path: Path) -> None:
    path = write(tmp_path / "config.toml", "[engine]\nmax_steps = = 3\n")
    with pytest.raises(ConfigError) as caught:
        update_toml(path, lambda document: None)
    assert str(caught.value).startswith(f"{path}:2: invalid TOML: ")
    assert path.read_text(encoding="utf-8") == "[engine]\nmax_steps = = 3\n"


# ---------------------------------------------------------------------------------------
# Through the real command line.


def run_cli(*args: str, xdg: Path, cwd: Path, env: dict[str, str] | None = None):
    clean = {name: value for name, value in os.environ.items() if not _is_config_variable(name)}
    clean["XDG_CONFIG_HOME"] = str(xdg)
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness_tui", *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_config_show_reports_a_project_value_and_its_source(
    tmp_path: Path, project: Path
) -> None:
    project_file(project, "[engine]\nmax_steps = 12\n")
    done = run_cli("config", "show", "--project", str(project), xdg=tmp_path / "xdg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    source = project.resolve() / ".harness" / "config.toml"
    assert f"engine.max_steps = 12  # project file {source}" in done.stdout.splitlines()

    done = run_cli(
        "--max-steps",
        "9",
        "config",
        "show",
        "--json",
        "--project",
        str(project),
        xdg=tmp_path / "xdg",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    values = json.loads(done.stdout)["values"]
    assert values["engine.max_steps"] == {"value": 9, "source": "flag"}


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


def test_reading_config_does_not_import_tomlkit(tmp_path: Path, project: Path) -> None:
    """Headless start-up reads config; the writer's dependency must not come with it."""
    code = (
        "import sys\n"
        "from harness_tui.config import load_config\n"
        f"load_config(project={str(project)!r})\n"
        "print('tomlkit' in sys.modules)\n"
    )
    clean = {name: value for name, value in os.environ.items() if not _is_config_variable(name)}
    clean["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr
