"""Helpers shared by the HTTP providers; no SDK is imported here.

Kept apart from the provider modules so that using one provider never imports the
other's SDK. Their errors are mapped in `providers/errors.py`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from harness_tui.providers.base import ProviderError

_T = TypeVar("_T")

# Sent when a custom base URL (a proxy, a local server, a loopback test server) is
# configured but no key is: the SDKs refuse to send a request without credentials.
PLACEHOLDER_KEY = "harness-tui-no-key"


def parse_arguments(raw: str, initial: Any = None) -> dict[str, Any]:
    """Tool-call arguments streamed as JSON text → the arguments object."""
    if not raw.strip():
        return dict(initial) if isinstance(initial, Mapping) else {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        # Models do emit broken JSON (cut off by max_tokens, or simply malformed). Keep
        # the raw text so the tool can answer with a readable error the model can fix,
        # instead of the whole turn failing here.
        return {"_raw": raw}
    return value


def host_label(url: Any) -> str:
    """host:port of the SDK client's base URL, for error messages."""
    return f"{url.host}:{url.port}" if url.port else str(url.host)


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long one model request may take.

    `total_s` runs from sending the request to its last event, however busy the stream
    is; `idle_s` between two events the SDK hands over (and from sending the request to
    the first one). Keep-alives (Anthropic's `event: ping`, SSE comment lines such as
    `: keep-alive`) never reach us as events, so they do not reset the idle deadline: a
    server that only says it is alive is as stuck as one that says nothing.
    """

    total_s: float = 300.0
    idle_s: float = 120.0


class RequestClock:
    """Enforces `Deadlines` on one request: every wait on the server goes through
    `wait` (sending it) or `events` (reading its stream)."""

    def __init__(self, deadlines: Deadlines, prefix: str) -> None:
        self._deadlines = deadlines
        self._prefix = prefix
        self._loop = asyncio.get_running_loop()
        self._start = self._last = self._loop.time()
        # The response headers are in: what fails from now on fails mid-stream.
        self.responded = False

    async def wait(self, awaitable: Awaitable[_T]) -> _T:
        """`awaitable`'s result, or ProviderError when a deadline passes first."""
        idle_at = self._last + self._deadlines.idle_s
        total_at = self._start + self._deadlines.total_s
        timeout = asyncio.timeout_at(min(idle_at, total_at))
        try:
            async with timeout:
                return await awaitable
        except TimeoutError:
            if not timeout.expired():
                raise
            raise self._expired(total=total_at <= idle_at) from None

    async def events(self, stream: AsyncIterable[_T]) -> AsyncGenerator[_T, None]:
        """The SDK's stream events, each within the deadlines. Bytes the SDK cannot
        parse (not JSON, not UTF-8, not the shape of an event) are the server's fault
        and usually a one-off (a proxy's truncated buffer), so they are retryable."""
        iterator = aiter(stream)
        while True:
            try:
                event = await self.wait(anext(iterator))
            except StopAsyncIteration:
                return
            except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, validation
                raise ProviderError(
                    f"{self._prefix}: the model server sent malformed data: {_malformed(err)}",
                    retryable=True,
                ) from err
            self._last = self._loop.time()
            yield event

    def _expired(self, *, total: bool) -> ProviderError:
        if total:
            what = (
                f"no complete reply within {self._deadlines.total_s:g} s "
                "([provider] request_timeout_s)"
            )
        elif self.responded:
            what = (
                f"no data from the model server for {self._deadlines.idle_s:g} s "
                "([provider] idle_timeout_s)"
            )
        else:
            what = (
                f"no response from the model server within {self._deadlines.idle_s:g} s "
                "([provider] idle_timeout_s)"
            )
        return ProviderError(f"{self._prefix}: {what}", retryable=True)


def _malformed(err: ValueError) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"invalid JSON in an event ({err})"
    if isinstance(err, UnicodeDecodeError):
        return "bytes that are not UTF-8"
    text = " ".join(str(err).split())
    return text[:200] + "…" if len(text) > 200 else text or type(err).__name__
