"""GPT models through Chat Completions, streamed, with tools.

Also the way to OpenAI-compatible servers (Ollama, vLLM, LM Studio, proxies): point
`base_url` at them. `import openai` below is the SDK: with absolute imports this
module (`harness_tui.providers.openai`) never shadows it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import openai

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
from harness_tui.providers.errors import body_message, provider_error, sdk_exceptions
from harness_tui.providers.pricing import ModelPrice, cost_usd

DEFAULT_MODEL = "gpt-5.5"

# finish_reason in the stop_reason vocabulary the rest of the harness uses, so the
# loop and the event log read the same whichever provider ran.
_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = DEFAULT_MODEL,
        timeout_s: float = 300.0,
        idle_timeout_s: float = 120.0,
        prices: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        base_url = base_url or None
        custom_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not api_key and not os.environ.get("OPENAI_API_KEY") and custom_url:
            # Ollama and vLLM need no key, but the SDK will not start without one.
            api_key = PLACEHOLDER_KEY
        try:
            # No SDK retries: the engine's loop retries so that every attempt is an event.
            self._client = openai.AsyncOpenAI(
                api_key=api_key or None, base_url=base_url, max_retries=0, timeout=timeout_s
            )
        except openai.OpenAIError as err:
            raise ProviderError(
                "openai: no API key: set OPENAI_API_KEY, or a base_url for a local server",
                retryable=False,
            ) from err
        self.default_model = model or DEFAULT_MODEL
        # Enforced by a RequestClock per request; the SDK's own timeout (the total) is
        # only a backstop: its read timeout restarts with every byte, keep-alives too.
        self.deadlines = Deadlines(total_s=timeout_s, idle_s=idle_timeout_s)
        self.prices: Mapping[str, ModelPrice] = prices or {}
        self.host = host_label(self._client.base_url)
        self._prefix = f"openai ({self.host})"
        # api.openai.com wants max_completion_tokens (its reasoning models reject
        # max_tokens); compatible servers are surest to understand the older name.
        self._token_param = (
            "max_completion_tokens"
            if self._client.base_url.host == "api.openai.com"
            else "max_tokens"
        )

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamItem]:
        model = request.model or self.default_model
        state = _StreamState(model=model, requested=model, prices=self.prices)
        clock = RequestClock(self.deadlines, self._prefix)
        try:
            chunks = await clock.wait(
                self._client.chat.completions.create(
                    **self._params(request, model),
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            clock.responded = True
            async with chunks, aclosing(clock.events(chunks)) as timed:
                async for chunk in timed:
                    text = state.apply(chunk)
                    if text:
                        yield TextDelta(text)
        except sdk_exceptions(openai) as err:
            raise provider_error(
                err,
                sdk=openai,
                prefix=self._prefix,
                started=clock.responded,
                in_stream=self._in_stream_error,
                timeout_s=self.deadlines.total_s,
            ) from err
        if state.finish_reason is None:
            raise ProviderError(
                f"{self._prefix}: stream ended without a finish_reason", retryable=True
            )
        yield state.response()

    def _params(self, request: ModelRequest, model: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": model,
            "messages": convert_messages(request.system, request.messages),
            self._token_param: request.max_tokens,
        }
        if request.tools:
            params["tools"] = convert_tools(request.tools)
        return params

    def _in_stream_error(self, err: openai.APIError) -> ProviderError:
        # An error object sent inside an already-started stream: the server gave up
        # part-way, which another attempt usually gets past.
        message = body_message(err.body) or err.message
        return ProviderError(f"{self._prefix}: error mid-stream: {message}", retryable=True)


def convert_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def convert_messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    if system:
        converted.append({"role": "system", "content": system})
    for message in messages:
        if message.role == "user":
            converted.append({"role": "user", "content": message.content})
        elif message.role == "tool":
            content = message.content
            if message.is_error:
                # Chat Completions has no error flag on a tool result; the model can only
                # tell a failure from the text.
                content = f"Error: {content}"
            converted.append(
                {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": content}
            )
        else:
            turn: dict[str, Any] = {"role": "assistant", "content": message.content or None}
            if message.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in message.tool_calls
                ]
            elif not message.content:
                turn["content"] = ""
            converted.append(turn)
    return converted


@dataclass
class _PartialCall:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _StreamState:
    """Folds the streamed chunks into one response."""

    model: str
    # The model name the request asked for, and the configured prices: see cost_usd.
    requested: str = ""
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Any = None

    def apply(self, chunk: Any) -> str:
        """Take one chunk in; return the text it adds, if any."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        if getattr(chunk, "model", None):
            self.model = chunk.model
        added = []
        for choice in chunk.choices or ():
            if choice.index not in (0, None):
                continue
            delta = choice.delta
            if delta is not None:
                if delta.content:
                    self.text.append(delta.content)
                    added.append(delta.content)
                for position, piece in enumerate(delta.tool_calls or ()):
                    # The id and name come in the first delta of a call, its arguments
                    # spread over the ones after it; `index` says which call each
                    # belongs to. A server that leaves out `index` sends whole calls.
                    index = piece.index if piece.index is not None else len(self.calls) + position
                    call = self.calls.setdefault(index, _PartialCall())
                    if piece.id:
                        call.id = piece.id
                    if piece.function is not None:
                        if piece.function.name:
                            call.name = piece.function.name
                        if piece.function.arguments:
                            call.arguments.append(piece.function.arguments)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return "".join(added)

    def response(self) -> ModelResponse:
        calls = tuple(
            ToolCall(
                # Some compatible servers send no ids; the loop needs one to pair results.
                id=call.id or f"call_{uuid.uuid4().hex[:24]}",
                name=call.name,
                arguments=parse_arguments("".join(call.arguments)),
            )
            for _, call in sorted(self.calls.items())
        )
        prompt = completion = cached = 0
        if self.usage is not None:
            prompt = self.usage.prompt_tokens or 0
            completion = self.usage.completion_tokens or 0
            details = getattr(self.usage, "prompt_tokens_details", None)
            cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
        # prompt_tokens includes the cached ones; split them out so input_tokens means
        # the same (uncached input) as it does for Anthropic.
        input_tokens = max(0, prompt - cached)
        usage = Usage(
            input_tokens=input_tokens,
            output_tokens=completion,
            cache_read_tokens=cached,
            # A server that reports no usage has no known cost either.
            cost_usd=None
            if self.usage is None
            else cost_usd(
                self.model,
                input_tokens=input_tokens,
                output_tokens=completion,
                cache_read_tokens=cached,
                prices=self.prices,
                requested=self.requested,
            ),
        )
        reason = self.finish_reason or "stop"
        return ModelResponse(
            text="".join(self.text),
            tool_calls=calls,
            usage=usage,
            stop_reason=_STOP_REASONS.get(reason, reason),
        )
