"""The registry of built-in tools and the argument check they share."""

from __future__ import annotations

import pytest

from harness_tui.tools.args import check_args
from harness_tui.tools.base import ToolError
from harness_tui.tools.registry import builtin_tools, get_tools

NAMES = [
    "bash",
    "read_file",
    "write_file",
    "edit_file",
    "glob",
    "grep",
    "read_task",
    "wait_task",
    "cancel_task",
    "spawn_subagent",
]


def test_builtin_tools_have_precise_schemas():
    tools = builtin_tools()
    assert list(tools) == NAMES
    for name, tool in tools.items():
        spec = tool.spec
        assert spec.name == name
        assert len(spec.description) > 80, name
        schema = spec.parameters
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) <= set(schema["properties"])
        for key, prop in schema["properties"].items():
            assert prop["type"] in {"string", "integer", "number", "boolean"}, (name, key)
            assert prop["description"], (name, key)


def test_get_tools_selects_in_order_and_names_unknown_tools():
    assert list(get_tools(["grep", "read_file"])) == ["grep", "read_file"]
    with pytest.raises(ValueError) as info:
        get_tools(["read_file", "rm_rf"])
    assert "unknown tool 'rm_rf'" in str(info.value)
    assert "read_file" in str(info.value)


def test_check_args_types_and_nulls():
    spec = builtin_tools()["read_file"].spec
    # null for an optional argument means "not given"; 3.0 is the integer 3.
    assert check_args(spec, {"path": "a", "start_line": 3.0, "end_line": None}) == {
        "path": "a",
        "start_line": 3,
    }
    with pytest.raises(ToolError, match="must be an integer, got bool"):
        check_args(spec, {"path": "a", "start_line": True})
    with pytest.raises(ToolError, match="arguments must be a JSON object"):
        check_args(spec, ["a"])
    with pytest.raises(ToolError, match=r"missing required argument\(s\): path"):
        check_args(spec, {"path": None})
