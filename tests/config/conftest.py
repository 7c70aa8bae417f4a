"""Every config test starts from an empty user config and a bare project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.config.helpers import is_config_variable


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point XDG_CONFIG_HOME at an empty folder so the developer's own config never
    leaks in, and drop any HARNESS_<SECTION>__<KEY> variables of the developer's shell.
    Returns where the user config file goes."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in list(os.environ):
        if is_config_variable(name):
            monkeypatch.delenv(name)
    return tmp_path / "xdg" / "harness-tui" / "config.toml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / ".harness").mkdir(parents=True)
    return root
