"""The HTTP provider contract, written once and run against each wire protocol.

A provider's test module subclasses `ProviderContract`, sets the class attributes it
declares, and provides a `connect` fixture: `connect(server, **options)` returns a
provider of that class pointed at the loopback server (closed after the test). The
real SDK talks to a loopback server speaking the protocol (`tests/support/loopback.py`);
nothing is mocked.

What only one protocol has (thinking blocks, prompt caching, how a request is
converted, where keys and URLs come from) stays in that protocol's test module.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness_tui.providers.base import (
    Message,
    ModelRequest,
    ModelResponse,
    Provider,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from harness_tui.providers.pricing import cost_usd
from tests.support.loopback import (
    AnyReply,
    ErrorReply,
    LoopbackAnthropic,
    LoopbackOpenAI,
    LoopbackServer,
    Malformed,
    Reply,
    Stall,
    StreamError,
)

SYSTEM = "You are a careful coding agent."
READ_FILE = ToolSpec(
    "read_file",
    "Read a file of the workspace.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
BASH = ToolSpec(
    "bash",
    "Run a shell command.",
    {"type": "object", "properties": {"command": {"type": "string"}}},
)

Connect = Callable[..., Provider]


def request(*messages: Message, model: str) -> ModelRequest:
    return ModelRequest(
        model=model,
        system=SYSTEM,
        messages=messages or (Message("user", "fix the failing test"),),
        tools=(READ_FILE, BASH),
        max_tokens=2048,
    )


async def collect(provider: Provider, req: ModelRequest) -> tuple[list[str], ModelResponse]:
    deltas, responses = [], []
    async for item in provider.stream(req):
        if isinstance(item, TextDelta):
            deltas.append(item.text)
        else:
            responses.append(item)
    assert len(responses) == 1, "a stream ends with exactly one ModelResponse"
    return deltas, responses[0]


@asynccontextmanager
async def connecting(provider_class: Any, api_key: str) -> AsyncIterator[Connect]:
    """What a `connect` fixture yields: a factory of providers aimed at a loopback server."""
    providers: list[Provider] = []

    def make(server: LoopbackServer, **options: Any) -> Provider:
        provider: Provider = provider_class(
            api_key=options.pop("api_key", api_key), base_url=server.base_url, **options
        )
        providers.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in providers:
            await provider.aclose()


class ProviderContract:
    # The provider's name, which starts every error message: "anthropic (host:port): …".
    protocol: ClassVar[str]
    provider_class: ClassVar[Any]
    server_class: ClassVar[type[LoopbackAnthropic] | type[LoopbackOpenAI]]
    # A model the price table knows, so a cost is computed.
    model: ClassVar[str]
    # Tool call ids the loopback server gives: f"{call_id_prefix}_loopback_{reply}_{n}".
    call_id_prefix: ClassVar[str]
    # What the SDK's base URL ends with (the OpenAI SDK wants the /v1 in it).
    api_root: ClassVar[str] = ""
    # The protocol reports tokens written to the prompt cache (Chat Completions does not).
    reports_cache_writes: ClassVar[bool]
    # The servers' own words, as each API phrases them.
    rate_limit_message: ClassVar[str]
    bad_key_message: ClassVar[str]
    # An overload reported inside a stream that had already started, in the protocol's
    # own error vocabulary.
    overloaded_in_stream: ClassVar[StreamError]
    # The keep-alives the protocol's servers send while a reply is slow (None: silence).
    keepalives: ClassVar[tuple[str | None, ...]] = (None, "comment")

    def clear_credentials(self, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
        """Leave no key anywhere the SDK looks; the environment's key is gone already."""

    def request(self, *messages: Message, model: str | None = None) -> ModelRequest:
        return request(*messages, model=model or self.model)

    def call_id(self, reply: int, index: int) -> str:
        return f"{self.call_id_prefix}_loopback_{reply}_{index}"

    async def test_streamed_text_and_tool_calls_with_split_arguments(
        self, connect: Connect
    ) -> None:
        read_args = {"path": "src/calc.py", "lines": [1, 40], "note": 'quotes " and \\ survive'}
        bash_args = {"command": "python -m pytest -q tests/test_calc.py"}
        usage = {
            "input_tokens": 1200,
            "output_tokens": 80,
            "cache_read_tokens": 1000,
            "cache_write_tokens": 200,
        }
        reply = Reply(
            "Reading the module and running the tests.",
            [("read_file", read_args), ("bash", bash_args)],
            usage=usage,
        )
        with self.server_class([reply]) as server:
            deltas, response = await collect(connect(server), self.request())

        assert len(deltas) > 1, "text arrives as it streams, not in one piece"
        assert "".join(deltas) == "Reading the module and running the tests." == response.text
        assert response.tool_calls == (
            ToolCall(self.call_id(1, 0), "read_file", read_args),
            ToolCall(self.call_id(1, 1), "bash", bash_args),
        )
        assert response.stop_reason == "tool_use"
        # Input tokens are the uncached ones, whether or not the protocol counts the
        # cached ones inside its prompt total (OpenAI does).
        assert response.usage.input_tokens == 1200
        assert response.usage.output_tokens == 80
        assert response.usage.cache_read_tokens == 1000
        cache_write = 200 if self.reports_cache_writes else 0
        assert response.usage.cache_write_tokens == cache_write
        expected = cost_usd(
            self.model,
            input_tokens=1200,
            output_tokens=80,
            cache_read_tokens=1000,
            cache_write_tokens=cache_write,
        )
        assert expected is not None and response.usage.cost_usd == pytest.approx(expected)

    async def test_plain_answer_ends_the_turn(self, connect: Connect) -> None:
        with self.server_class([Reply("All tests pass.")]) as server:
            _, response = await collect(connect(server), self.request())
        assert response.tool_calls == ()
        assert response.stop_reason == "end_turn"

    async def test_rate_limit_is_retryable_with_retry_after_and_the_next_request_succeeds(
        self, connect: Connect
    ) -> None:
        replies: list[AnyReply] = [
            ErrorReply(429, self.rate_limit_message, {"retry-after": "7"}),
            Reply("Recovered."),
        ]
        with self.server_class(replies) as server:
            provider = connect(server)
            with pytest.raises(ProviderError) as failed:
                await collect(provider, self.request())
            _, response = await collect(provider, self.request())

        error = failed.value
        assert error.retryable is True
        assert error.status == 429
        assert error.retry_after == 7.0
        assert str(error) == f"{self.protocol} ({server.host}): 429 {self.rate_limit_message}"
        assert response.text == "Recovered."
        assert len(server.requests) == 2, "the SDK must not retry on its own"

    @pytest.mark.parametrize(
        ("status", "headers", "retry_after"),
        [
            (500, {}, None),
            (502, {"retry-after-ms": "250"}, 0.25),
            (503, {"retry-after": "0"}, 0.0),
            (503, {"retry-after": "12"}, 12.0),
            (529, {"retry-after-ms": "1500"}, 1.5),
            (408, {}, None),
            (409, {}, None),
        ],
    )
    async def test_server_side_failures_are_retryable(
        self,
        connect: Connect,
        status: int,
        headers: dict[str, str],
        retry_after: float | None,
    ) -> None:
        with self.server_class([ErrorReply(status, "try again later", headers)]) as server:
            with pytest.raises(ProviderError) as failed:
                await collect(connect(server), self.request())
        assert failed.value.retryable is True
        assert failed.value.status == status
        assert failed.value.retry_after == retry_after

    async def test_retry_after_as_an_http_date(self, connect: Connect) -> None:
        headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
        with self.server_class([ErrorReply(429, "slow down", headers)]) as server:
            with pytest.raises(ProviderError) as failed:
                await collect(connect(server), self.request())
        # A date already past means "now".
        assert failed.value.retry_after == 0.0

    async def test_bad_key_is_not_retryable_and_keeps_the_servers_message(
        self, connect: Connect
    ) -> None:
        with self.server_class([ErrorReply(401, self.bad_key_message)]) as server:
            with pytest.raises(ProviderError) as failed:
                await collect(connect(server), self.request())
        assert failed.value.retryable is False
        assert failed.value.status == 401
        assert str(failed.value) == f"{self.protocol} ({server.host}): 401 {self.bad_key_message}"

    @pytest.mark.parametrize("status", [400, 403, 404, 413, 422])
    async def test_client_errors_are_not_retryable(self, connect: Connect, status: int) -> None:
        message = f"messages.0: problem number {status}"
        with self.server_class([ErrorReply(status, message)]) as server:
            with pytest.raises(ProviderError) as failed:
                await collect(connect(server), self.request())
        assert failed.value.retryable is False
        assert failed.value.status == status
        assert message in str(failed.value)

    async def test_connection_dropped_mid_stream_is_retryable(self, connect: Connect) -> None:
        replies = [Reply("This answer is cut off somewhere in the middle", disconnect_after=3)]
        with self.server_class(replies) as server:
            provider = connect(server)
            with pytest.raises(ProviderError) as failed:
                await collect(provider, self.request())
            _, response = await collect(provider, self.request())
        assert failed.value.retryable is True
        assert str(failed.value) == (
            f"{server.protocol} ({server.host}): the model server closed the connection mid-stream"
        )
        assert response.text == "Done.", "the provider is usable after the drop"

    async def test_connection_reset_mid_stream_is_retryable(self, connect: Connect) -> None:
        with self.server_class([Reply("This answer is cut off", reset_after=3)]) as server:
            provider = connect(server)
            with pytest.raises(ProviderError) as failed:
                await collect(provider, self.request())
            _, response = await collect(provider, self.request())
        assert failed.value.retryable is True
        assert str(failed.value) == (
            f"{server.protocol} ({server.host}): the model server reset the connection mid-stream"
        )
        assert response.text == "Done.", "the provider is usable after the reset"

    async def test_a_server_that_never_answers_meets_the_idle_deadline(
        self, connect: Connect
    ) -> None:
        with self.server_class([Stall(after_events=None)]) as server:
            provider = connect(server, timeout_s=30, idle_timeout_s=0.3)
            with pytest.raises(ProviderError) as failed:
                await collect(provider, self.request())
        assert failed.value.retryable is True
        assert str(failed.value) == (
            f"{server.protocol} ({server.host}): no response from the model server within "
            "0.3 s ([provider] idle_timeout_s)"
        )

    @pytest.mark.parametrize("keepalive", [None, "ping", "comment"])
    async def test_keep_alives_do_not_reset_the_idle_deadline(
        self, connect: Connect, keepalive: str | None
    ) -> None:
        if keepalive not in self.keepalives:
            pytest.skip(f"{self.protocol} servers do not send {keepalive} keep-alives")
        replies = [Stall(after_events=2, keepalive=keepalive), Reply("Back.")]
        with self.server_class(replies) as server:
            provider = connect(server, timeout_s=30, idle_timeout_s=2)
            with pytest.raises(ProviderError) as failed:
                await collect(provider, self.request())
            _, response = await collect(provider, self.request())
        assert failed.value.retryable is True
        assert str(failed.value) == (
            f"{server.protocol} ({server.host}): no data from the model server for 2 s "
            "([provider] idle_timeout_s)"
        )
        assert response.text == "Back.", "the provider is usable after the timeout"

    async def test_a_reply_that_never_ends_meets_the_total_deadline(self, connect: Connect) -> None:
        """Text every 50 ms keeps the idle deadline at bay; the total one still holds."""
        with self.server_class([Stall(after_events=3, keepalive="text")]) as server:
            provider = connect(server, timeout_s=1, idle_timeout_s=0.5)
            deltas: list[str] = []
            with pytest.raises(ProviderError) as failed:
                async for item in provider.stream(self.request()):
                    if isinstance(item, TextDelta):
                        deltas.append(item.text)
        assert failed.value.retryable is True
        assert str(failed.value) == (
            f"{server.protocol} ({server.host}): no complete reply within 1 s "
            "([provider] request_timeout_s)"
        )
        assert len(deltas) > 1, "the text streamed until the deadline"

    async def test_malformed_event_is_retryable(self, connect: Connect) -> None:
        with self.server_class([Malformed(data="{not json"), Reply("Clean.")]) as server:
            provider = connect(server)
            with pytest.raises(ProviderError) as failed:
                await collect(provider, self.request())
            _, response = await collect(provider, self.request())
        assert failed.value.retryable is True
        assert str(failed.value) == (
            f"{server.protocol} ({server.host}): the model server sent malformed data: invalid "
            "JSON in an event (Expecting property name enclosed in double quotes: line 1 "
            "column 2 (char 1))"
        )
        assert response.text == "Clean.", "the provider is usable after the bad stream"

    async def test_overload_inside_the_stream_is_retryable(self, connect: Connect) -> None:
        with self.server_class([self.overloaded_in_stream]) as server:
            with pytest.raises(ProviderError) as failed:
                await collect(connect(server), self.request())
        assert failed.value.retryable is True
        assert self.overloaded_in_stream.message in str(failed.value)

    async def test_unreachable_server_is_retryable_and_names_the_host(self) -> None:
        with socket.socket() as closed:
            # Bound but not listening: connecting is refused.
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
            provider = self.provider_class(
                api_key="k", base_url=f"http://127.0.0.1:{port}{self.api_root}"
            )
            try:
                with pytest.raises(ProviderError) as failed:
                    await collect(provider, self.request())
            finally:
                await provider.aclose()
        assert failed.value.retryable is True
        assert str(failed.value).startswith(
            f"{self.protocol} (127.0.0.1:{port}): connection failed"
        )

    async def test_invalid_json_arguments_are_kept_raw(self, connect: Connect) -> None:
        broken = '{"command": "ls -la'
        with self.server_class([Reply(tool_calls=[("bash", broken)])]) as server:
            _, response = await collect(connect(server), self.request())
        assert response.tool_calls == (ToolCall(self.call_id(1, 0), "bash", {"_raw": broken}),)

    async def test_unknown_model_has_no_cost(self, connect: Connect) -> None:
        reply = Reply("hi", usage={"input_tokens": 50, "output_tokens": 5})
        with self.server_class([reply]) as server:
            _, response = await collect(connect(server), self.request(model="llama3.1:8b"))
        assert response.usage.input_tokens == 50
        assert response.usage.cost_usd is None

    async def test_custom_base_url_needs_no_key(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        self.clear_credentials(monkeypatch, tmp_path)
        with self.server_class([Reply("no key needed")]) as server:
            provider = self.provider_class(api_key=None, base_url=server.base_url)
            try:
                _, response = await collect(provider, self.request())
            finally:
                await provider.aclose()
        assert response.text == "no key needed"
