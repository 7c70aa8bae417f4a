"""The Anthropic provider driving the real SDK against a loopback Messages API server."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from harness_tui.providers.anthropic import AnthropicProvider
from harness_tui.providers.base import (
    Message,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from harness_tui.providers.pricing import cost_usd
from tests.support.loopback import ErrorReply, LoopbackAnthropic, Reply, StreamError

MODEL = "claude-sonnet-5-5"
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


def request(*messages: Message, tools=(READ_FILE, BASH), model: str = MODEL) -> ModelRequest:
    return ModelRequest(
        model=model,
        system=SYSTEM,
        messages=messages or (Message("user", "fix the failing test"),),
        tools=tools,
        max_tokens=2048,
    )


async def collect(provider, req):
    deltas, responses = [], []
    async for item in provider.stream(req):
        (deltas if isinstance(item, TextDelta) else responses).append(item)
    assert len(responses) == 1, "a stream ends with exactly one ModelResponse"
    return [d.text for d in deltas], responses[0]


@pytest.fixture
async def connect():
    providers = []

    def make(server, **kwargs):
        provider = AnthropicProvider(
            api_key=kwargs.pop("api_key", "test-key"), base_url=server.base_url, **kwargs
        )
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        await provider.aclose()


async def test_streamed_text_and_tool_call_with_split_arguments(connect):
    arguments = {"path": "src/calc.py", "lines": [1, 40], "note": 'quotes " and \\ survive'}
    usage = {
        "input_tokens": 1200,
        "output_tokens": 80,
        "cache_read_tokens": 1000,
        "cache_write_tokens": 200,
    }
    reply = Reply("Let me read the module first.", [("read_file", arguments)], usage=usage)
    with LoopbackAnthropic([reply]) as server:
        deltas, response = await collect(connect(server), request())

    assert len(deltas) > 1, "text arrives as it streams, not in one piece"
    assert "".join(deltas) == "Let me read the module first." == response.text
    assert response.tool_calls == (ToolCall("toolu_loopback_1_0", "read_file", arguments),)
    assert response.stop_reason == "tool_use"
    assert response.usage.input_tokens == 1200
    assert response.usage.output_tokens == 80
    assert response.usage.cache_read_tokens == 1000
    assert response.usage.cache_write_tokens == 200
    expected = cost_usd(
        MODEL, input_tokens=1200, output_tokens=80, cache_read_tokens=1000, cache_write_tokens=200
    )
    assert expected is not None and response.usage.cost_usd == pytest.approx(expected)


def test_loopback_splits_tool_input_over_several_deltas():
    """The wire really carries the arguments in pieces, so the test above proves the
    provider joins them."""
    body = json.dumps({"model": MODEL, "max_tokens": 10, "messages": [], "stream": True})
    with LoopbackAnthropic([Reply(tool_calls=[("bash", {"command": "pytest -q"})])]) as server:
        post = urllib.request.Request(
            f"{server.base_url}/v1/messages", data=body.encode(), method="POST"
        )
        with urllib.request.urlopen(post, timeout=10) as answer:
            raw = answer.read().decode()
    pieces = [
        json.loads(line[len("data: ") :])["delta"]["partial_json"]
        for line in raw.splitlines()
        if line.startswith("data: ") and "input_json_delta" in line
    ]
    assert len([p for p in pieces if p]) >= 3
    assert json.loads("".join(pieces)) == {"command": "pytest -q"}


async def test_request_has_cached_system_and_tools_and_converted_tool_results(connect):
    history = (
        Message("user", "fix the failing test"),
        Message(
            "assistant",
            "Looking around.",
            tool_calls=(
                ToolCall("toolu_a", "read_file", {"path": "calc.py"}),
                ToolCall("toolu_b", "bash", {"command": "pytest -q"}),
            ),
        ),
        Message("tool", "def mean(xs): ...", tool_call_id="toolu_a"),
        Message("tool", "exit 1: 1 failed", tool_call_id="toolu_b", is_error=True),
        Message("user", "also check the README"),
    )
    with LoopbackAnthropic() as server:
        await collect(connect(server), request(*history, model="claude-some-future-model"))
    sent = server.requests[0]

    assert sent.path == "/v1/messages"
    assert sent.headers["anthropic-version"]
    body = sent.body
    assert body["model"] == "claude-some-future-model", "any model name passes through"
    assert body["stream"] is True
    assert body["max_tokens"] == 2048
    assert body["system"] == [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    assert [t["name"] for t in body["tools"]] == ["read_file", "bash"]
    assert body["tools"][0]["input_schema"] == READ_FILE.parameters
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}

    user, assistant, results = body["messages"]
    assert user == {"role": "user", "content": [{"type": "text", "text": "fix the failing test"}]}
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Looking around."},
            {
                "type": "tool_use",
                "id": "toolu_a",
                "name": "read_file",
                "input": {"path": "calc.py"},
            },
            {
                "type": "tool_use",
                "id": "toolu_b",
                "name": "bash",
                "input": {"command": "pytest -q"},
            },
        ],
    }
    # Both results in one user turn, before the steering text that came after them.
    assert results["role"] == "user"
    assert results["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_a",
            "content": "def mean(xs): ...",
            "is_error": False,
        },
        {
            "type": "tool_result",
            "tool_use_id": "toolu_b",
            "content": "exit 1: 1 failed",
            "is_error": True,
        },
        {
            "type": "text",
            "text": "also check the README",
            "cache_control": {"type": "ephemeral"},
        },
    ]


async def test_prompt_caching_off_sends_no_cache_control(connect):
    with LoopbackAnthropic() as server:
        await collect(connect(server, prompt_caching=False), request())
    assert "cache_control" not in json.dumps(server.requests[0].body)
    assert server.requests[0].body["system"] == [{"type": "text", "text": SYSTEM}]


async def test_rate_limit_is_retryable_with_retry_after_and_the_next_request_succeeds(connect):
    replies = [
        ErrorReply(
            429, "Number of request tokens has exceeded your rate limit", {"retry-after": "7"}
        ),
        Reply("Recovered."),
    ]
    with LoopbackAnthropic(replies) as server:
        provider = connect(server)
        with pytest.raises(ProviderError) as failed:
            await collect(provider, request())
        _, response = await collect(provider, request())

    error = failed.value
    assert error.retryable is True
    assert error.status == 429
    assert error.retry_after == 7.0
    assert str(error) == (
        f"anthropic ({server.host}): 429 Number of request tokens has exceeded your rate limit"
    )
    assert response.text == "Recovered."
    assert len(server.requests) == 2, "the SDK must not retry on its own"


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (500, {}, None),
        (503, {"retry-after": "0"}, 0.0),
        (529, {"retry-after-ms": "1500"}, 1.5),
        (408, {}, None),
        (409, {}, None),
    ],
)
async def test_server_side_failures_are_retryable(connect, status, headers, retry_after):
    with LoopbackAnthropic([ErrorReply(status, "try again later", headers)]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is True
    assert failed.value.status == status
    assert failed.value.retry_after == retry_after


async def test_retry_after_as_an_http_date(connect):
    headers = {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
    with LoopbackAnthropic([ErrorReply(429, "slow down", headers)]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    # A date already past means "now".
    assert failed.value.retry_after == 0.0


async def test_bad_key_is_not_retryable_and_keeps_the_servers_message(connect):
    with LoopbackAnthropic([ErrorReply(401, "invalid x-api-key")]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is False
    assert failed.value.status == 401
    assert str(failed.value) == f"anthropic ({server.host}): 401 invalid x-api-key"


@pytest.mark.parametrize("status", [400, 403, 404, 413, 422])
async def test_client_errors_are_not_retryable(connect, status):
    message = f"messages.0: problem number {status}"
    with LoopbackAnthropic([ErrorReply(status, message)]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is False
    assert failed.value.status == status
    assert message in str(failed.value)


async def test_connection_dropped_mid_stream_is_retryable(connect):
    replies = [Reply("This answer is cut off somewhere in the middle", disconnect_after=5)]
    with LoopbackAnthropic(replies) as server:
        provider = connect(server)
        with pytest.raises(ProviderError) as failed:
            await collect(provider, request())
        _, response = await collect(provider, request())
    assert failed.value.retryable is True
    assert str(failed.value).startswith(f"{server.protocol} ({server.host}): connection lost")
    assert response.text == "Done.", "the provider is usable after the drop"


async def test_overloaded_error_inside_the_stream_is_retryable(connect):
    with LoopbackAnthropic([StreamError("Overloaded", "overloaded_error")]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is True
    assert "Overloaded" in str(failed.value)


async def test_invalid_request_inside_the_stream_is_not_retryable(connect):
    error = StreamError("prompt is too long", "invalid_request_error")
    with LoopbackAnthropic([error]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is False
    assert "prompt is too long" in str(failed.value)


async def test_unreachable_server_is_retryable_and_names_the_host():
    with socket.socket() as closed:
        # Bound but not listening: connecting is refused.
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        provider = AnthropicProvider(api_key="k", base_url=f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(ProviderError) as failed:
                await collect(provider, request())
        finally:
            await provider.aclose()
    assert failed.value.retryable is True
    assert str(failed.value).startswith(f"anthropic (127.0.0.1:{port}): connection failed")


async def test_invalid_json_arguments_are_kept_raw(connect):
    broken = '{"command": "ls -la'
    with LoopbackAnthropic([Reply(tool_calls=[("bash", broken)])]) as server:
        _, response = await collect(connect(server), request())
    assert response.tool_calls == (ToolCall("toolu_loopback_1_0", "bash", {"_raw": broken}),)


async def test_thinking_blocks_go_back_with_the_tool_results(connect):
    first = Reply(
        "Reading it.",
        [("read_file", {"path": "calc.py"})],
        thinking="The failure is in mean(); read calc.py first.",
    )
    with LoopbackAnthropic([first, Reply("Fixed.")]) as server:
        provider = connect(server)
        deltas, response = await collect(provider, request())
        follow_up = request(
            Message("user", "fix the failing test"),
            Message(
                "assistant",
                response.text,
                tool_calls=response.tool_calls,
                provider_content=response.provider_content,
            ),
            Message("tool", "def mean(xs): ...", tool_call_id=response.tool_calls[0].id),
        )
        await collect(provider, follow_up)

    assert "".join(deltas) == "Reading it.", "thinking is not part of the answer text"
    echoed = server.requests[1].body["messages"][1]
    assert echoed["role"] == "assistant"
    assert echoed["content"] == [
        {
            "type": "thinking",
            "thinking": "The failure is in mean(); read calc.py first.",
            "signature": "loopback-signature-1",
        },
        {"type": "text", "text": "Reading it."},
        {
            "type": "tool_use",
            "id": "toolu_loopback_1_0",
            "name": "read_file",
            "input": {"path": "calc.py"},
        },
    ]


async def test_base_url_from_the_environment(monkeypatch):
    with LoopbackAnthropic([Reply("from env")]) as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
        provider = AnthropicProvider(api_key=None, base_url=None)
        try:
            _, response = await collect(provider, request())
        finally:
            await provider.aclose()
    assert response.text == "from env"
    assert "env-key" in json.dumps(server.requests[0].headers)


def no_credentials(monkeypatch, home):
    """No key in the environment and no credentials profile on disk."""
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))


async def test_custom_base_url_needs_no_key(monkeypatch, tmp_path):
    no_credentials(monkeypatch, tmp_path)
    with LoopbackAnthropic([Reply("no key needed")]) as server:
        provider = AnthropicProvider(api_key=None, base_url=server.base_url)
        try:
            _, response = await collect(provider, request())
        finally:
            await provider.aclose()
    assert response.text == "no key needed"


def test_no_key_for_the_real_api_fails_at_construction(monkeypatch, tmp_path):
    no_credentials(monkeypatch, tmp_path)
    with pytest.raises(ProviderError) as failed:
        AnthropicProvider(api_key=None, base_url=None)
    assert failed.value.retryable is False
    assert "ANTHROPIC_API_KEY" in str(failed.value)
    assert "api.anthropic.com" in str(failed.value)
