"""The real tier: pinned agent CLIs from npm, each against a loopback model server.

A CLI that cannot be installed (no npm, no registry) skips its tests with the reason
on a developer's machine, and fails them in CI (CI=true), where it must be there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import agent_cli


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def real_cli() -> Callable[[str], Path]:
    """`real_cli("codex")`: the pinned CLI's executable, installed on first use."""

    def get(name: str) -> Path:
        try:
            return agent_cli.install(name)
        except agent_cli.AgentInstallError as exc:
            message = f"real agent {name} unavailable: {exc}"
        # Outside the except block, so the report is this one line, not a traceback.
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    return get
