"""The built-in tools by name."""

from __future__ import annotations

from collections.abc import Iterable

from harness_tui.tools.base import Tool
from harness_tui.tools.bash import BashTool
from harness_tui.tools.files import EditFileTool, ReadFileTool, WriteFileTool
from harness_tui.tools.search import GlobTool, GrepTool
from harness_tui.tools.tasks import (
    CancelTaskTool,
    ReadTaskTool,
    SpawnSubagentTool,
    WaitTaskTool,
)


def builtin_tools() -> dict[str, Tool]:
    """A fresh instance of every built-in tool, keyed by the name the model calls it by."""
    tools: list[Tool] = [
        BashTool(),
        ReadFileTool(),
        WriteFileTool(),
        EditFileTool(),
        GlobTool(),
        GrepTool(),
        ReadTaskTool(),
        WaitTaskTool(),
        CancelTaskTool(),
        SpawnSubagentTool(),
    ]
    return {tool.spec.name: tool for tool in tools}


def get_tools(names: Iterable[str]) -> dict[str, Tool]:
    """The named built-in tools, in the order given.

    Raises ValueError naming an unknown tool and listing the known ones, so a preset or
    config with a typo fails at load time rather than when the model calls it.
    """
    available = builtin_tools()
    selected: dict[str, Tool] = {}
    for name in names:
        if name not in available:
            raise ValueError(f"unknown tool {name!r}; known tools: {', '.join(available)}")
        selected[name] = available[name]
    return selected
