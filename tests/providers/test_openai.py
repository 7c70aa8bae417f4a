"""The OpenAI provider driving the real SDK against a loopback Chat Completions server.

The scenarios every HTTP provider shares run from `tests/providers/contract.py`; what
is OpenAI's own (the request it builds, where the key and base URL come from) is
tested here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from harness_tui.providers.base import Message, ModelRequest, ProviderError, ToolCall
from harness_tui.providers.openai import OpenAIProvider
from tests.providers.contract import (
    BASH,
    READ_FILE,
    SYSTEM,
    Connect,
    ProviderContract,
    collect,
    connecting,
)
from tests.providers.contract import request as contract_request
from tests.support.loopback import LoopbackOpenAI, Reply, StreamError

MODEL = "gpt-4.1"


def request(*messages: Message, model: str = MODEL) -> ModelRequest:
    return contract_request(*messages, model=model)


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with connecting(OpenAIProvider, api_key="sk-test") as make:
        yield make


class TestOpenAIContract(ProviderContract):
    protocol = "openai"
    provider_class = OpenAIProvider
    server_class = LoopbackOpenAI
    model = MODEL
    call_id_prefix = "call"
    api_root = "/v1"
    reports_cache_writes = False
    rate_limit_message = "Rate limit reached for gpt-4.1 on tokens per min"
    bad_key_message = (
        "Incorrect API key provided: sk-test. You can find your API key in your settings."
    )
    overloaded_in_stream = StreamError("The server is overloaded", "server_error")


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
