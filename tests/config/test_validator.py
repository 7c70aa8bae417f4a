"""The validator on the kinds of schema later sections need: lists, tables, nested
sections and records."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness_tui.config import ConfigError, load_toml, parse_table, setting
from tests.config.helpers import write


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


def https_problem(url: str) -> str | None:
    return None if url.startswith("https://") else "an https:// URL"


@dataclass(frozen=True)
class FutureSections:
    approval_mode: str = setting("untrusted", choices=("untrusted", "on-request", "auto"))
    commands: list[str] = setting([])
    mirrors: list[str] = setting([], check=https_problem)
    keys: dict[str, str] = setting({"quit": "q"})
    signals: Signals = field(default_factory=Signals)
    projects: list[ProjectEntry] = setting([])
    presets: dict[str, Preset] = setting({})
    ratio: float = 0.5
    enabled: bool = False


FUTURE = """\
approval_mode = "auto"
commands = ["pytest -q", "ruff check"]
mirrors = ["https://a.example"]
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
        mirrors=["https://a.example"],
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
            # Past the ceiling: the ceiling is what the value must come under.
            "projects[0].weight: expected a number ≤ 10, got 11",
        ),
        ("[presets.r]\nmax_step = 3\n", "unknown key presets.r.max_step"),
        ("[presets.r]\ntools = [1]\n", "presets.r.tools[0]: expected a string, got 1"),
        ('approval_mode = "yolo"\n', "approval_mode: expected one of untrusted, on-request"),
        (
            'mirrors = ["https://a", "ftp://b"]\n',
            'mirrors[1]: expected an https:// URL, got "ftp://b"',
        ),
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
    assert str(caught.value) == f"{path}:5: projects[1].weight: expected a number ≥ 0, got -1"
