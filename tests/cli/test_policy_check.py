"""`harness-tui policy check`: the exit code is the decision (0 allow, 1 prompt,
3 forbid), and with --json stdout is one JSON document and nothing else."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.projects import cli_env, harness_cmd, init_repo

DECISIONS = [("ls -la", "allow", 0), ("sudo ls", "prompt", 1), ("rm -rf /", "forbid", 3)]


def policy_check(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    project = init_repo(tmp_path / "p")
    return subprocess.run(
        harness_cmd("policy", "check", *args, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("command", "decision", "code"), DECISIONS)
def test_with_json_stdout_is_one_json_document_and_the_exit_code_the_decision(
    tmp_path, command, decision, code
):
    done = policy_check(tmp_path, command, "--json")
    assert done.returncode == code, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["command"] == command and verdict["decision"] == decision
    assert done.stderr == ""


@pytest.mark.parametrize(("command", "decision", "code"), DECISIONS)
def test_without_json_the_account_is_text_and_the_exit_code_the_decision(
    tmp_path, command, decision, code
):
    done = policy_check(tmp_path, command)
    assert done.returncode == code, done.stderr
    assert done.stdout.startswith(f"{decision} (")
    assert f"command: {command}" in done.stdout


def test_the_mode_changes_the_decision_and_so_the_exit_code(tmp_path):
    assert policy_check(tmp_path, "sudo ls", "--mode", "never").returncode == 3


def test_no_sandbox_judges_as_the_engine_does_without_one(tmp_path):
    command = "python3 -c 'print(1)'"
    assert policy_check(tmp_path, command).returncode == 0
    done = policy_check(tmp_path, command, "--no-sandbox", "--json")
    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    assert (verdict["sandboxed"], verdict["rule"]) == (False, "interpreter-inline-code")
    text = policy_check(tmp_path, "terraform apply", "--no-sandbox").stdout
    assert "terraform is not covered by an allow rule, and no sandbox confines it" in text
    assert "sandbox: none" in text.splitlines()
