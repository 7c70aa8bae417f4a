"""How events read on a terminal: one JSON line each (`--json`), or readable progress
lines. The headless runner and `tail` print with these."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

from harness_tui import events as ev
from harness_tui.events import Event

if TYPE_CHECKING:
    from harness_tui.engine.recovery import RecoveryFailure

# Starts every line printed for the offline demo: nothing it says is about the user's
# project.
DEMO_MARK = "[offline demo] "


def recovery_line(failure: RecoveryFailure) -> str:
    """The stderr line for a session start-up recovery could not finish."""
    return (
        f"harness-tui: session {failure.session_id} could not be recovered "
        f"(it stays as it was; its log says so): {failure.error}"
    )


class JsonRenderer:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        self.out.write(event.to_json() + "\n")
        self.out.flush()


class TextRenderer:
    """Readable progress lines: model text, each tool call and its outcome. Every line
    of an offline demo session starts with DEMO_MARK."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.calls: dict[str, str] = {}
        self.demo_sessions: set[str] = set()
        self._mark = ""

    def line(self, text: str) -> None:
        self.out.write(self._mark + text + "\n")
        self.out.flush()

    def __call__(self, event: Event) -> None:
        data = event.data
        kind = event.type
        if kind == ev.SESSION_CREATED and data.get("offline_demo"):
            self.demo_sessions.add(event.session_id)
        self._mark = DEMO_MARK if event.session_id in self.demo_sessions else ""
        if kind == ev.SESSION_CREATED:
            self.line(f"● session {event.session_id} · {ev.runs_on(data)} · {data['workspace']}")
            if data.get("note"):
                self.line(f"  {data['note']}")
        elif kind == ev.MODEL_COMPLETED and data.get("text"):
            for text_line in data["text"].splitlines():
                self.line(f"  {text_line}")
        elif kind == ev.MODEL_FAILED:
            retry = " (will retry)" if ev.will_retry(data) else ""
            self.line(
                f"  ! model request failed (attempt {data['attempt']}): {data['error']}{retry}"
            )
        elif kind == ev.TOOL_REQUESTED:
            summary = describe_call(data["tool"], data.get("args") or {})
            self.calls[data["call_id"]] = summary
            self.line(f"  → {summary}")
        elif kind == ev.TOOL_COMPLETED:
            self.line(f"  {'✗' if data.get('is_error') else '✓'} {outcome(data)}")
        elif kind == ev.TOOL_FAILED:
            self.line(f"  ✗ {data.get('error', 'failed')}")
        elif kind == ev.APPROVAL_REQUESTED:
            rule = f", rule {data['rule_id']}" if data.get("rule_id") else ""
            self.line(f"  ? approval {data['approval_id']} needed (risk {data['risk']}{rule})")
        elif kind == ev.APPROVAL_RESOLVED:
            self.line(f"  ✓ approval {data['approval_id']}: {data['decision']} by {data['by']}")
        elif kind == ev.TURN_COMPLETED and data.get("reason") != "no_tool_calls":
            self.line(f"● turn ended: {data.get('error') or data.get('reason')}")
        elif kind == ev.SESSION_STATUS:
            if data["status"] == "queued":
                self.line(f"● queued for a worktree slot (position {data.get('position')})")
            elif data.get("error"):
                self.line(f"● session {data['status']}: {data['error']}")
        elif kind == ev.WORKTREE_CREATED:
            self.line(f"● worktree {data['path']} on branch {data['branch']} (from {data['base']})")
        elif kind == ev.VALIDATION_COMPLETED:
            mark = "✓" if data.get("kind") == "passed" else "✗"
            how = "timed out" if data.get("timed_out") else f"exit {data.get('exit_code')}"
            self.line(f"  {mark} validation `{data['command']}`: {how}")
        elif kind == ev.WORKTREE_COMMITTED:
            commit = (data.get("commit") or "")[:12] or "nothing new to commit"
            self.line(
                f"● branch {data['branch']}: {commit}; {data.get('files', 0)} files changed, "
                f"+{data.get('insertions', 0)} -{data.get('deletions', 0)}"
            )
        elif kind == ev.AGENT_STARTED and data.get("asks_permission") is False:
            self.line(f"● ⚠ {data.get('agent')}: {ev.AGENT_NEVER_ASKS}")
        elif kind == ev.AGENT_EXITED and data.get("error"):
            self.line(f"● {data.get('agent')} stopped: {data['error']}")
        elif kind == ev.WORKTREE_REMOVED:
            self.line(f"● worktree removed; the work stays on branch {data['branch']}")


def describe_call(tool: str, args: dict[str, Any]) -> str:
    """One line that says what a tool call does, for people."""
    if tool == "bash":
        return f"bash: {args.get('command', '')}"
    for key in ("path", "pattern"):
        if key in args:
            return f"{tool} {args[key]}"
    return tool


def outcome(data: dict[str, Any]) -> str:
    meta = data.get("metadata") or {}
    if "exit_code" in meta:
        return f"exit {meta['exit_code']}"
    result = str(data.get("result", "")).strip()
    lines = result.count("\n") + 1 if result else 0
    first = result.splitlines()[0] if result else ""
    if len(first) > 80:
        first = first[:79] + "…"
    return f"{first}" + (f" (+{lines - 1} lines)" if lines > 1 else "")
