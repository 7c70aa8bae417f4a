"""The model request deadlines, `[provider] request_timeout_s` (in all) and
`idle_timeout_s` (between stream events), take positive finite seconds: `inf` would
mean "never", the hang they exist to prevent."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_tui.config import load_config
from tests.config.helpers import project_file, run_cli


def test_the_defaults_bound_every_request(project: Path) -> None:
    provider = load_config(project=project, env={}).provider
    assert 0 < provider.idle_timeout_s < provider.request_timeout_s < float("inf")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("inf", "expected a number ≤ 86400, got inf"),
        ("0", "expected a number > 0, got 0"),
        ("-5", "expected a number > 0, got -5"),
        ('"30s"', 'expected a number, got "30s"'),
    ],
)
@pytest.mark.parametrize("key", ["request_timeout_s", "idle_timeout_s"])
def test_cli_refuses_a_deadline_that_is_not_positive_and_finite(
    tmp_path: Path, project: Path, key: str, value: str, expected: str
) -> None:
    path = project_file(project, f"[provider]\n{key} = {value}\n")
    done = run_cli("--exec", "hi", "--project", str(project), xdg=tmp_path / "xdg", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"harness-tui: {path.resolve()}:2: provider.{key}: {expected}"
    ]


def test_cli_refuses_an_infinite_deadline_from_the_environment(
    tmp_path: Path, project: Path
) -> None:
    done = run_cli(
        "--exec",
        "hi",
        "--project",
        str(project),
        xdg=tmp_path / "xdg",
        cwd=tmp_path,
        env={"HARNESS_PROVIDER__IDLE_TIMEOUT_S": "inf"},
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "harness-tui: environment HARNESS_PROVIDER__IDLE_TIMEOUT_S: expected a number ≤ 86400, "
        "got inf"
    ]
