"""Compaction: keeping a long session inside the model's context window.

Two steps, cheapest first. Large tool outputs in older replies are replaced by stubs
that name an artifact holding the full text. If the conversation is still too big,
everything before the newest `keep_replies` model replies is summarised by the
session's own provider. Both land in one `compaction.completed` event, which the
session projection folds, so a restarted session sees the same shortened history.

The planning is pure (`plan`); `compact` carries a plan out for a running session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from harness_tui import events as ev
from harness_tui.config import CompactionConfig
from harness_tui.engine.model_call import ModelCall
from harness_tui.engine.session import SessionState
from harness_tui.events import Event
from harness_tui.providers.base import (
    COMPACTION_SYSTEM,
    Message,
    ModelRequest,
    ProviderError,
    ToolSpec,
    replies_summarised,
)
from harness_tui.tools.artifacts import save_artifact
from harness_tui.tools.base import ToolContext

# After compacting, aim for at most this share of the threshold, so the session does
# not compact again after a reply or two.
_TARGET_SHARE = 0.5


def estimate_tokens(
    messages: list[Message], system: str = "", tools: tuple[ToolSpec, ...] = ()
) -> int:
    """About four characters a token: the same rough measure for before and after."""
    chars = len(system) + sum(len(t.description) + len(str(t.parameters)) for t in tools)
    for message in messages:
        chars += len(message.content)
        chars += sum(len(c.name) + len(str(c.arguments)) for c in message.tool_calls)
    return math.ceil(chars / 4)


def needs_compaction(state: SessionState, cfg: CompactionConfig) -> bool:
    return state.last_input_tokens > cfg.threshold * cfg.context_window


@dataclass
class Plan:
    tokens_before: int
    # Tool results to replace by stubs: (call_id, full text).
    elide: list[tuple[str, str]] = field(default_factory=list)
    # Messages up to this seq are summarised (0: no summary needed).
    covered_until_seq: int = 0
    covered: list[Message] = field(default_factory=list)
    replies_covered: int = 0


def plan(
    state: SessionState, cfg: CompactionConfig, tokens_before: int, *, force: bool = False
) -> Plan:
    """What to compact: stubs first, then a summary if the stubs are not enough (or
    always, when asked for on demand)."""
    result = Plan(tokens_before)
    boundary = _boundary(state, cfg.keep_replies)
    if boundary is None:
        return result  # too few replies to compact anything
    old = [
        (seq, m)
        for seq, m in zip(state.message_seqs, state.messages, strict=True)
        if seq <= boundary
    ]
    saved = 0
    for _, message in old:
        if message.role == "tool" and len(message.content.encode()) > cfg.elide_bytes:
            result.elide.append((message.tool_call_id or "", message.content))
            saved += len(message.content)
    target = cfg.threshold * cfg.context_window * _TARGET_SHARE
    if force or tokens_before - saved / 4 > target:
        result.covered_until_seq = boundary
        result.covered = [m for _, m in old]
        result.replies_covered = sum(1 for _, m in old if m.role == "assistant") + sum(
            replies_summarised(m) for _, m in old
        )
    return result


def _boundary(state: SessionState, keep_replies: int) -> int | None:
    """The seq just before the oldest reply that stays verbatim, or None."""
    reply_seqs = [
        seq
        for seq, m in zip(state.message_seqs, state.messages, strict=True)
        if m.role == "assistant"
    ]
    if len(reply_seqs) <= keep_replies:
        return None
    return reply_seqs[-keep_replies] - 1


def stub(call_id: str, size: int, path: str, artifact_id: str) -> str:
    return (
        f"[output of call {call_id} elided by compaction: {size} bytes, kept in full at "
        f"{path} (artifact {artifact_id})]"
    )


def event_data(
    compaction: Plan, stubs: list[dict[str, Any]], summary: str, tokens_after: int
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "covered_until_seq": compaction.covered_until_seq if summary else 0,
        "summary": summary,
        "tokens_before": compaction.tokens_before,
        "tokens_after": tokens_after,
    }
    if stubs:
        data["elided"] = stubs
    if summary:
        data["replies_covered"] = compaction.replies_covered
    return data


async def compact(model: ModelCall, tool_ctx: ToolContext, *, force: bool = False) -> bool:
    """Shorten the session's conversation; False if nothing could be. `force`
    summarises even when the conversation is not yet too big. Elided outputs are
    saved as artifacts through `tool_ctx`."""
    writer, state = model.writer, model.writer.state
    request = model.build_request()
    measured = estimate_tokens(list(request.messages), request.system, request.tools)
    compaction = plan(
        state,
        model.ctx.config.compaction,
        max(state.last_input_tokens, measured),
        force=force,
    )
    if not compaction.elide and not compaction.covered_until_seq:
        return False
    stubs = []
    for call_id, text in compaction.elide:
        art = save_artifact(tool_ctx, text, source=f"compaction: output of call {call_id}")
        stubs.append(
            {
                "call_id": call_id,
                "artifact_id": art.artifact_id,
                "stub": stub(call_id, art.bytes, str(art.path), art.artifact_id),
            }
        )
    summary = ""
    if compaction.covered_until_seq:
        summary = await _summarise(model, compaction.covered)
    preview = SessionState.from_events(state.session_id, [])
    preview.messages, preview.message_seqs = list(state.messages), list(state.message_seqs)
    data = event_data(compaction, stubs, summary, 0)
    preview.apply(Event(state.session_id, state.last_seq + 1, ev.COMPACTION_COMPLETED, data))
    data["tokens_after"] = estimate_tokens(preview.messages, request.system, request.tools)
    await writer.emit(ev.COMPACTION_COMPLETED, data)
    return True


async def _summarise(model: ModelCall, covered: list[Message]) -> str:
    """The covered part of the conversation, summarised by the session's provider.
    A failure is recorded and compaction makes do with the stubs."""
    request = ModelRequest(
        model=model.writer.state.model,
        system=COMPACTION_SYSTEM,
        messages=(
            *covered,
            Message(role="user", content="Summarise the conversation above."),
        ),
        max_tokens=model.ctx.config.provider.max_tokens,
    )
    try:
        response = await model.stream(request)
    except ProviderError as exc:
        await model.writer.emit(
            ev.MODEL_FAILED,
            {
                "error": f"compaction: {exc}",
                "retryable": exc.retryable,
                # Compaction is not retried: the turn goes on without it.
                "will_retry": False,
                "attempt": 1,
            },
        )
        return ""
    return response.text.strip()
