"""A scripted model for real agent CLIs: ask for one shell command, then finish.

A real agent sends requests of its own between a turn's (a title, a topic check, a
summary), so a fixed queue of replies would hand the tool call to the wrong request.
`ShellThenDone` reads each request instead: a request that offers no shell tool gets a
short text; one that already carries a tool result gets the final text; any other gets
the shell call, with arguments fitted to the tool's own schema (Claude Code's `Bash
{command, description}`, OpenCode's `bash`, Codex's `shell {command: [argv]}` or
`shell_command`/`exec_command`). It works with all three wire protocols.

    model = ShellThenDone("echo hi > out.txt")
    with LoopbackAnthropic(respond=model) as server: ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.loopback import RecordedRequest, Reply

# Shell tools of the agents, in the order to prefer them when a request offers several.
SHELL_TOOLS = ("Bash", "bash", "shell", "shell_command", "exec_command", "local_shell")


class ShellThenDone:
    """A responder (`respond=`) for a loopback server; see the module docstring."""

    def __init__(
        self,
        command: str,
        *,
        final_text: str = "The command ran. Done.",
        side_text: str = "Shell command",
    ) -> None:
        self.command = command
        self.final_text = final_text
        self.side_text = side_text
        # (tool name, arguments) of each shell call handed out, for assertions.
        self.calls: list[tuple[str, dict[str, Any]]] = []
        # The tool results the agent sent back, as text.
        self.results: list[str] = []

    def __call__(self, request: RecordedRequest) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        tools = _tools(body)
        name = next((n for n in SHELL_TOOLS if n in tools), None)
        if name is None:
            return Reply(self.side_text)
        results = _tool_results(body)
        if results:
            self.results = results
            return Reply(self.final_text)
        arguments = _shell_arguments(tools[name], self.command)
        self.calls.append((name, arguments))
        return Reply("Running it.", tool_calls=[(name, arguments)])


def _tools(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Tool name -> its JSON schema, whichever protocol the body is in."""
    found: dict[str, Mapping[str, Any]] = {}
    for tool in body.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if isinstance(tool.get("function"), dict):  # Chat Completions
            fn = tool["function"]
            found[str(fn.get("name"))] = fn.get("parameters") or {}
        elif "input_schema" in tool:  # Anthropic
            found[str(tool.get("name"))] = tool["input_schema"] or {}
        elif tool.get("name"):  # Responses (function, custom)
            found[str(tool["name"])] = tool.get("parameters") or {}
        elif tool.get("type") == "local_shell":
            found["local_shell"] = {}
    return found


def _tool_results(body: Mapping[str, Any]) -> list[str]:
    """The text of every tool result in the conversation so far."""
    results: list[str] = []
    for message in body.get("messages") or []:  # Anthropic, Chat Completions
        if not isinstance(message, dict):
            continue
        if message.get("role") == "tool":
            results.append(_text(message.get("content")))
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    results.append(_text(block.get("content")))
    for item in body.get("input") or []:  # Responses
        if isinstance(item, dict) and item.get("type") in (
            "function_call_output",
            "custom_tool_call_output",
            "local_shell_call_output",
        ):
            results.append(_text(item.get("output")))
    return results


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    return "" if content is None else str(content)


def _shell_arguments(schema: Mapping[str, Any], command: str) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    arguments: dict[str, Any] = {}
    for key in ("command", "cmd"):
        if key in properties:
            kind = (properties[key] or {}).get("type")
            arguments[key] = ["bash", "-lc", command] if kind == "array" else command
            break
    else:
        arguments["command"] = command
    if "description" in properties:
        arguments["description"] = "Run the requested command"
    return arguments
