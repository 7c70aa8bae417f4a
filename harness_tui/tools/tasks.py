"""Tools for background tasks and subagents: read_task, wait_task, cancel_task and
spawn_subagent. They talk to the session's TaskHost, which the engine provides."""

from __future__ import annotations

from typing import Any

from harness_tui.providers.base import ToolSpec
from harness_tui.tools.args import check_args
from harness_tui.tools.base import TaskHost, TaskInfo, ToolContext, ToolError, ToolResult

_TASK_ID = {
    "type": "string",
    "description": "The id a background task was given (or its short form, e.g. t1).",
}


def _host(ctx: ToolContext, tool: str) -> TaskHost:
    if ctx.tasks is None:
        raise ToolError(f"{tool}: this session has no background tasks")
    return ctx.tasks


def _describe(info: TaskInfo) -> str:
    line = f"task {info.task_id} ({info.kind}: {info.title}) is {info.status}"
    if info.exit_code is not None:
        line += f", exit code {info.exit_code}"
    if info.summary and info.status != "running":
        line += f"\n{info.summary}"
    return line


def _result(info: TaskInfo, text: str = "") -> ToolResult:
    content = _describe(info) + (f"\n{text}" if text else "")
    return ToolResult(
        content=content,
        is_error=info.status in ("failed", "cancelled"),
        metadata={"task_id": info.task_id, "status": info.status},
    )


class ReadTaskTool:
    spec = ToolSpec(
        name="read_task",
        description=(
            "Read a background task's output from byte offset `since` (0 for the start). "
            "The result ends with the offset to pass next time, so repeated calls read "
            "only what is new."
        ),
        parameters={
            "type": "object",
            "properties": {
                "task_id": _TASK_ID,
                "since": {"type": "integer", "minimum": 0, "description": "Byte offset."},
            },
            "required": ["task_id"],
            "additionalProperties": False,
        },
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        text, offset, info = await _host(ctx, "read_task").read(
            args["task_id"], int(args.get("since", 0))
        )
        return _result(info, f"{text}\n[next since: {offset}]")


class WaitTaskTool:
    spec = ToolSpec(
        name="wait_task",
        description=(
            "Wait until a background task or subagent finishes, or `timeout` seconds pass, "
            "and report its status, exit code and summary (a subagent's final answer)."
        ),
        parameters={
            "type": "object",
            "properties": {
                "task_id": _TASK_ID,
                "timeout": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "description": "Seconds to wait at most (default 60).",
                },
            },
            "required": ["task_id"],
            "additionalProperties": False,
        },
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        info = await _host(ctx, "wait_task").wait(args["task_id"], float(args.get("timeout", 60)))
        return _result(info)


class CancelTaskTool:
    spec = ToolSpec(
        name="cancel_task",
        description=(
            "Stop a background task (its whole process group: SIGTERM, then SIGKILL) or a subagent."
        ),
        parameters={
            "type": "object",
            "properties": {"task_id": _TASK_ID},
            "required": ["task_id"],
            "additionalProperties": False,
        },
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        return _result(await _host(ctx, "cancel_task").cancel(args["task_id"]))


class SpawnSubagentTool:
    spec = ToolSpec(
        name="spawn_subagent",
        description=(
            "Start a subagent: a separate session with its own log that works on `prompt` "
            "with a preset's tools and instructions (e.g. `explore` reads only, `worker` "
            "has all tools). With background=false (default) this waits and returns the "
            "subagent's final answer; with background=true it returns a task_id at once, "
            "and the answer arrives as that task's completion. Several can run at once."
        ),
        parameters={
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "description": "The subagent's task."},
                "preset": {
                    "type": "string",
                    "description": "A preset name from the configuration: explore, worker…",
                },
                "background": {"type": "boolean", "description": "Return at once."},
            },
            "required": ["prompt", "preset"],
            "additionalProperties": False,
        },
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        info = await _host(ctx, "spawn_subagent").spawn_subagent(
            args["prompt"], args["preset"], bool(args.get("background", False))
        )
        return _result(info)
