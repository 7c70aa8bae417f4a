"""Values no setting can mean: infinite or huge numbers, and keys Textual cannot bind.
Each is refused naming the file, the line and the key, before anything runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from textual.keys import Keys, _character_to_key

from harness_tui.config import Config, ConfigError, load_config
from harness_tui.config.fields import is_section, settings
from harness_tui.config.keymap import BINDING_IDS, key_problem
from tests.config.helpers import project_file


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[provider]\nrequest_timeout_s = inf\n", "provider.request_timeout_s", "≤ 86400, got inf"),
        ("[provider]\nrequest_timeout_s = -inf\n", "provider.request_timeout_s", "> 0, got -inf"),
        (
            "[provider]\nrequest_timeout_s = nan\n",
            "provider.request_timeout_s",
            "> 0 and ≤ 86400, got nan",
        ),
        ("[provider]\nrequest_timeout_s = -5\n", "provider.request_timeout_s", "> 0, got -5"),
        (
            "[engine]\nmax_steps = 99999999999999999999999\n",
            "engine.max_steps",
            "≤ 100000, got 99999999999999999999999",
        ),
        ("[tools]\nbash_timeout_s = 10000000000\n", "tools.bash_timeout_s", "≤ 604800, got 1"),
        ("[engine]\nmax_cost_usd = 1e300\n", "engine.max_cost_usd", "≤ 1000000, got 1e+300"),
    ],
)
def test_infinite_or_huge_numbers_are_refused_naming_file_line_and_key(
    project: Path, text: str, key: str, expected: str
) -> None:
    path = project_file(project, text).resolve()
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (path, 2, key)
    assert str(caught.value).startswith(f"{path}:2: {key}: expected ")
    assert expected in str(caught.value)


def test_an_infinite_number_from_the_environment_is_refused_too(project: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={"HARNESS_PROVIDER__REQUEST_TIMEOUT_S": "inf"})
    assert str(caught.value).startswith("environment HARNESS_PROVIDER__REQUEST_TIMEOUT_S: ")
    assert str(caught.value).endswith("got inf")


def _numeric_settings(cls: type, prefix: str = "") -> list[tuple[str, Any]]:
    """Every int or float setting reachable from `cls`: in sections, in list items and
    dict values that are records (`[[projects]]`, `[presets.NAME]`, `[pricing.M]`)."""
    found: list[tuple[str, Any]] = []
    for name, setting in settings(cls).items():
        tp = setting.type
        inner = get_args(tp)[-1] if get_origin(tp) in (list, dict) else tp
        if is_section(inner):
            found += _numeric_settings(inner, f"{prefix}{name}.")
        elif inner in (int, float):
            found.append((f"{prefix}{name}", setting.meta))
    return found


def test_every_numeric_setting_has_an_upper_bound() -> None:
    numeric = _numeric_settings(Config)
    assert len(numeric) > 40  # the walk found them all, nested records included
    unbounded = [name for name, meta in numeric if "le" not in meta and "lt" not in meta]
    assert unbounded == []


def test_every_default_is_within_its_own_bounds(tmp_path: Path) -> None:
    # Loading the packaged defaults checks each of them against the schema.
    config = load_config(project=tmp_path, env={})
    assert dataclasses.is_dataclass(config)


def test_a_key_textual_cannot_bind_is_refused(project: Path) -> None:
    path = project_file(project, '[keys]\nhelp = "f2"\nquit = "not a key!!"\n').resolve()
    with pytest.raises(ConfigError) as caught:
        load_config(project=project, env={})
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.key) == (path, 3, "keys.quit")
    assert str(caught.value) == (
        f"{path}:3: keys.quit: expected key names as Textual writes them, comma-separated "
        '(e.g. ctrl+q, f2, escape, question_mark), got "not a key!!"'
    )


@pytest.mark.parametrize(
    "keys",
    ["ctrl+q", "q", "Q", "f12", "escape", "shift+tab", "ctrl+shift+up", "question_mark", "?"]
    + ["ctrl+q,f10", "alt+x", "super+k", "pagedown", "space", "enter", "slash", "é"],
)
def test_keys_textual_can_bind_are_accepted(keys: str) -> None:
    assert key_problem(keys) is None


@pytest.mark.parametrize(
    "keys",
    ["", "not a key!!", "ctrl+", "ctrl+foo", "fn+q", "f25", "ctrl+ctrl+q", "q,,w", "ctrl + q"],
)
def test_keys_textual_cannot_bind_are_refused(keys: str) -> None:
    assert key_problem(keys) is not None


def test_the_key_names_accepted_are_the_ones_textual_uses() -> None:
    # Every named key Textual sends (the base of each name in its Keys enum) and every
    # printable ASCII character's name is accepted; the checker has no copy of Textual.
    names = {key.value.rsplit("+", 1)[-1] for key in Keys if not key.value.startswith("<")}
    names.discard("ctrl-at")  # a legacy alias of Textual's enum, no key's name
    names |= {_character_to_key(chr(code)) for code in range(33, 127)}
    refused = sorted(name for name in names if key_problem(name) is not None)
    assert refused == []
    assert "quit" in BINDING_IDS
