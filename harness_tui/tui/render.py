"""Events as event-log lines: each kind of event readable at a glance.

An event becomes one or a few `LogLine`s, made once when the event arrives. The log
widget only paints them, so scrolling costs nothing but the visible rows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.sandbox import DEFAULT_MODE

# Longest text kept on one line; the widget crops to its width anyway.
MAX_LINE = 400
# Lines of model text, input text or task output shown for one event.
MAX_TEXT_LINES = 6
MAX_OUTPUT_LINES = 20

# Filters cycled with `f`: a name and the categories it shows.
TYPE_FILTERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("all", frozenset()),
    ("conversation", frozenset({"input", "model"})),
    ("tools", frozenset({"tool", "result", "policy"})),
    ("approvals", frozenset({"approval", "policy"})),
    ("tasks", frozenset({"task"})),
    ("errors", frozenset({"error"})),
)

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class LogLine(NamedTuple):
    """One painted line of the log. A tuple of strings, numbers and a datetime, so the
    garbage collector stops tracking it: the log keeps tens of thousands of these,
    and scanning them in every full collection would stall the screen."""

    position: int
    session_id: str
    ts: datetime
    type: str
    # input | model | tool | result | policy | approval | task | status | error
    kind: str
    # Shown on the first line of an event only; continuation lines have "".
    label: str
    text: str
    # The event's seq in its session: where a page of older history starts from.
    seq: int = 0

    def matches(self, needle: str) -> bool:
        """`needle` is lower case already."""
        return needle in self.text.lower() or needle in self.type


def clean(text: str) -> str:
    """One line, safe to paint: no terminal escapes, tabs or control characters."""
    text = ANSI.sub("", text).replace("\t", "    ").replace("\r", "")
    text = _CONTROL.sub("", text)
    return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


def readable(text: str) -> str:
    """Any length and every line, safe to paint: what a detail view shows whole."""
    text = ANSI.sub("", text).replace("\t", "    ").replace("\r", "")
    return "\n".join(_CONTROL.sub("", line) for line in text.split("\n"))


def _lines(text: str, limit: int) -> list[str]:
    lines = text.strip("\n").splitlines() or [""]
    if len(lines) > limit:
        hidden = len(lines) - limit + 1
        lines = [*lines[: limit - 1], f"… {hidden} more lines"]
    return [clean(line) for line in lines]


def _compact(value: Any, limit: int = 160) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        text = repr(value)
    text = clean(text.replace("\n", " "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_call(tool: str, args: Mapping[str, Any]) -> str:
    """What a tool call does, in the words a person would use: the command, the path."""
    if tool == "bash" and isinstance(args.get("command"), str):
        first, *rest = args["command"].strip().splitlines() or [""]
        return clean(first + (" …" if rest else ""))
    if isinstance(args.get("path"), str) and tool.endswith("_file"):
        return clean(args["path"])
    if tool == "glob" and "pattern" in args:
        return clean(str(args["pattern"]))
    if tool == "grep" and "pattern" in args:
        where = args.get("glob") or args.get("path") or ""
        return clean(f"{args['pattern']}" + (f"  in {where}" if where else ""))
    if "prompt" in args:
        preset = args.get("preset")
        return clean((f"[{preset}] " if preset else "") + str(args["prompt"]).splitlines()[0])
    if not args:
        return ""
    return _compact(dict(args))


def _first_line(text: str) -> tuple[str, int]:
    lines = text.strip().splitlines()
    if not lines:
        return "", 0
    return clean(lines[0]), len(lines) - 1


def render_event(
    event: Event,
    open_calls: Mapping[str, tuple[str, Mapping[str, Any]]],
    task_titles: Mapping[str, Any] | None = None,
) -> list[LogLine]:
    render = _RENDERERS.get(event.type, _render_other)
    parts = render(event, open_calls, task_titles or {})
    position = event.position or 0
    out = []
    for index, (kind, label, text) in enumerate(parts):
        out.append(
            LogLine(
                position,
                event.session_id,
                event.ts,
                event.type,
                kind,
                label if index == 0 else "",
                text,
                event.seq,
            )
        )
    return out


Part = tuple[str, str, str]


def _text_parts(kind: str, label: str, text: str, limit: int = MAX_TEXT_LINES) -> list[Part]:
    return [(kind, label, line) for line in _lines(text, limit)]


def _session_created(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    text = f"“{clean(d.get('title', ''))}” · {ev.runs_on(d)}"
    if d.get("approval_mode"):
        text += f" · approvals {d['approval_mode']}"
    if d.get("parent_id"):
        text += f" · subagent of {d['parent_id']}"
    sandbox = d.get("sandbox")
    if isinstance(sandbox, dict):
        # The default (workspace-write, offline) goes without saying.
        mode = sandbox.get("mode")
        if mode and mode != DEFAULT_MODE:
            text += f" · sandbox {mode}"
        if sandbox.get("network"):
            text += " · network allowed"
    parts: list[Part] = [("status", "session", text)]
    if d.get("note"):
        parts.append(("status", "", clean(d["note"])))
    return parts


def _session_status(event: Event, calls: Any, tasks: Any) -> list[Part]:
    status = event.data.get("status", "?")
    kind = "error" if status == "failed" else "status"
    return [(kind, "status", f"→ {status}")]


def _approval_mode(event: Event, calls: Any, tasks: Any) -> list[Part]:
    return [("policy", "mode", f"approval mode → {event.data.get('approval_mode', '?')}")]


_INPUT_LABELS = {"prompt": "you", "steer": "steer", "follow_up": "follow-up", "auto": "auto"}


def _input(event: Event, calls: Any, tasks: Any) -> list[Part]:
    mode = event.data.get("mode", "prompt")
    return _text_parts("input", _INPUT_LABELS.get(mode, mode), event.data.get("text", ""))


def _turn_started(event: Event, calls: Any, tasks: Any) -> list[Part]:
    return [("status", "turn", "started")]


def _turn_resumed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    return [("status", "turn", "resumed")]


def _turn_completed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    reason = event.data.get("reason", "?")
    text = f"ended: {reason}"
    if event.data.get("error"):
        text += f" · {clean(str(event.data['error']))}"
    kind = "error" if reason == "failed" else "status"
    return [(kind, "turn", text)]


def _model_completed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    text = event.data.get("text", "")
    if text.strip():
        return _text_parts("model", "model", text)
    names = [call.get("name", "?") for call in event.data.get("tool_calls", ())]
    return [("model", "model", f"calls {', '.join(names)}" if names else "(no text)")]


def _model_failed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    text = f"{clean(str(d.get('error', '')))} · attempt {d.get('attempt', '?')}"
    if ev.will_retry(d):
        text += ", retrying"
    return [("error", "model ✗", text)]


def _tool_requested(event: Event, calls: Any, tasks: Any) -> list[Part]:
    tool = event.data.get("tool", "?")
    return [("tool", "tool", f"{tool}  {describe_call(tool, event.data.get('args') or {})}")]


def _policy_decided(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    decision = d.get("decision", "?")
    text = decision
    if d.get("rule_id"):
        text += f" · rule {d['rule_id']}"
    if d.get("risk"):
        text += f" · risk {d['risk']}"
    if d.get("reason"):
        text += f" · {clean(str(d['reason']))}"
    return [("error" if decision == "forbid" else "policy", "policy", text)]


def _approval_requested(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    text = f"needs approval: {clean(str(d.get('summary', '')))}"
    if d.get("risk"):
        text += f" · risk {d['risk']}"
    if d.get("rule_id"):
        text += f" · rule {d['rule_id']}"
    parts: list[Part] = [("approval", "approval", text)]
    diff = d.get("diff")
    if diff:
        added = sum(1 for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++"))
        removed = sum(1 for x in diff.splitlines() if x.startswith("-") and not x.startswith("---"))
        parts.append(("approval", "", f"diff +{added} −{removed}"))
    return parts


def edited_summary(args: Mapping[str, Any]) -> str:
    """What an edited call runs instead: its command, else its arguments."""
    command = args.get("command")
    if isinstance(command, str):
        first, *rest = command.strip().splitlines() or [""]
        return clean(first + (" …" if rest else ""))
    return _compact(dict(args))


def _approval_resolved(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    decision = d.get("decision", "?")
    text = decision.replace("_", " ")
    if d.get("by"):
        text += f" by {d['by']}"
    edited = d.get("edited_args")
    if isinstance(edited, dict):
        text += f" → {edited_summary(edited)}"
    if d.get("reason"):
        text += f" · {clean(str(d['reason']))}"
    return [("error" if decision == "deny" else "approval", "decision", text)]


def _tool_name(event: Event, calls: Mapping[str, tuple[str, Any]]) -> str:
    call = calls.get(event.data.get("call_id", ""))
    return call[0] if call else "tool"


def _tool_completed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    first, more = _first_line(str(d.get("result", "")))
    text = f"{_tool_name(event, calls)} {'✗' if d.get('is_error') else '✓'} {first}"
    if more:
        text += f"  (+{more} lines)"
    if d.get("duration_ms") is not None:
        text += f"  · {d['duration_ms']} ms"
    return [("error" if d.get("is_error") else "result", "result", text)]


def _tool_failed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    error = clean(str(event.data.get("error", "")).replace("\n", " "))
    return [("error", "result", f"{_tool_name(event, calls)} ✗ {error}")]


def _task_title(event: Event, tasks: Mapping[str, Any]) -> str:
    task = tasks.get(event.data.get("task_id", ""))
    title = getattr(task, "title", "") if task is not None else ""
    return clean(title) or event.data.get("task_id", "?")


def _task_started(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    return [("task", "task", f"started [{d.get('kind', 'shell')}] {clean(d.get('title', ''))}")]


def _task_output(event: Event, calls: Any, tasks: Any) -> list[Part]:
    return _text_parts("task", "output", event.data.get("text", ""), MAX_OUTPUT_LINES)


def _task_ended(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    status = event.type.removeprefix("task.")
    text = f"{status} {_task_title(event, tasks)}"
    if d.get("exit_code") is not None:
        text += f" · exit {d['exit_code']}"
    summary = d.get("summary") or d.get("reason")
    if summary:
        text += f" · {clean(str(summary).splitlines()[0] if str(summary).strip() else '')}"
    return [("task" if status == "completed" else "error", "task", text)]


def _subagent_spawned(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    prompt = str(d.get("prompt", "")).strip().splitlines()
    text = f"[{d.get('preset', '?')}] session {d.get('child_session_id', '?')}"
    if prompt:
        text += f": {clean(prompt[0])}"
    return [("task", "subagent", text)]


def _artifact(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    return [("status", "artifact", f"{d.get('path', '?')} ({d.get('bytes', '?')} bytes)")]


def _compaction(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    text = f"context compacted: {d.get('tokens_before', '?')} → {d.get('tokens_after', '?')} tokens"
    return [("status", "compact", text)]


def _worktree(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    verb = event.type.removeprefix("worktree.")
    return [("status", "worktree", f"{verb} {d.get('branch', '?')} at {d.get('path', '?')}")]


def _validation(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    code = d.get("exit_code")
    kind = "result" if code == 0 else "error"
    return [(kind, "validate", f"{clean(str(d.get('command', '?')))} → exit {code}")]


def _validation_started(event: Event, calls: Any, tasks: Any) -> list[Part]:
    return [("status", "validate", f"{clean(str(event.data.get('command', '?')))} …")]


def _unshown(event: Event, calls: Any, tasks: Any) -> list[Part]:
    """Bookkeeping a person needs no line for (a command's process group, on record
    for recovery): the call's own lines say what runs."""
    return []


def _recovery_failed(event: Event, calls: Any, tasks: Any) -> list[Part]:
    error = clean(str(event.data.get("error", "?")))
    return [("error", "recovery", f"could not be recovered: {error}")]


def _unconfined(event: Event, calls: Any, tasks: Any) -> list[Part]:
    """A session's commands run with nothing confining them: an error line, not a note."""
    reason = clean(str(event.data.get("reason", "")))
    if event.type == ev.SANDBOX_DISABLED:
        return [("error", "sandbox", f"⚠ no sandbox: {reason}")]
    fallback = clean(str(event.data.get("fallback", "")))
    return [("error", "sandbox", f"⚠ the sandbox cannot start: {reason}; {fallback}")]


def _agent_started(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    how = "resumed" if d.get("resumed") else "started"
    text = f"{d.get('agent', '?')} {how} ({d.get('protocol', '?')}"
    if d.get("pid"):
        text += f", pid {d['pid']}"
    text += ")"
    if d.get("asks_permission") is False:
        return [("error", "agent", f"⚠ {text}: {ev.AGENT_NEVER_ASKS}")]
    return [("status", "agent", f"{text} · asks our policy before its tools")]


def _agent_exited(event: Event, calls: Any, tasks: Any) -> list[Part]:
    d = event.data
    text = f"{d.get('agent', '?')} stopped ({d.get('reason', '?')})"
    if d.get("error"):
        return [("error", "agent", f"{text}: {clean(str(d['error']))}")]
    return [("status", "agent", text)]


def _render_other(event: Event, calls: Any, tasks: Any) -> list[Part]:
    label = event.type.split(".")[0]
    return [("status", label[:9], f"{event.type} {_compact(event.data)}")]


_RENDERERS = {
    ev.SESSION_CREATED: _session_created,
    ev.SESSION_STATUS: _session_status,
    ev.SESSION_APPROVAL_MODE: _approval_mode,
    ev.INPUT_RECEIVED: _input,
    ev.TURN_STARTED: _turn_started,
    ev.TURN_RESUMED: _turn_resumed,
    ev.TURN_COMPLETED: _turn_completed,
    ev.MODEL_COMPLETED: _model_completed,
    ev.MODEL_FAILED: _model_failed,
    ev.TOOL_REQUESTED: _tool_requested,
    ev.POLICY_DECIDED: _policy_decided,
    ev.APPROVAL_REQUESTED: _approval_requested,
    ev.APPROVAL_RESOLVED: _approval_resolved,
    ev.TOOL_STARTED: _unshown,
    ev.TOOL_COMPLETED: _tool_completed,
    ev.TOOL_FAILED: _tool_failed,
    ev.TASK_STARTED: _task_started,
    ev.TASK_OUTPUT: _task_output,
    ev.TASK_COMPLETED: _task_ended,
    ev.TASK_FAILED: _task_ended,
    ev.TASK_CANCELLED: _task_ended,
    ev.SUBAGENT_SPAWNED: _subagent_spawned,
    ev.ARTIFACT_CREATED: _artifact,
    ev.COMPACTION_COMPLETED: _compaction,
    ev.WORKTREE_CREATED: _worktree,
    ev.WORKTREE_REMOVED: _worktree,
    ev.VALIDATION_STARTED: _validation_started,
    ev.VALIDATION_COMPLETED: _validation,
    ev.RECOVERY_FAILED: _recovery_failed,
    ev.SANDBOX_DISABLED: _unconfined,
    ev.SANDBOX_UNAVAILABLE: _unconfined,
    ev.AGENT_STARTED: _agent_started,
    ev.AGENT_EXITED: _agent_exited,
}


def category_matches(line: LogLine, categories: frozenset[str]) -> bool:
    return not categories or line.kind in categories
