"""A misbehaving model server never holds a headless run: `harness-tui --exec` through
the real anthropic and openai SDKs against loopback servers that stall, send
keep-alives forever, trickle a reply that never ends, reset or drop the connection in
the middle of a stream, or send malformed SSE.

Every run ends on its own within the deadlines configured here (a fraction of a second
idle, a few seconds in all; the subprocess timeout only catches a hang), retries what is
transient, and says in one line what the server did. The last attempt does not promise
another one.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.loopback import (
    AnyReply,
    LoopbackAnthropic,
    LoopbackOpenAI,
    LoopbackServer,
    Malformed,
    Reply,
    Stall,
)
from tests.support.projects import cli_env, demo_repo, harness_cmd

SERVERS = {"anthropic": LoopbackAnthropic, "openai": LoopbackOpenAI}
PROVIDERS = ["anthropic", "openai"]
IDLE_S = 1.0
TOTAL_S = 2
# One retry: two attempts per run.
ATTEMPTS = 2
# Far beyond every deadline above: reaching it means the run hung.
HANG_S = 60


def run_exec(
    tmp_path: Path, provider: str, replies: list[AnyReply], *args: str, attempts: int = ATTEMPTS
) -> tuple[subprocess.CompletedProcess[str], LoopbackServer]:
    repo = demo_repo(tmp_path / "repo")
    with SERVERS[provider](replies) as server:
        done = subprocess.run(
            harness_cmd("--exec", "fix the failing test", "--provider", provider, *args),
            cwd=repo,
            env=cli_env(
                tmp_path,
                HARNESS_PROVIDER__IDLE_TIMEOUT_S=str(IDLE_S),
                HARNESS_PROVIDER__REQUEST_TIMEOUT_S=str(TOTAL_S),
                HARNESS_PROVIDER__MAX_RETRIES=str(attempts - 1),
                HARNESS_PROVIDER__RETRY_BASE_DELAY_S="0.01",
                **server.env(),
            ),
            capture_output=True,
            text=True,
            timeout=HANG_S,
        )
    return done, server


def assert_failed_with(
    done: subprocess.CompletedProcess[str], server: LoopbackServer, what: str
) -> None:
    """Exit 1, no traceback, each attempt on its own line, only the first promising a
    retry, and a last line that says what the server did, naming it."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    prefix = f"{server.protocol} ({server.host}): {what}"
    attempts = [line for line in lines if "model request failed" in line]
    assert attempts == [
        f"  ! model request failed (attempt 1): {prefix} (will retry)",
        f"  ! model request failed (attempt {ATTEMPTS}): {prefix}",
    ], done.stderr
    assert lines[-1] == f"● turn ended: {prefix} (gave up after {ATTEMPTS} attempts)"
    assert len(server.requests) == ATTEMPTS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_server_that_never_answers(tmp_path, provider):
    done, server = run_exec(tmp_path, provider, [Stall(after_events=None)] * ATTEMPTS)
    assert_failed_with(
        done,
        server,
        f"no response from the model server within {IDLE_S:g} s ([provider] idle_timeout_s)",
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_server_that_falls_silent_mid_stream(tmp_path, provider):
    done, server = run_exec(tmp_path, provider, [Stall(after_events=2)] * ATTEMPTS)
    assert_failed_with(
        done, server, f"no data from the model server for {IDLE_S:g} s ([provider] idle_timeout_s)"
    )


@pytest.mark.parametrize(
    ("provider", "keepalive"),
    [("anthropic", "ping"), ("anthropic", "comment"), ("openai", "comment")],
)
def test_keep_alives_forever_do_not_hold_the_request(tmp_path, provider, keepalive):
    """`event: ping` and `: keep-alive` prove the connection is up, not that the model
    is writing: they do not reset the idle deadline."""
    replies: list[AnyReply] = [Stall(after_events=2, keepalive=keepalive)] * ATTEMPTS
    done, server = run_exec(tmp_path, provider, replies)
    assert_failed_with(
        done, server, f"no data from the model server for {IDLE_S:g} s ([provider] idle_timeout_s)"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reply_that_never_ends_meets_the_total_deadline(tmp_path, provider):
    """Text keeps coming, well within the idle deadline, but the reply never ends."""
    replies: list[AnyReply] = [Stall(after_events=3, keepalive="text")] * ATTEMPTS
    done, server = run_exec(tmp_path, provider, replies)
    assert_failed_with(
        done, server, f"no complete reply within {TOTAL_S:g} s ([provider] request_timeout_s)"
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_connection_reset_mid_stream(tmp_path, provider):
    replies: list[AnyReply] = [Reply("Cut off in the middle", reset_after=3)] * ATTEMPTS
    done, server = run_exec(tmp_path, provider, replies)
    assert_failed_with(done, server, "the model server reset the connection mid-stream")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_connection_closed_mid_stream(tmp_path, provider):
    replies: list[AnyReply] = [Reply("Cut off in the middle", disconnect_after=3)] * ATTEMPTS
    done, server = run_exec(tmp_path, provider, replies)
    assert_failed_with(done, server, "the model server closed the connection mid-stream")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_sse_is_reported_and_retried(tmp_path, provider):
    done, server = run_exec(tmp_path, provider, [Malformed()] * ATTEMPTS)
    assert_failed_with(
        done,
        server,
        "the model server sent malformed data: invalid JSON in an event "
        "(Unterminated string starting at: line 1 column 63 (char 62))",
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_transient_fault_then_an_answer(tmp_path, provider):
    """Each kind of fault is retried, and the run goes on to the answer that follows."""
    replies: list[AnyReply] = [
        Stall(after_events=2, keepalive="comment"),
        Reply("Cut off in the middle", reset_after=3),
        Malformed(),
        Reply("All tests pass."),
    ]
    done, server = run_exec(tmp_path, provider, replies, "--json", attempts=len(replies))
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    failed = [e["data"] for e in events if e["type"] == "model.failed"]
    assert [(f["attempt"], f["retryable"], f["will_retry"]) for f in failed] == [
        (1, True, True),
        (2, True, True),
        (3, True, True),
    ]
    assert [e["data"]["text"] for e in events if e["type"] == "model.completed"] == [
        "All tests pass."
    ]
    assert len(server.requests) == 4
