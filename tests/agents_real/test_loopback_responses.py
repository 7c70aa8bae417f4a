"""The Responses API loopback server read by the real OpenAI SDK, and the scripted model
(ShellThenDone) answering each protocol's requests: what the real-agent tests rely on,
checked without any agent CLI."""

from __future__ import annotations

import json

import anthropic
import openai

from tests.support.agent_model import ShellThenDone
from tests.support.loopback import ErrorReply, LoopbackAnthropic, Reply
from tests.support.loopback_responses import LoopbackResponses

SHELL = {
    "type": "function",
    "name": "exec_command",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}},
}


def test_the_sdk_reads_a_streamed_reply_with_text_and_a_function_call() -> None:
    reply = Reply("Running it.", tool_calls=[("exec_command", {"cmd": "ls -la"})])
    with LoopbackResponses([reply]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        with client.responses.stream(model="loop-model", input="list files") as stream:
            kinds = [event.type for event in stream]
            final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert final.output_text == "Running it."
    (call,) = [item for item in final.output if item.type == "function_call"]
    assert call.name == "exec_command" and json.loads(call.arguments) == {"cmd": "ls -la"}
    assert final.usage is not None and final.usage.output_tokens > 0
    assert server.requests[0].path == "/v1/responses"


def test_the_sdk_reads_a_whole_reply_and_an_error() -> None:
    with LoopbackResponses([Reply("Hello."), ErrorReply(429, "slow down")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        assert client.responses.create(model="m", input="hi").output_text == "Hello."
        try:
            client.responses.create(model="m", input="hi")
        except openai.RateLimitError as exc:
            assert "slow down" in str(exc)
        else:
            raise AssertionError("no error")


def test_shell_then_done_asks_once_then_finishes_and_answers_side_requests() -> None:
    model = ShellThenDone("make hello")
    with LoopbackResponses(respond=model) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        title = client.responses.create(model="m", input="a title please")
        first = client.responses.create(model="m", input="go", tools=[SHELL])
        (call,) = [item for item in first.output if item.type == "function_call"]
        done = client.responses.create(
            model="m",
            input=[
                {"role": "user", "content": "go"},
                {
                    "type": "function_call",
                    "call_id": call.call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                {"type": "function_call_output", "call_id": call.call_id, "output": "made"},
            ],
            tools=[SHELL],
        )
    assert title.output_text == model.side_text
    assert json.loads(call.arguments) == {"cmd": "make hello"}
    assert done.output_text == model.final_text
    assert model.results == ["made"]


def test_shell_then_done_over_anthropic_fits_claude_codes_bash_tool() -> None:
    bash = {
        "name": "Bash",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
        },
    }
    model = ShellThenDone("make hello")
    with LoopbackAnthropic(respond=model) as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="k", max_retries=0)
        ask = [{"role": "user", "content": "go"}]
        first = client.messages.create(model="m", max_tokens=100, messages=ask, tools=[bash])
        (use,) = [block for block in first.content if block.type == "tool_use"]
        counted = client.messages.count_tokens(model="m", messages=ask)
    assert use.name == "Bash" and use.input["command"] == "make hello"
    assert counted.input_tokens > 0
