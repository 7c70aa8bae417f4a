"""The offline scripted provider: loading scripts, playing them, and saying what is wrong."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from harness_tui.config import load_config
from harness_tui.providers.base import (
    Message,
    ModelRequest,
    ProviderError,
    TextDelta,
    ToolCall,
    Usage,
)
from harness_tui.providers.registry import make_provider
from harness_tui.providers.scripted import (
    EXHAUSTED_TEXT,
    ScriptedProvider,
    ScriptError,
    Turn,
    load_script,
)
from harness_tui.providers.select import resolve_provider

TOML_SCRIPT = """
# Two replies: look, then answer.
[[turn]]
text = "I'll read the module and run the tests."
usage = { input_tokens = 1200, output_tokens = 40 }
[[turn.tool_calls]]
name = "read_file"
arguments = { path = "calc.py" }
[[turn.tool_calls]]
name = "bash"
arguments = { command = "python -m pytest -q" }

[[turn]]
text = "The tests pass now."
"""

JSONL_SCRIPT = "\n".join(
    [
        "# Two replies: look, then answer.",
        json.dumps(
            {
                "text": "I'll read the module and run the tests.",
                "usage": {"input_tokens": 1200, "output_tokens": 40},
                "tool_calls": [
                    {"name": "read_file", "arguments": {"path": "calc.py"}},
                    {"name": "bash", "arguments": {"command": "python -m pytest -q"}},
                ],
            }
        ),
        "",
        json.dumps({"text": "The tests pass now."}),
    ]
)


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def request(*messages: Message) -> ModelRequest:
    return ModelRequest(
        model="scripted",
        system="You are a careful coding agent.",
        messages=messages or (Message("user", "fix the failing test"),),
    )


async def collect(provider, req):
    deltas, responses = [], []
    async for item in provider.stream(req):
        (deltas if isinstance(item, TextDelta) else responses).append(item)
    assert len(responses) == 1, "a stream ends with exactly one ModelResponse"
    return [d.text for d in deltas], responses[0]


def after_first_turn() -> tuple[Message, ...]:
    return (
        Message("user", "fix the failing test"),
        Message(
            "assistant",
            "I'll read the module and run the tests.",
            tool_calls=(
                ToolCall("call_1_0", "read_file", {"path": "calc.py"}),
                ToolCall("call_1_1", "bash", {"command": "python -m pytest -q"}),
            ),
        ),
        Message("tool", "def mean(xs): ...", tool_call_id="call_1_0"),
        Message("tool", "1 passed", tool_call_id="call_1_1"),
    )


@pytest.mark.parametrize(("name", "text"), [("s.toml", TOML_SCRIPT), ("s.jsonl", JSONL_SCRIPT)])
async def test_first_turn_of_a_toml_or_jsonl_script(tmp_path, name, text):
    provider = ScriptedProvider(write(tmp_path, name, text))
    deltas, response = await collect(provider, request())

    assert len(deltas) > 1, "the text streams in a few pieces"
    assert "".join(deltas) == "I'll read the module and run the tests." == response.text
    assert response.tool_calls == (
        ToolCall("call_1_0", "read_file", {"path": "calc.py"}),
        ToolCall("call_1_1", "bash", {"command": "python -m pytest -q"}),
    )
    assert response.stop_reason == "tool_use"
    assert response.usage == Usage(input_tokens=1200, output_tokens=40)
    assert provider.default_model == "s"


async def test_the_next_turn_is_counted_from_the_conversation(tmp_path):
    path = write(tmp_path, "s.toml", TOML_SCRIPT)
    # Two separate instances, as after a restart: no state lives in the provider.
    first = ScriptedProvider(path)
    restarted = ScriptedProvider(path)
    _, one = await collect(first, request(*after_first_turn()))
    _, two = await collect(restarted, request(*after_first_turn()))

    assert one.text == two.text == "The tests pass now."
    assert one.tool_calls == ()
    assert one.stop_reason == "end_turn"


async def test_exhausted_script_ends_the_turn(tmp_path):
    provider = ScriptedProvider(write(tmp_path, "s.toml", TOML_SCRIPT))
    history = (
        *after_first_turn(),
        Message("assistant", "The tests pass now."),
        Message("user", "anything else?"),
    )
    _, response = await collect(provider, request(*history))
    assert response.text == EXHAUSTED_TEXT
    assert response.tool_calls == ()
    assert response.stop_reason == "end_turn"


async def test_every_request_is_recorded(tmp_path):
    provider = ScriptedProvider(write(tmp_path, "s.toml", TOML_SCRIPT))
    first, second = request(), request(*after_first_turn(), Message("user", "use pytest -x"))
    await collect(provider, first)
    await collect(provider, second)
    assert provider.requests == [first, second]
    assert provider.requests[1].messages[-1].content == "use pytest -x"


async def test_usage_is_estimated_when_the_script_has_none(tmp_path):
    provider = ScriptedProvider(write(tmp_path, "s.toml", TOML_SCRIPT))
    _, response = await collect(provider, request(*after_first_turn()))
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.usage.cost_usd is None, "offline replies have no price"


async def test_tool_arguments_are_copies(tmp_path):
    provider = ScriptedProvider(write(tmp_path, "s.toml", TOML_SCRIPT))
    _, response = await collect(provider, request())
    response.tool_calls[0].arguments["path"] = "changed.py"
    _, again = await collect(provider, request())
    assert again.tool_calls[0].arguments == {"path": "calc.py"}


async def test_a_slow_step_is_filled_in_from_config(tmp_path):
    script = """
    [[turn]]
    text = "the slow check"
    [[turn.tool_calls]]
    name = "bash"
    arguments = { command = "sleep {slow_step_s} && echo ok", env = ["T={slow_step_s}"] }
    """
    path = write(tmp_path, "s.toml", script)
    _, watched = await collect(ScriptedProvider(path), request())
    assert watched.tool_calls[0].arguments == {"command": "sleep 6 && echo ok", "env": ["T=6"]}

    # The same script, shortened the way tests do it: through config (here its env var).
    config = load_config(project=tmp_path, env={"HARNESS_SCRIPTED__SLOW_STEP_S": "0.25"})
    provider = resolve_provider(config, "scripted", str(path)).build()
    _, quick = await collect(provider, request())
    assert quick.tool_calls[0].arguments["command"] == "sleep 0.25 && echo ok"


async def test_explicit_ids_and_a_delay(tmp_path):
    script = """
    [[turn]]
    text = "one moment"
    delay_ms = 1
    [[turn.tool_calls]]
    id = "toolu_fixed"
    name = "glob"
    """
    provider = ScriptedProvider(write(tmp_path, "s.toml", script), delay_ms=1)
    deltas, response = await collect(provider, request())
    assert "".join(deltas) == "one moment"
    assert response.tool_calls == (ToolCall("toolu_fixed", "glob", {}),)


async def test_builtin_echo_script():
    script = load_script("echo")
    assert script.turns == (Turn(text="echo"),)
    _, response = await collect(ScriptedProvider("echo"), request())
    assert response.text == "echo"
    assert response.tool_calls == ()


BAD_TOML = [
    (
        """
        [[turn]]
        text = "one"
        [[turn]]
        text = "two"
        [[turn]]
        text = "three"
        [[turn.tool_calls]]
        arguments = { path = "a" }
        """,
        "turn 3: tool_calls[0] has no name",
    ),
    (
        """
        [[turn]]
        text = "one"
        [[turn.tool_calls]]
        name = "read_file"
        arguments = "calc.py"
        """,
        "turn 1: tool_calls[0].arguments must be a table",
    ),
    (
        """
        [[turn]]
        txt = "typo"
        """,
        "turn 1: unknown key 'txt' (expected text, tool_calls, usage, delay_ms)",
    ),
    (
        """
        [[turn]]
        text = "one"
        usage = { input_tokens = -5 }
        """,
        "turn 1: usage.input_tokens must be a whole number, 0 or more",
    ),
    ("[[turn]]\n", "turn 1: needs text or tool_calls"),
    ('[[turns]]\ntext = "x"\n', "unknown key 'turns' (expected [[turn]] tables)"),
    ("# nothing here\n", "no [[turn]] tables"),
    ('[[turn]]\ntext = "unterminated\n', "line 2"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_TOML)
def test_toml_errors_name_the_file_and_the_turn(tmp_path, text, expected):
    path = write(tmp_path, "bad.toml", text)
    with pytest.raises(ScriptError) as failed:
        load_script(path)
    message = str(failed.value)
    assert message.startswith(f"script {path}: ")
    assert expected in message
    assert failed.value.retryable is False


def test_jsonl_errors_name_the_line_and_the_turn(tmp_path):
    lines = [
        json.dumps({"text": "one"}),
        "",
        json.dumps({"text": "two"}),
        '{"text": "three", "tool_calls": [{"name": ',
    ]
    path = write(tmp_path, "bad.jsonl", "\n".join(lines))
    with pytest.raises(ScriptError) as failed:
        load_script(path)
    assert str(failed.value).startswith(f"script {path}: line 4 (turn 3): invalid JSON")


def test_jsonl_turn_errors(tmp_path):
    path = write(tmp_path, "bad.jsonl", json.dumps({"tool_calls": [{"name": ""}]}))
    with pytest.raises(ScriptError) as failed:
        load_script(path)
    assert str(failed.value) == f"script {path}: line 1 (turn 1): tool_calls[0] has no name"


def test_missing_file_and_unknown_builtin(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScriptError, match="no such file") as failed:
        load_script(missing)
    assert str(missing) in str(failed.value)

    with pytest.raises(ScriptError) as failed:
        load_script("no-such-builtin")
    assert "'no-such-builtin'" in str(failed.value)
    assert "echo" in str(failed.value), "the message lists the built-ins"


def test_wrong_extension(tmp_path):
    path = write(tmp_path, "script.yaml", "turn: []")
    with pytest.raises(ScriptError, match=r"expected a \.toml or \.jsonl file"):
        load_script(path)


async def test_make_provider_builds_scripted_by_name(tmp_path):
    provider = make_provider("scripted", model=str(write(tmp_path, "s.toml", TOML_SCRIPT)))
    _, response = await collect(provider, request())
    assert response.text == "I'll read the module and run the tests."
    await provider.aclose()


def test_make_provider_rejects_unknown_names():
    with pytest.raises(ProviderError, match="unknown provider 'gemini'") as failed:
        make_provider("gemini")
    assert failed.value.retryable is False


def test_scripted_start_up_imports_no_sdk():
    code = (
        "import sys\n"
        "from harness_tui.providers.registry import make_provider\n"
        "make_provider('scripted', model='echo')\n"
        "print(sorted(m for m in ('anthropic', 'openai', 'httpx', 'httpx2') if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.strip() == "[]"
