"""The model call of a turn: build the request from the session's state, stream it
(text deltas go out live), retry transient failures with backoff, each attempt on the
record, and stop the turn when the budget is spent or the circuit breaker opens."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any, cast

from harness_tui import events as ev
from harness_tui.engine.context import EngineContext
from harness_tui.engine.writer import SessionWriter
from harness_tui.providers.base import (
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    StreamItem,
    TextDelta,
)


class TurnEnded(Exception):
    """Ends a turn early with a reason from the vocabulary and a message."""

    def __init__(self, reason: str, error: str | None = None) -> None:
        super().__init__(error or reason)
        self.reason = reason
        self.error = error


class ModelCall:
    """One session's requests to its provider."""

    def __init__(
        self, ctx: EngineContext, writer: SessionWriter, provider: Provider | None
    ) -> None:
        self.ctx = ctx
        self.writer = writer
        # None for a session taken over only to be recovered: the engine gives it one
        # before it runs a turn.
        self.provider = provider
        # Consecutive failed model requests, across turns; reset by a success.
        self._failures = 0

    def build_request(self) -> ModelRequest:
        state = self.writer.state
        return ModelRequest(
            model=state.model,
            system=self.ctx.system_prompt(state),
            messages=tuple(state.messages),
            tools=self.ctx.tool_specs(state),
            max_tokens=self.ctx.config.provider.max_tokens,
        )

    def check_budget(self) -> None:
        """Raise TurnEnded("budget") once the session spent its tokens or money."""
        state = self.writer.state
        limits = self.ctx.config.engine
        if limits.max_total_tokens and state.total_tokens >= limits.max_total_tokens:
            raise TurnEnded(
                "budget",
                f"token budget reached: {state.total_tokens} of {limits.max_total_tokens}",
            )
        if limits.max_cost_usd and state.uncosted_replies and state.provider != "scripted":
            # Counting them as $0 would let the budget fail open.
            raise TurnEnded(
                "budget",
                f"cost budget cannot be enforced: {state.uncosted_replies} of {state.model}'s "
                "replies came without a cost (the server reported no token usage)",
            )
        if limits.max_cost_usd and state.cost_usd >= limits.max_cost_usd:
            raise TurnEnded(
                "budget",
                f"cost budget reached: ${state.cost_usd:.4f} of ${limits.max_cost_usd:.4f}",
            )

    async def request(self) -> ModelResponse:
        """The model's reply to the conversation so far; raises TurnEnded("failed")
        when retries run out or the circuit breaker opens."""
        settings = self.ctx.config.provider
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self.stream(self.build_request())
            except ProviderError as exc:
                self._failures += 1
                breaker_open = self._failures >= settings.circuit_breaker_failures
                retry = exc.retryable and attempt <= settings.max_retries and not breaker_open
                # `retryable` says what kind of failure it was; `will_retry` whether
                # another attempt follows, which the last retryable one does not.
                failure: dict[str, Any] = {
                    "error": str(exc),
                    "retryable": exc.retryable,
                    "will_retry": retry,
                    "attempt": attempt,
                }
                if exc.status is not None:
                    failure["status"] = exc.status
                if breaker_open:
                    failure["circuit_open"] = True
                await self.writer.emit(ev.MODEL_FAILED, failure)
                if breaker_open:
                    raise TurnEnded(
                        "failed",
                        f"circuit breaker open after {self._failures} consecutive failed "
                        f"requests: {exc}",
                    ) from exc
                if not retry:
                    error = str(exc)
                    if exc.retryable:
                        tries = "attempt" if attempt == 1 else "attempts"
                        error = f"{error} (gave up after {attempt} {tries})"
                    raise TurnEnded("failed", error) from exc
                await asyncio.sleep(self._backoff(attempt, exc.retry_after))
                continue
            self._failures = 0
            return response

    async def stream(self, request: ModelRequest) -> ModelResponse:
        """One attempt, its text published live as it streams."""
        response: ModelResponse | None = None
        if self.provider is None:
            raise ProviderError("no model provider for this session", retryable=False)
        # Every provider's stream is an async generator; closing it ends the request.
        items = cast("AsyncGenerator[StreamItem, None]", self.provider.stream(request))
        async with aclosing(items) as stream:
            async for item in stream:
                if isinstance(item, TextDelta):
                    self.ctx.publish_delta(self.writer.session_id, "text", item.text)
                else:
                    response = item
        if response is None:
            raise ProviderError(
                f"{self.provider.name}: the stream ended without a response", retryable=True
            )
        return response

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        settings = self.ctx.config.provider
        if retry_after is not None:
            # The server said when; waiting less only earns another 429.
            return min(retry_after, settings.retry_max_delay_s * 10)
        ceiling = min(settings.retry_max_delay_s, settings.retry_base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)
