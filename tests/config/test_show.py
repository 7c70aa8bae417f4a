"""Showing the merged config, each value with the layer it came from."""

from __future__ import annotations

import json
from pathlib import Path

from harness_tui.config import format_config, load_config
from tests.config.helpers import project_file, run_cli


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
    assert lines[lines.index("store.retry_s = 10.0  # default") + 1] == ""


def test_format_config_as_json(project: Path) -> None:
    project_file(project, "[engine]\nmax_cost_usd = 2\n")
    document = json.loads(format_config(load_config(project=project, env={}), as_json=True))
    assert document["project"] == str(project.resolve())
    source = f"project file {project.resolve() / '.harness' / 'config.toml'}"
    assert document["values"]["engine.max_cost_usd"] == {"value": 2.0, "source": source}
    assert document["values"]["engine.max_steps"] == {"value": 40, "source": "default"}
    assert document["store_url"].endswith("/.harness/harness.db")


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
