"""The layers and their order, and values given as text taking the type of their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_tui.config import Config, load_config
from tests.config.helpers import project_file, write


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
