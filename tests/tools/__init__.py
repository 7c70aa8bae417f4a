"""Tests for the agent's tools. `make_ctx` builds the context a session would pass."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from harness_tui.tools.base import ToolContext, ToolLimits


def make_ctx(
    tmp_path: Path,
    *,
    limits: ToolLimits | None = None,
    on_output: Callable[[str, str], None] | None = None,
) -> ToolContext:
    """A context with a fresh workspace and artifacts directory under `tmp_path`."""
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    return ToolContext(
        session_id="ses_test",
        workspace=workspace,
        artifacts_dir=tmp_path / "artifacts",
        env=dict(os.environ),
        limits=limits or ToolLimits(),
        on_output=on_output,
    )
