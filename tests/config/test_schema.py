"""The schema and the packaged defaults."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness_tui import paths
from harness_tui.config import Config, as_dict, load_config
from tests.config.helpers import project_file


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
