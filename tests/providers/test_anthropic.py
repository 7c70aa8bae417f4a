"""The Anthropic provider driving the real SDK against a loopback Messages API server.

The scenarios every HTTP provider shares run from `tests/providers/contract.py`; what
is Anthropic's own (the request it builds, prompt caching, thinking blocks, error
types inside a stream, where the key comes from) is tested here.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harness_tui.providers.anthropic import AnthropicProvider
from harness_tui.providers.base import Message, ModelRequest, ProviderError, ToolCall
from tests.providers.contract import (
    READ_FILE,
    SYSTEM,
    Connect,
    ProviderContract,
    collect,
    connecting,
)
from tests.providers.contract import request as contract_request
from tests.support.loopback import LoopbackAnthropic, Reply, StreamError

MODEL = "claude-sonnet-5-5"


def request(*messages: Message, model: str = MODEL) -> ModelRequest:
    return contract_request(*messages, model=model)


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with connecting(AnthropicProvider, api_key="test-key") as make:
        yield make


def no_credentials(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No key in the environment and no credentials profile on disk."""
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))


class TestAnthropicContract(ProviderContract):
    protocol = "anthropic"
    provider_class = AnthropicProvider
    server_class = LoopbackAnthropic
    model = MODEL
    call_id_prefix = "toolu"
    reports_cache_writes = True
    rate_limit_message = "Number of request tokens has exceeded your rate limit"
    bad_key_message = "invalid x-api-key"
    overloaded_in_stream = StreamError("Overloaded", "overloaded_error")
    keepalives = (None, "ping", "comment")

    def clear_credentials(self, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
        no_credentials(monkeypatch, home)


def test_loopback_splits_tool_input_over_several_deltas():
    """The wire really carries the arguments in pieces, so the contract's streaming test
    proves the provider joins them."""
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


async def test_invalid_request_inside_the_stream_is_not_retryable(connect):
    error = StreamError("prompt is too long", "invalid_request_error")
    with LoopbackAnthropic([error]) as server:
        with pytest.raises(ProviderError) as failed:
            await collect(connect(server), request())
    assert failed.value.retryable is False
    assert "prompt is too long" in str(failed.value)


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


def test_no_key_for_the_real_api_fails_at_construction(monkeypatch, tmp_path):
    no_credentials(monkeypatch, tmp_path)
    with pytest.raises(ProviderError) as failed:
        AnthropicProvider(api_key=None, base_url=None)
    assert failed.value.retryable is False
    assert "ANTHROPIC_API_KEY" in str(failed.value)
    assert "api.anthropic.com" in str(failed.value)
