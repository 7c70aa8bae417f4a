"""The OpenAI provider driving the real SDK against a loopback Chat Completions server."""

from __future__ import annotations

import json
import socket

import pytest

from harness_tui.providers.base import (
    Message,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from harness_tui.providers.openai import OpenAIProvider
from harness_tui.providers.pricing import cost_usd
from tests.support.loopback import ErrorReply, LoopbackOpenAI, Reply, StreamError

MODEL = "gpt-4.1"
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


def request(*messages: Message, model: str = MODEL) -> ModelRequest:
    return ModelRequest(
        model=model,
        system=SYSTEM,
        messages=messages or (Message("user", "fix the failing test"),),
        tools=(READ_FILE, BASH),
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
        provider = OpenAIProvider(
            api_key=kwargs.pop("api_key", "sk-test"), base_url=server.base_url, **kwargs
        )
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        await provider.aclose()


async def test_streamed_text_and_tool_calls_assembled_by_index(connect):
    read_args = {"path": "src/calc.py", "note": 'quotes " and \\ survive'}
    bash_args = {"command": "python -m pytest -q tests/test_calc.py"}
    reply = Reply(
        "Reading the module and running the tests.",
        [("read_file", read_args), ("bash", bash_args)],
        usage={"input_tokens": 900, "output_tokens": 60, "cache_read_tokens": 300},
    )
    with LoopbackOpenAI([reply]) as server:
        deltas, response = await collect(connect(server), request())

    assert len(deltas) > 1, "text arrives as it streams, not in one piece"
    assert "".join(deltas) == "Reading the module and running the tests." == response.text
    assert response.tool_calls == (
        ToolCall("call_loopback_1_0", "read_file", read_args),
        ToolCall("call_loopback_1_1", "bash", bash_args),
    )
    assert response.stop_reason == "tool_use"
    # prompt_tokens (1200) includes the 300 cached ones; they are counted apart.
    assert response.usage.input_tokens == 900
    assert response.usage.cache_read_tokens == 300
    assert response.usage.output_tokens == 60
    expected = cost_usd(MODEL, input_tokens=900, output_tokens=60, cache_read_tokens=300)
    assert expected is not None and response.usage.cost_usd == pytest.approx(expected)


async def test_plain_answer_ends_the_turn(connect):
    with LoopbackOpenAI([Reply("All tests pass.")]) as server:
        _, response = await collect(connect(server), request())
    assert response.tool_calls == ()
    assert response.stop_reason == "end_turn"


async def test_request_has_function_tools_and_tool_messages(connect):
    history = (
        Message("user", "fix the failing test"),
        Message(
            "assistant",
            "",
            tool_calls=(
                ToolCall("call_a", "read_file", {"path": "calc.py"}),
                ToolCall("call_b", "bash", {"command": "pytest -q"}),
            ),
        ),
        Message("tool", "def mean(xs): ...", tool_call_id="call_a"),
        Message("tool", "exit 1: 1 failed", tool_call_id="call_b", is_error=True),
        Message("user", "also check the README"),
    )
    with LoopbackOpenAI() as server:
        await collect(connect(server), request(*history, model="qwen2.5-coder:32b"))
    sent = server.requests[0]

    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = sent.body
    assert body["model"] == "qwen2.5-coder:32b", "any model name passes through"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # A compatible server gets the classic name of the limit.
    assert body["max_tokens"] == 2048
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file of the workspace.",
                "parameters": READ_FILE.parameters,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "bash",
                "description": "Run a shell command.",
                "parameters": BASH.parameters,
            },
        },
    ]
    system, user, assistant, result_a, result_b, steer = body["messages"]
    assert system == {"role": "system", "content": SYSTEM}
    assert user == {"role": "user", "content": "fix the failing test"}
    assert assistant["role"] == "assistant"
    assert assistant["content"] is None
    assert [
        (c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in assistant["tool_calls"]
    ] == [
        ("call_a", "function", "read_file", {"path": "calc.py"}),
        ("call_b", "function", "bash", {"command": "pytest -q"}),
    ]
    assert result_a == {"role": "tool", "tool_call_id": "call_a", "content": "def mean(xs): ..."}
    assert result_b == {
        "role": "tool",
        "tool_call_id": "call_b",
        "content": "Error: exit 1: 1 failed",
    }
    assert steer == {"role": "user", "content": "also check the README"}


async def test_rate_limit_is_retryable_with_retry_after_and_the_next_request_succeeds(connect):
    replies = [
        ErrorReply(429, "Rate limit reached for gpt-4.1 on tokens per min", {"retry-after": "3"}),
        Reply("Recovered."),
    ]
    with LoopbackOpenAI(replies) as server:
        provider = connect(server)
        with pytest.raises(ProviderError) as failed:
            await collect(provider, request())
        _, response = await collect(provider, request())

    error = failed.value
    assert error.retryable is True
    assert error.status == 429
    assert error.retry_after == 3.0
    assert str(error) == (
        f"openai ({server.host}): 429 Rate limit reached for gpt-4.1 on tokens per min"
    )
    assert response.text == "Recovered."
    assert len(server.requests) == 2, "the SDK must not retry on its own"


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (500, {}, None),
        (502, {"retry-after-ms": "250"}, 0.25),
        (503, {"retry-after": "12"}, 12.0),
        (408, {}, None),
    ],
)
async def test_server_side_failures_are_retryable(connect, status, headers, retry_after):
    with LoopbackOpenAI([ErrorReply(status, "The server had an error", headers)]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is True
    assert failed.value.status == status
    assert failed.value.retry_after == retry_after


async def test_bad_key_is_not_retryable_and_keeps_the_servers_message(connect):
    message = "Incorrect API key provided: sk-test. You can find your API key in your settings."
    with LoopbackOpenAI([ErrorReply(401, message)]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is False
    assert failed.value.status == 401
    assert str(failed.value) == f"openai ({server.host}): 401 {message}"


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_client_errors_are_not_retryable(connect, status):
    message = f"The model `nope` does not exist ({status})"
    with LoopbackOpenAI([ErrorReply(status, message)]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is False
    assert failed.value.status == status
    assert message in str(failed.value)


async def test_connection_dropped_mid_stream_is_retryable(connect):
    replies = [Reply("This answer is cut off somewhere in the middle", disconnect_after=3)]
    with LoopbackOpenAI(replies) as server:
        provider = connect(server)
        with pytest.raises(ProviderError) as failed:
            await collect(provider, request())
        _, response = await collect(provider, request())
    assert failed.value.retryable is True
    assert str(failed.value).startswith(f"{server.protocol} ({server.host}): connection lost")
    assert response.text == "Done.", "the provider is usable after the drop"


async def test_error_inside_the_stream_is_retryable(connect):
    with LoopbackOpenAI([StreamError("The server is overloaded", "server_error")]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is True
    assert "The server is overloaded" in str(failed.value)


async def test_unreachable_server_is_retryable_and_names_the_host():
    with socket.socket() as closed:
        # Bound but not listening: connecting is refused.
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        provider = OpenAIProvider(api_key="k", base_url=f"http://127.0.0.1:{port}/v1")
        try:
            with pytest.raises(ProviderError) as failed:
                await collect(provider, request())
        finally:
            await provider.aclose()
    assert failed.value.retryable is True
    assert str(failed.value).startswith(f"openai (127.0.0.1:{port}): connection failed")


async def test_invalid_json_arguments_are_kept_raw(connect):
    broken = '{"command": "ls -la'
    with LoopbackOpenAI([Reply(tool_calls=[("bash", broken)])]) as server:
        _, response = await collect(connect(server), request())
    assert response.tool_calls == (ToolCall("call_loopback_1_0", "bash", {"_raw": broken}),)


async def test_unknown_model_has_no_cost(connect):
    with LoopbackOpenAI([Reply("hi", usage={"input_tokens": 50, "output_tokens": 5})]) as server:
        _, response = await collect(connect(server), request(model="llama3.1:8b"))
    assert response.usage.input_tokens == 50
    assert response.usage.cost_usd is None


async def test_local_server_needs_no_key():
    with LoopbackOpenAI([Reply("no key needed")]) as server:
        provider = OpenAIProvider(api_key=None, base_url=server.base_url)
        try:
            _, response = await collect(provider, request())
        finally:
            await provider.aclose()
    assert response.text == "no key needed"


async def test_base_url_and_key_from_the_environment(monkeypatch):
    with LoopbackOpenAI([Reply("from env")]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
        provider = OpenAIProvider(api_key=None, base_url=None)
        try:
            _, response = await collect(provider, request())
        finally:
            await provider.aclose()
    assert response.text == "from env"
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


def test_no_key_for_the_real_api_fails_at_construction(monkeypatch):
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    with pytest.raises(ProviderError) as failed:
        OpenAIProvider(api_key=None, base_url=None)
    assert failed.value.retryable is False
    assert "OPENAI_API_KEY" in str(failed.value)
