"""An offline, deterministic provider that plays a script of model replies.

It drives the demo and every test that needs a model but not a network. A script is
TOML (`[[turn]]` tables) or JSONL (one turn object per line):

    [[turn]]
    text = "Let me look at the file."
    delay_ms = 500                      # optional, overrides the provider's delay
    usage = { input_tokens = 1200, output_tokens = 40 }   # optional
    [[turn.tool_calls]]
    name = "read_file"
    arguments = { path = "calc.py" }

    {"text": "Let me look.", "tool_calls": [{"name": "read_file", "arguments": {...}}]}

`{slow_step_s}` in a tool call's string arguments stands for the provider's
`slow_step_s` ([scripted] slow_step_s): a script names a slow step once, e.g.
`sleep {slow_step_s}`, and a test plays the same script with a short one.

Which turn comes next is not kept in the provider: it is the number of assistant
messages already in the request, so a restarted or continued session picks up where
its log left off.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_tui.providers.base import (
    COMPACTION_SYSTEM,
    GC_DRAFT_SYSTEM,
    ModelRequest,
    ModelResponse,
    ProviderError,
    StreamItem,
    TextDelta,
    ToolCall,
    Usage,
    replies_summarised,
)

BUILTIN_DIR = Path(__file__).parent / "scripts"
EXHAUSTED_TEXT = "The script has no more replies."
_TURN_KEYS = ("text", "tool_calls", "usage", "delay_ms")
_CALL_KEYS = ("name", "arguments", "id")
_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
_TEXT_CHUNKS = 4
_SLOW_STEP = "{slow_step_s}"


class ScriptError(ProviderError):
    """A script that cannot be loaded; the message names the file and the turn."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    text: str = ""
    tool_calls: tuple[ScriptedCall, ...] = ()
    usage: Usage | None = None
    delay_ms: float | None = None


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    path: Path
    turns: tuple[Turn, ...]


def builtin_scripts() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def subagent_script(name_or_path: str, preset: str) -> str | None:
    """The script a subagent of `preset` plays when its parent plays `name_or_path`:
    NAME-PRESET beside it (demo -> demo-explore), if there is one."""
    if "/" in name_or_path or name_or_path.endswith((".toml", ".jsonl")):
        path = Path(name_or_path).expanduser()
        sibling = path.with_name(f"{path.stem}-{preset}{path.suffix}")
        return str(sibling) if sibling.is_file() else None
    builtin = f"{name_or_path}-{preset}"
    return builtin if (BUILTIN_DIR / f"{builtin}.toml").is_file() else None


def load_script(name_or_path: str | os.PathLike[str]) -> Script:
    """A built-in script by name ("demo", "echo") or a .toml / .jsonl file by path."""
    raw = os.fspath(name_or_path)
    looks_like_path = (
        isinstance(name_or_path, os.PathLike)
        or "/" in raw
        or os.sep in raw
        or raw.endswith((".toml", ".jsonl"))
    )
    if looks_like_path:
        path = Path(raw).expanduser()
        name = path.stem
    else:
        path = BUILTIN_DIR / f"{raw}.toml"
        name = raw
        if not path.is_file():
            raise ScriptError(
                f"script {raw!r}: no built-in script of that name "
                f"(built-ins: {', '.join(builtin_scripts()) or 'none'}) "
                "and not a path to a .toml or .jsonl file"
            )
    where = f"script {path}"
    if path.suffix not in (".toml", ".jsonl"):
        raise ScriptError(f"{where}: expected a .toml or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScriptError(f"{where}: cannot read: {err}") from None
    if path.suffix == ".toml":
        turns = _parse_toml(text, where)
    else:
        turns = _parse_jsonl(text, where)
    if not turns:
        hint = "[[turn]] tables" if path.suffix == ".toml" else "turn lines"
        raise ScriptError(f"{where}: no {hint}")
    return Script(name=name, path=path, turns=tuple(turns))


def _parse_toml(text: str, where: str) -> list[Turn]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScriptError(f"{where}: {err}") from None
    unknown = sorted(set(data) - {"turn"})
    if unknown:
        # A typo such as [[turns]] would otherwise load as an empty script.
        raise ScriptError(f"{where}: unknown key {unknown[0]!r} (expected [[turn]] tables)")
    raw_turns = data.get("turn", [])
    if not isinstance(raw_turns, list):
        raise ScriptError(f"{where}: 'turn' must be an array of tables ([[turn]])")
    return [_parse_turn(raw, f"{where}: turn {n}", "table") for n, raw in enumerate(raw_turns, 1)]


def _parse_jsonl(text: str, where: str) -> list[Turn]:
    turns: list[Turn] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        # Blank lines and '#' comment lines let a hand-written script breathe.
        if not stripped or stripped.startswith("#"):
            continue
        context = f"{where}: line {line_no} (turn {len(turns) + 1})"
        try:
            raw = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise ScriptError(f"{context}: invalid JSON: {err.msg}") from None
        turns.append(_parse_turn(raw, context, "object"))
    return turns


def _parse_turn(raw: object, context: str, table: str) -> Turn:
    if not isinstance(raw, dict):
        raise ScriptError(f"{context}: must be a {table}")
    unknown = sorted(set(raw) - set(_TURN_KEYS))
    if unknown:
        raise ScriptError(
            f"{context}: unknown key {unknown[0]!r} (expected {', '.join(_TURN_KEYS)})"
        )
    text = raw.get("text", "")
    if not isinstance(text, str):
        raise ScriptError(f"{context}: text must be a string")
    raw_calls = raw.get("tool_calls", [])
    if not isinstance(raw_calls, list):
        raise ScriptError(f"{context}: tool_calls must be a list of {table}s")
    calls = tuple(
        _parse_call(c, f"{context}: tool_calls[{i}]", table) for i, c in enumerate(raw_calls)
    )
    if not text and not calls:
        raise ScriptError(f"{context}: needs text or tool_calls")
    usage = None
    if "usage" in raw:
        usage = _parse_usage(raw["usage"], f"{context}: usage", table)
    delay = raw.get("delay_ms")
    if delay is not None and (not _is_number(delay) or delay < 0):
        raise ScriptError(f"{context}: delay_ms must be a number of milliseconds, 0 or more")
    return Turn(text=text, tool_calls=calls, usage=usage, delay_ms=delay)


def _parse_call(raw: object, context: str, table: str) -> ScriptedCall:
    if not isinstance(raw, dict):
        raise ScriptError(f"{context} must be a {table}")
    unknown = sorted(set(raw) - set(_CALL_KEYS))
    if unknown:
        raise ScriptError(
            f"{context} has unknown key {unknown[0]!r} (expected {', '.join(_CALL_KEYS)})"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ScriptError(f"{context} has no name")
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, dict):
        raise ScriptError(f"{context}.arguments must be a {table}")
    call_id = raw.get("id")
    if call_id is not None and (not isinstance(call_id, str) or not call_id):
        raise ScriptError(f"{context}.id must be a non-empty string")
    return ScriptedCall(name=name, arguments=arguments, id=call_id)


def _parse_usage(raw: object, context: str, table: str) -> Usage:
    if not isinstance(raw, dict):
        raise ScriptError(f"{context} must be a {table}")
    unknown = sorted(set(raw) - set(_USAGE_KEYS))
    if unknown:
        raise ScriptError(
            f"{context} has unknown key {unknown[0]!r} (expected {', '.join(_USAGE_KEYS)})"
        )
    counts = {}
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ScriptError(f"{context}.{key} must be a whole number, 0 or more")
        counts[key] = value
    return Usage(**counts)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ScriptedProvider:
    name = "scripted"

    def __init__(
        self,
        script: Script | str | os.PathLike[str] = "demo",
        *,
        delay_ms: float = 0,
        model: str | None = None,
        slow_step_s: float = 6.0,
    ) -> None:
        self.script = script if isinstance(script, Script) else load_script(script)
        self.delay_ms = delay_ms
        self.slow_step_s = slow_step_s
        self.default_model = model or self.script.name
        # Every request received, in order: tests assert on what the model was shown.
        self.requests: list[ModelRequest] = []

    async def aclose(self) -> None:
        return None

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        self.requests.append(request)
        if request.system == COMPACTION_SYSTEM:
            yield _summarise(request)
            return
        if request.system == GC_DRAFT_SYSTEM:
            yield _draft(request)
            return
        # Replies a compaction summary stands for still count: the script goes on.
        index = sum(1 for m in request.messages if m.role == "assistant") + sum(
            replies_summarised(m) for m in request.messages
        )
        if index < len(self.script.turns):
            turn = self.script.turns[index]
        else:
            # Past the end: a plain answer without tool calls ends the turn.
            turn = Turn(text=EXHAUSTED_TEXT)
        number = index + 1
        calls = tuple(
            ToolCall(
                id=call.id or f"call_{number}_{i}",
                name=call.name,
                # A fresh copy, so nothing downstream can change the script itself.
                arguments=_with_slow_step(call.arguments, self.slow_step_s),
            )
            for i, call in enumerate(turn.tool_calls)
        )
        delay_s = (turn.delay_ms if turn.delay_ms is not None else self.delay_ms) / 1000
        chunks = _chunks(turn.text)
        if not chunks:
            await asyncio.sleep(delay_s)
        for chunk in chunks:
            # The pause is spread over the chunks so a watched demo visibly streams;
            # with no delay this still yields to the event loop, like a network read.
            await asyncio.sleep(delay_s / len(chunks))
            yield TextDelta(chunk)
        usage = turn.usage or _estimate_usage(request, turn.text, calls)
        yield ModelResponse(
            text=turn.text,
            tool_calls=calls,
            usage=usage,
            stop_reason="tool_use" if calls else "end_turn",
        )


def _with_slow_step(value: Any, seconds: float) -> Any:
    """A copy of `value` (parsed TOML or JSON) with `{slow_step_s}` in its strings
    replaced by `seconds`, written as a person would (6.0 as "6")."""
    if isinstance(value, str):
        return value.replace(_SLOW_STEP, f"{seconds:g}")
    if isinstance(value, dict):
        return {key: _with_slow_step(item, seconds) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_slow_step(item, seconds) for item in value]
    return value


def _chunks(text: str) -> list[str]:
    """Split at word boundaries into a few pieces that join back to `text`."""
    if not text:
        return []
    words = re.findall(r"\s*\S+\s*", text) or [text]
    size = math.ceil(len(words) / _TEXT_CHUNKS)
    pieces = ["".join(words[i : i + size]) for i in range(0, len(words), size)]
    if "".join(pieces) != text:  # only whitespace; keep it whole
        return [text]
    return pieces


def _estimate_usage(request: ModelRequest, text: str, calls: tuple[ToolCall, ...]) -> Usage:
    # About four characters per token: enough for token counters and budgets to move
    # plausibly in the demo and in tests. There is no price offline, so no cost.
    sent = len(request.system) + sum(
        len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in request.tools
    )
    for message in request.messages:
        sent += len(message.content)
        sent += sum(len(c.name) + len(json.dumps(c.arguments)) for c in message.tool_calls)
    written = len(text) + sum(len(c.name) + len(json.dumps(c.arguments)) for c in calls)
    return Usage(
        input_tokens=max(1, math.ceil(sent / 4)),
        output_tokens=max(1, math.ceil(written / 4)),
    )


def _summarise(request: ModelRequest) -> ModelResponse:
    """A deterministic summary for compaction: what was asked and what was done."""
    asked = [m.content for m in request.messages if m.role == "user" and m.content]
    calls = [c for m in request.messages for c in m.tool_calls]
    tools = ", ".join(sorted({c.name for c in calls})) or "none"
    text = (
        f"The user asked: {asked[0][:200] if asked else '(nothing)'}. "
        f"{len(calls)} tool calls so far ({tools})."
    )
    return ModelResponse(text=text, usage=_estimate_usage(request, text, ()))


def _draft(request: ModelRequest) -> ModelResponse:
    """An offline GC draft: a note for the agents' instructions naming the pattern."""
    prompt = request.messages[-1].content if request.messages else ""
    pattern = prompt.splitlines()[1].strip() if prompt.count("\n") >= 1 else "a pattern"
    draft = {
        "kind": "note",
        "title": f"Recurring: {pattern[:80]}",
        "content": f"- Watch for this recurring pattern and avoid it: {pattern}",
    }
    text = "```json\n" + json.dumps(draft) + "\n```"
    return ModelResponse(text=text, usage=_estimate_usage(request, text, ()))
