"""Writing files without losing the user's comments, and reading without the writer's
dependency."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness_tui.config import ConfigError, load_config, set_config_value, update_toml
from tests.config.helpers import is_config_variable, write

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


def test_reading_config_does_not_import_tomlkit(tmp_path: Path, project: Path) -> None:
    """Headless start-up reads config; the writer's dependency must not come with it."""
    code = (
        "import sys\n"
        "from harness_tui.config import load_config\n"
        f"load_config(project={str(project)!r})\n"
        "print('tomlkit' in sys.modules)\n"
    )
    clean = {name: value for name, value in os.environ.items() if not is_config_variable(name)}
    clean["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    done = subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr
