"""Claude through the Anthropic Messages API, streamed, with tools and prompt caching.

`import anthropic` below is the SDK: with absolute imports this module
(`harness_tui.providers.anthropic`) never shadows it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anthropic

from harness_tui.providers._common import (
    PLACEHOLDER_KEY,
    Deadlines,
    RequestClock,
    host_label,
    parse_arguments,
)
from harness_tui.providers.base import (
    Message,
    ModelRequest,
    ModelResponse,
    ProviderError,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolSpec,
    Usage,
)
from harness_tui.providers.errors import (
    body_error_type,
    body_message,
    provider_error,
    sdk_exceptions,
)
from harness_tui.providers.pricing import ModelPrice, cost_usd

DEFAULT_MODEL = "claude-sonnet-5-5"

_EPHEMERAL = {"type": "ephemeral"}
# Error types the API can send inside an already-started (HTTP 200) stream.
_RETRYABLE_STREAM_ERRORS = frozenset(
    {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}
)


class AnthropicProvider:
    name = "anthropic"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = DEFAULT_MODEL,
        prompt_caching: bool = True,
        timeout_s: float = 300.0,
        idle_timeout_s: float = 120.0,
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        base_url = base_url or None
        has_env_key = bool(
            os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_AUTH_TOKEN")
        )
        custom_url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
        if not api_key and not has_env_key and custom_url:
            api_key = PLACEHOLDER_KEY
        try:
            # No SDK retries: the engine's loop retries so that every attempt is an event.
            self._client = anthropic.AsyncAnthropic(
                api_key=api_key or None, base_url=base_url, max_retries=0, timeout=timeout_s
            )
        except anthropic.AnthropicError as err:
            # A broken credentials profile on disk, for instance.
            raise ProviderError(f"anthropic: {err}", retryable=False) from err
        self.default_model = model or DEFAULT_MODEL
        # Enforced by a RequestClock per request; the SDK's own timeout (the total) is
        # only a backstop: its read timeout restarts with every byte, keep-alives too.
        self.deadlines = Deadlines(total_s=timeout_s, idle_s=idle_timeout_s)
        self.prices: Mapping[str, ModelPrice] = prices or {}
        self.prompt_caching = prompt_caching
        self.host = host_label(self._client.base_url)
        self._prefix = f"anthropic ({self.host})"
        client = self._client
        if client.api_key is None and client.auth_token is None and client.credentials is None:
            raise ProviderError(
                f"{self._prefix}: no API key: set ANTHROPIC_API_KEY", retryable=False
            )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        model = request.model or self.default_model
        state = _StreamState(model=model, requested=model, prices=self.prices)
        clock = RequestClock(self.deadlines, self._prefix)
        try:
            events = await clock.wait(
                self._client.messages.create(**self._params(request, model), stream=True)
            )
            clock.responded = True
            async with events, aclosing(clock.events(events)) as timed:
                async for event in timed:
                    text = state.apply(event)
                    if text:
                        yield TextDelta(text)
        except sdk_exceptions(anthropic) as err:
            raise provider_error(
                err,
                sdk=anthropic,
                prefix=self._prefix,
                started=clock.responded,
                in_stream=self._in_stream_error,
                timeout_s=self.deadlines.total_s,
            ) from err
        if not state.finished:
            raise ProviderError(f"{self._prefix}: stream ended before message_stop", retryable=True)
        yield state.response()

    def _params(self, request: ModelRequest, model: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model,
            "max_tokens": request.max_tokens,
            "messages": convert_messages(request.messages, cache_last=self.prompt_caching),
        }
        if request.system:
            system: dict[str, Any] = {"type": "text", "text": request.system}
            if self.prompt_caching:
                system["cache_control"] = _EPHEMERAL
            params["system"] = [system]
        if request.tools:
            params["tools"] = convert_tools(request.tools, cache_last=self.prompt_caching)
        return params

    def _in_stream_error(self, err: anthropic.APIError) -> ProviderError:
        if isinstance(err, anthropic.APIStatusError):
            # An `error` event inside a stream that had already started: the SDK raises
            # it as a status error carrying the stream's 2xx status.
            message = body_message(err.body) or err.message
            error_type = body_error_type(err.body)
            return ProviderError(
                f"{self._prefix}: {error_type or 'error'} mid-stream: {message}",
                retryable=error_type is None or error_type in _RETRYABLE_STREAM_ERRORS,
            )
        # Anything else this SDK raises (a response it cannot validate) comes back the
        # same on another attempt.
        return ProviderError(f"{self._prefix}: {err.message}", retryable=False)


def convert_tools(tools: tuple[ToolSpec, ...], *, cache_last: bool) -> list[dict[str, Any]]:
    converted = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]
    if cache_last and converted:
        # One breakpoint on the last tool caches every tool definition before it.
        converted[-1]["cache_control"] = _EPHEMERAL
    return converted


def convert_messages(
    messages: tuple[Message, ...],
    *,
    cache_last: bool,
) -> list[dict[str, Any]]:
    """Normalised messages → Messages API turns.

    Tool results become `tool_result` blocks of a user turn; consecutive messages of the
    same role merge into one turn, because the API wants user and assistant to alternate
    and wants the tool results first in the turn that follows the `tool_use` blocks
    (steering text injected after a tool round lands behind them). An assistant reply
    that carries `provider_content` is sent back exactly as it was received, thinking
    blocks and their signatures included, as models that think require.
    """
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            role = "assistant"
            recorded = message.provider_content
            blocks: list[dict[str, Any]] = []
            if recorded is not None:
                blocks = [dict(block) for block in recorded]
            elif message.content.strip():
                blocks.append({"type": "text", "text": message.content})
            if recorded is None:
                blocks.extend(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                    for call in message.tool_calls
                )
        elif message.role == "tool":
            role = "user"
            blocks = [
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id or "",
                    # The API refuses an empty error result; say there was nothing.
                    "content": message.content or "(no output)",
                    "is_error": message.is_error,
                }
            ]
        else:
            role = "user"
            # The API rejects empty and whitespace-only text blocks.
            text = message.content
            blocks = [{"type": "text", "text": text}] if text.strip() else []
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    if cache_last and turns:
        last = turns[-1]["content"][-1]
        # A moving breakpoint on the newest block lets the next request of the loop
        # read the whole conversation so far from the cache. (Thinking blocks cannot
        # carry one; a conversation never ends on one in practice.)
        if last["type"] not in ("thinking", "redacted_thinking"):
            last["cache_control"] = _EPHEMERAL
    return turns


@dataclass
class _ToolBlock:
    id: str
    name: str
    initial_input: Any
    json_parts: list[str] = field(default_factory=list)

    def arguments(self) -> dict[str, Any]:
        return parse_arguments("".join(self.json_parts), self.initial_input)


@dataclass
class _StreamState:
    """Folds the raw stream events into one response."""

    model: str
    # The model name the request asked for, and the configured prices: see cost_usd.
    requested: str = ""
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    # Every content block by index: text and thinking blocks as API dicts, tool_use
    # blocks while their JSON input is still arriving.
    blocks: dict[int, dict[str, Any] | _ToolBlock] = field(default_factory=dict)
    has_thinking: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    stop_reason: str | None = None
    finished: bool = False

    def apply(self, event: Any) -> str:
        """Take one event in; return the text it adds, if any."""
        kind = event.type
        if kind == "message_start":
            message = event.message
            self.model = message.model or self.model
            self._usage(message.usage)
        elif kind == "content_block_start":
            return self._start(event.index, event.content_block)
        elif kind == "content_block_delta":
            return self._delta(event.index, event.delta)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self._usage(event.usage)
        elif kind == "message_stop":
            self.finished = True
        return ""

    def _start(self, index: int, block: Any) -> str:
        if block.type == "tool_use":
            self.blocks[index] = _ToolBlock(block.id, block.name, block.input)
        elif block.type == "text":
            self.blocks[index] = {"type": "text", "text": block.text or ""}
            text: str = block.text
            if text:
                self.text.append(text)
                return text
        elif block.type == "thinking":
            self.has_thinking = True
            self.blocks[index] = {
                "type": "thinking",
                "thinking": block.thinking or "",
                "signature": block.signature or "",
            }
        elif block.type == "redacted_thinking":
            self.has_thinking = True
            self.blocks[index] = {"type": "redacted_thinking", "data": block.data}
        return ""

    def _delta(self, index: int, delta: Any) -> str:
        block = self.blocks.get(index)
        if delta.type == "text_delta":
            text: str = delta.text
            if isinstance(block, dict) and block.get("type") == "text":
                block["text"] += text
            self.text.append(text)
            return text
        if delta.type == "input_json_delta" and isinstance(block, _ToolBlock):
            block.json_parts.append(delta.partial_json)
        elif isinstance(block, dict) and block.get("type") == "thinking":
            if delta.type == "thinking_delta":
                block["thinking"] += delta.thinking
            elif delta.type == "signature_delta":
                block["signature"] += delta.signature
        return ""

    def _usage(self, usage: Any) -> None:
        # message_delta carries cumulative counts; fields it leaves out stay as they were.
        if usage is None:
            return
        if getattr(usage, "input_tokens", None) is not None:
            self.input_tokens = usage.input_tokens
        if getattr(usage, "output_tokens", None) is not None:
            self.output_tokens = usage.output_tokens
        if getattr(usage, "cache_read_input_tokens", None) is not None:
            self.cache_read = usage.cache_read_input_tokens
        if getattr(usage, "cache_creation_input_tokens", None) is not None:
            self.cache_write = usage.cache_creation_input_tokens

    def content_blocks(self) -> list[dict[str, Any]]:
        """The reply's content array in the form the API takes it back."""
        content = []
        for _, block in sorted(self.blocks.items()):
            if isinstance(block, _ToolBlock):
                content.append(
                    {
                        "type": "tool_use",
                        "id": block.id,
                        "name": block.name,
                        "input": block.arguments(),
                    }
                )
            elif block.get("type") != "text" or block["text"]:
                content.append(dict(block))
        return content

    def response(self) -> ModelResponse:
        calls = tuple(
            ToolCall(id=block.id, name=block.name, arguments=block.arguments())
            for _, block in sorted(self.blocks.items())
            if isinstance(block, _ToolBlock)
        )
        usage = Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read,
            cache_write_tokens=self.cache_write,
            cost_usd=cost_usd(
                self.model,
                input_tokens=self.input_tokens,
                output_tokens=self.output_tokens,
                cache_read_tokens=self.cache_read,
                cache_write_tokens=self.cache_write,
                prices=self.prices,
                requested=self.requested,
            ),
        )
        return ModelResponse(
            text="".join(self.text),
            tool_calls=calls,
            usage=usage,
            stop_reason=self.stop_reason or ("tool_use" if calls else "end_turn"),
            provider_content=tuple(self.content_blocks()) if self.has_thinking else None,
        )
