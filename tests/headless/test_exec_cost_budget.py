"""A cost budget with a model the price table does not know (a local vLLM or Ollama
model): refused until a price is configured, then enforced with it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.loopback import LoopbackOpenAI, Reply
from tests.support.projects import cli_env, commit_all, harness_cmd, init_repo

MODEL = "my-local-model"
# 1,000 tokens in and 1,000 out at $5 per million each: one cent per reply.
USAGE = {"input_tokens": 1000, "output_tokens": 1000}
REPLIES = [Reply("Looking.", tool_calls=[("glob", {"pattern": "*"})], usage=USAGE)] * 5


def local_server_project(tmp_path: Path, server: LoopbackOpenAI, extra: str = "") -> Path:
    project = init_repo(tmp_path / "repo")
    (project / "README.md").write_text("hi\n")
    commit_all(project)
    (project / ".harness").mkdir()
    (project / ".harness" / "config.toml").write_text(
        f'[openai]\nbase_url = "{server.base_url}"\n\n[engine]\nmax_cost_usd = 0.015\n{extra}'
    )
    return project


def run_exec(project: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_cmd("--exec", "look around", "--provider", "openai", "--model", MODEL),
        cwd=project,
        env=cli_env(tmp_path, HARNESS_PROVIDER__RETRY_BASE_DELAY_S="0.01"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_budget_for_a_model_without_a_price_is_refused(tmp_path):
    with LoopbackOpenAI(REPLIES) as server:
        project = local_server_project(tmp_path, server)
        done = run_exec(project, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    assert f"model '{MODEL}' has no known price" in lines[0]
    assert f'[pricing."{MODEL}"]' in lines[0] and "max_cost_usd" in lines[0]
    assert server.requests == []


def test_with_a_configured_price_the_budget_stops_the_session(tmp_path):
    price = f'\n[pricing."{MODEL}"]\ninput = 5.0\noutput = 5.0\n'
    with LoopbackOpenAI(REPLIES) as server:
        project = local_server_project(tmp_path, server, price)
        done = run_exec(project, tmp_path)
    assert done.returncode == 4, done.stderr
    assert "cost budget reached: $0.0200 of $0.0150" in done.stderr
    # Two replies at a cent each: the second passes the budget, so there is no third.
    assert len(server.requests) == 2


def test_a_reply_without_a_cost_stops_a_budgeted_session(tmp_path):
    """A server that reports no token usage: the reply's cost is unknown, and counting
    it as $0 would let the budget fail open."""
    price = f'\n[pricing."{MODEL}"]\ninput = 5.0\noutput = 5.0\n'
    silent = [Reply("Looking.", tool_calls=[("glob", {"pattern": "*"})], usage_reported=False)] * 5
    with LoopbackOpenAI(silent) as server:
        project = local_server_project(tmp_path, server, price)
        done = run_exec(project, tmp_path)
    assert done.returncode == 4, done.stderr
    assert "cost budget cannot be enforced" in done.stderr
    assert len(server.requests) == 1
