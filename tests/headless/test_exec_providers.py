"""`--exec` through the real anthropic and openai SDKs against loopback servers that
speak each provider's streaming wire protocol."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.loopback import ErrorReply, LoopbackAnthropic, LoopbackOpenAI, Reply
from tests.support.projects import cli_env, demo_repo, harness_cmd

SERVERS = {"anthropic": LoopbackAnthropic, "openai": LoopbackOpenAI}

FIX_REPLIES = [
    Reply("Let me read calc.py.", tool_calls=[("read_file", {"path": "calc.py"})]),
    Reply(
        "mean() divides by the wrong count; fixing it.",
        tool_calls=[
            (
                "edit_file",
                {
                    "path": "calc.py",
                    "old_string": "return total(values) / (len(values) - 1)",
                    "new_string": "return total(values) / len(values)",
                },
            )
        ],
    ),
    Reply("Running the tests.", tool_calls=[("bash", {"command": "python3 -m unittest -q"})]),
    Reply("Fixed mean() in calc.py; the tests pass."),
]


def run_exec(project, server, *args, tmp_path, provider):
    return subprocess.run(
        harness_cmd("--exec", *args, "--provider", provider, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path, HARNESS_PROVIDER__RETRY_BASE_DELAY_S="0.01", **server.env()),
        capture_output=True,
        text=True,
        timeout=120,
    )


def tool_results(request_body, provider):
    """The tool results a request carried back to the model, as text."""
    texts = []
    for message in request_body["messages"]:
        if provider == "openai" and message["role"] == "tool":
            texts.append(message["content"])
        if provider == "anthropic" and isinstance(message.get("content"), list):
            for block in message["content"]:
                if block.get("type") == "tool_result":
                    content = block["content"]
                    texts.append(content if isinstance(content, str) else json.dumps(content))
    return texts


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_fix_the_failing_test_through_the_real_sdk(tmp_path, provider):
    repo = demo_repo(tmp_path / "repo")
    with SERVERS[provider](FIX_REPLIES) as server:
        done = run_exec(repo, server, "fix the failing test", tmp_path=tmp_path, provider=provider)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Fixed mean() in calc.py; the tests pass."
    # The tool calls ran in the project: the file changed and the tests really ran.
    assert "return total(values) / len(values)" in (repo / "calc.py").read_text()
    last_request = server.requests[-1].body
    results = tool_results(last_request, provider)
    assert any("def mean(values):" in text for text in results)  # read_file's output
    assert any("OK" in text and "exit code: 0" in text for text in results)  # the test run
    assert last_request["stream"] is True
    assert any(
        t.get("name", t.get("function", {}).get("name")) == "bash" for t in last_request["tools"]
    )


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_429_is_retried_and_recorded(tmp_path, provider):
    repo = demo_repo(tmp_path / "repo")
    replies = [ErrorReply(429, "rate limited", headers={"retry-after": "0"}), Reply("All good.")]
    with SERVERS[provider](replies) as server:
        done = run_exec(repo, server, "hi", "--json", tmp_path=tmp_path, provider=provider)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    failed = [e["data"] for e in events if e["type"] == "model.failed"]
    assert len(failed) == 1
    assert failed[0]["retryable"] is True and failed[0]["status"] == 429
    assert [e["data"]["text"] for e in events if e["type"] == "model.completed"] == ["All good."]
    assert len(server.requests) == 2


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_a_401_fails_at_once_with_the_providers_message(tmp_path, provider):
    repo = demo_repo(tmp_path / "repo")
    with SERVERS[provider]([ErrorReply(401, "invalid api key")]) as server:
        done = run_exec(repo, server, "hi", tmp_path=tmp_path, provider=provider)
    assert done.returncode == 1
    assert "401" in done.stderr and "invalid api key" in done.stderr
    assert server.host in done.stderr  # names the host it could not use
    assert len(server.requests) == 1, "a 401 must not be retried"
    assert done.stdout == ""


def test_the_circuit_breaker_fails_the_session_after_consecutive_failures(tmp_path):
    repo = demo_repo(tmp_path / "repo")
    replies = [ErrorReply(503, "overloaded")] * 10
    with LoopbackAnthropic(replies) as server:
        done = subprocess.run(
            harness_cmd("--exec", "hi", "--provider", "anthropic", "--json"),
            cwd=repo,
            env=cli_env(
                tmp_path,
                HARNESS_PROVIDER__RETRY_BASE_DELAY_S="0.01",
                HARNESS_PROVIDER__MAX_RETRIES="10",
                HARNESS_PROVIDER__CIRCUIT_BREAKER_FAILURES="3",
                **server.env(),
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    events = [json.loads(line) for line in done.stdout.splitlines()]
    failed = [e["data"] for e in events if e["type"] == "model.failed"]
    assert [f["attempt"] for f in failed] == [1, 2, 3]
    assert failed[-1]["circuit_open"] is True
    ended = [e["data"] for e in events if e["type"] == "turn.completed"]
    assert ended[-1]["reason"] == "failed"
    assert "circuit breaker open after 3 consecutive failed requests" in ended[-1]["error"]
    assert len(server.requests) == 3


def test_thinking_blocks_are_kept_in_the_log_and_sent_back(tmp_path):
    repo = demo_repo(tmp_path / "repo")
    replies = [
        Reply("Reading.", [("read_file", {"path": "calc.py"})], thinking="Check mean() first."),
        Reply("Done."),
    ]
    with LoopbackAnthropic(replies) as server:
        done = run_exec(repo, server, "look", "--json", tmp_path=tmp_path, provider="anthropic")
    assert done.returncode == 0, done.stderr
    completed = [
        json.loads(line)["data"]
        for line in done.stdout.splitlines()
        if json.loads(line)["type"] == "model.completed"
    ]
    assert completed[0]["provider_content"][0]["type"] == "thinking"
    echoed = server.requests[1].body["messages"][1]["content"]
    assert echoed[0] == {
        "type": "thinking",
        "thinking": "Check mean() first.",
        "signature": "loopback-signature-1",
    }
