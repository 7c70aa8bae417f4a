"""Approvals in headless runs: answered over stdin by another process, or exit 3."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support.loopback import LoopbackAnthropic, Reply
from tests.support.projects import (
    cli_env,
    commit_all,
    ended,
    harness_cmd,
    init_repo,
    start_exec,
    write_script,
)

PROMPTING = "echo outside > ../outside.txt"


def project(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("hi\n")
    commit_all(repo)
    return repo


def start(repo, tmp_path, *args, **env):
    return start_exec(
        repo, tmp_path, "go", *args, env=cli_env(tmp_path, **env), stdin=subprocess.PIPE
    )


def read_request(proc):
    """Read stderr until the approval request line, as a script answering it would."""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("{"):
            request = json.loads(line)
            if request["type"] == "approval.requested":
                return request
    raise AssertionError("no approval request on stderr")


def test_an_approval_answered_on_stdin_by_another_process(tmp_path):
    repo = project(tmp_path)
    script = write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = "writing"\n[[turn.tool_calls]]\nname = "bash"\n'
        f'arguments = {{ command = {PROMPTING!r} }}\n\n[[turn]]\ntext = "wrote it"\n',
    )
    proc = start(
        repo, tmp_path, "--provider", "scripted", "--model", str(script), "--approvals", "stdin"
    )
    with ended(proc):
        request = read_request(proc)
        assert request["summary"] == PROMPTING and request["rule_id"] == "write-outside-workspace"
        answer = {"approval_id": request["approval_id"], "decision": "allow_once"}
        out, err = proc.communicate(json.dumps(answer) + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert out.strip() == "wrote it"
    assert (tmp_path / "outside.txt").read_text() == "outside\n"


def test_a_denial_reason_reaches_the_model_over_the_wire(tmp_path):
    repo = project(tmp_path)
    replies = [
        Reply("Writing outside.", tool_calls=[("bash", {"command": PROMPTING})]),
        Reply("Understood, staying inside."),
    ]
    with LoopbackAnthropic(replies) as server:
        proc = start(
            repo, tmp_path, "--provider", "anthropic", "--approvals", "stdin", **server.env()
        )
        with ended(proc):
            request = read_request(proc)
            answer = {
                "approval_id": request["approval_id"],
                "decision": "deny",
                "reason": "keep to the repo",
            }
            out, err = proc.communicate(json.dumps(answer) + "\n", timeout=60)
    assert proc.returncode == 0, err
    assert not (tmp_path / "outside.txt").exists()
    results = [
        block
        for message in server.requests[1].body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    ]
    assert results[0]["is_error"] is True
    assert "denied by the user: keep to the repo" in json.dumps(results[0]["content"])


def test_without_a_way_to_answer_the_run_exits_3_naming_command_and_rule(tmp_path):
    repo = project(tmp_path)
    script = write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {PROMPTING!r} }}\n",
    )
    done = subprocess.run(
        harness_cmd(
            "--exec", "go", "--provider", "scripted", "--model", str(script), "--project", str(repo)
        ),
        cwd=repo,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert PROMPTING in last and "write-outside-workspace" in last
    assert not (tmp_path / "outside.txt").exists()


def test_never_mode_denies_instead_of_asking(tmp_path):
    repo = project(tmp_path)
    script = write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        f'arguments = {{ command = {PROMPTING!r} }}\n\n[[turn]]\ntext = "could not"\n',
    )
    done = subprocess.run(
        harness_cmd(
            "--exec",
            "go",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--project",
            str(repo),
            "--approval-mode",
            "never",
        ),
        cwd=repo,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "approval needed but mode is never" in done.stderr
    assert not (tmp_path / "outside.txt").exists()


def test_policy_check_and_test_commands(tmp_path):
    repo = project(tmp_path)
    check = subprocess.run(
        harness_cmd(
            "policy", "check", "FOO=1 command \\rm -rf /", "--json", "--project", str(repo)
        ),
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert check.returncode == 3, check.stderr
    verdict = json.loads(check.stdout.splitlines()[-1])
    assert verdict["decision"] == "forbid"
    assert verdict["segments"][0]["argv"][:2] == ["rm", "-rf"]
    policy = repo / ".harness" / "policy.toml"
    policy.parent.mkdir()
    policy.write_text(
        '[[rule]]\nid = "bad-example"\ndecision = "allow"\nreason = "x"\n'
        'pattern = ["ls"]\nmatch = ["cat file"]\n'
    )
    test = subprocess.run(
        harness_cmd("policy", "test", "--project", str(repo)),
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert test.returncode == 2
    assert str(policy) in test.stderr and "bad-example" in test.stderr


def asking_script(tmp_path):
    return write_script(
        tmp_path / "s.toml",
        f'[[turn]]\ntext = ""\n[[turn.tool_calls]]\nname = "bash"\n'
        f"arguments = {{ command = {PROMPTING!r} }}\n",
    )


@pytest.mark.parametrize("stdin", ["closed pipe", "/dev/null"])
def test_stdin_at_its_end_means_nobody_can_answer_exit_3(tmp_path, stdin):
    repo = project(tmp_path)
    script = asking_script(tmp_path)
    given = {"input": ""} if stdin == "closed pipe" else {"stdin": subprocess.DEVNULL}
    done = subprocess.run(
        harness_cmd(
            "--exec",
            "go",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--approvals",
            "stdin",
            "--project",
            str(repo),
        ),
        cwd=repo,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        **given,
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        f"harness-tui: approval needed for `{PROMPTING}` (rule write-outside-workspace, "
        "risk medium): nobody can answer it here; run with --approvals stdin, or answer it "
        "in the dashboard"
    )
    assert not (tmp_path / "outside.txt").exists()


def test_stdin_ending_after_a_request_was_shown_exits_3(tmp_path):
    repo = project(tmp_path)
    proc = start(
        repo,
        tmp_path,
        "--provider",
        "scripted",
        "--model",
        str(asking_script(tmp_path)),
        "--approvals",
        "stdin",
    )
    with ended(proc):
        read_request(proc)
        _, err = proc.communicate("", timeout=60)  # stdin closes unanswered
    assert proc.returncode == 3, err
    assert (
        err.strip().splitlines()[-1].startswith(f"harness-tui: approval needed for `{PROMPTING}`")
    )
