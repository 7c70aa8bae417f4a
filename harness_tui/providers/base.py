"""The one small interface every model provider implements.

Messages, tool calls, usage and stream items are normalised here so the loop never
sees a vendor's types. A provider streams `TextDelta`s while the model writes and ends
with exactly one `ModelResponse`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    """A normalised conversation message.

    user: `content` is text. assistant: `content` is its text and `tool_calls` what it
    asked for. tool: the result of `tool_call_id`, `content` is the result text.
    """

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False
    # An assistant reply exactly as its provider sent it, for providers that need it
    # echoed back verbatim (Anthropic thinking blocks with their signatures).
    provider_content: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments object


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        if self.cache_read_tokens or self.cache_write_tokens:
            data["cache_read_tokens"] = self.cache_read_tokens
            data["cache_write_tokens"] = self.cache_write_tokens
        if self.cost_usd is not None:
            data["cost_usd"] = round(self.cost_usd, 6)
        return data


@dataclass(frozen=True, slots=True)
class ModelRequest:
    model: str
    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int = 8192


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ModelResponse:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = "end_turn"
    # See Message.provider_content; stored in model.completed so a resumed session
    # can still send it back.
    provider_content: tuple[dict[str, Any], ...] | None = None


StreamItem = TextDelta | ModelResponse


class ProviderError(Exception):
    """A failed model request, already classified.

    `retryable` is true for 429, 5xx, connection resets and timeouts; false for
    400/401/403 and anything else the provider will refuse again. The message is the
    provider's own, prefixed with the provider name and host.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Provider(Protocol):
    name: str
    default_model: str

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        """Yield TextDelta items as text arrives, then one ModelResponse.

        Raises ProviderError for a failed request (no retries here: the loop retries,
        so every attempt is recorded as an event).
        """
        ...

    async def aclose(self) -> None: ...


# Compaction: older turns summarised by the session's own provider. The summary stands
# in the conversation as a user message whose header says how many model replies it
# covers, so a provider that counts replies (the scripted one) keeps its place.
COMPACTION_SYSTEM = (
    "You are compacting a coding agent's conversation so it can go on within its "
    "context window. Write a concise summary of everything the agent will need: the "
    "task, decisions made, files read and changed (with paths), commands run and their "
    "outcomes, and what remains to do. Write it for the agent itself, in plain text."
)
# GC: a remediation draft for a recurring pattern (harness_tui.gc.drafts.draft_prompt).
GC_DRAFT_SYSTEM = (
    "You review how coding agents work in a project and propose small, precise fixes "
    "for recurring problems: a policy rule, a code rule, or a note for the agents' "
    "instructions. Answer with exactly one JSON object as asked."
)
_SUMMARY_HEADER = "[Summary of the conversation so far: {replies} earlier model replies]"
_SUMMARY_PATTERN = re.compile(
    r"^\[Summary of the conversation so far: (\d+) earlier model replies\]"
)


def summary_message(summary: str, replies: int) -> Message:
    return Message(role="user", content=f"{_SUMMARY_HEADER.format(replies=replies)}\n{summary}")


def replies_summarised(message: Message) -> int:
    """How many model replies a summary message stands for (0 for any other message)."""
    if message.role != "user":
        return 0
    found = _SUMMARY_PATTERN.match(message.content)
    return int(found.group(1)) if found else 0
