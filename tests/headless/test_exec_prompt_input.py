"""Prompts longer than the command line allows: `--exec -` reads stdin, `--exec @FILE`
a file."""

from __future__ import annotations

import json
import subprocess

from tests.support.loopback import LoopbackAnthropic, Reply
from tests.support.projects import cli_env, harness_cmd, init_repo, write_script


def exec_run(project, tmp_path, *args, env=None, **run):
    return subprocess.run(
        harness_cmd("--exec", *args, "--project", str(project)),
        cwd=project,
        env=env or cli_env(tmp_path),
        capture_output=True,
        timeout=60,
        **run,
    )


def long_prompt(size: int = 200 * 1024) -> str:
    """More than one argument may hold (128 KiB on Linux), of lines that differ, with
    text that is not ASCII and a first character that is @."""
    lines = []
    while sum(len(line.encode()) + 1 for line in lines) < size:
        lines.append(f"@ line {len(lines)}: grüße ✓ — keep every byte of this")
    return "\n".join(lines) + "\n"


def text_of(message: dict) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block["text"] for block in content if block.get("type") == "text")


def test_a_200_kib_prompt_on_stdin_reaches_the_model_intact(tmp_path):
    project = init_repo(tmp_path / "p")
    prompt = long_prompt()
    assert len(prompt.encode()) > 200 * 1024
    with LoopbackAnthropic([Reply("read it all")]) as server:
        done = exec_run(
            project,
            tmp_path,
            "-",
            "--provider",
            "anthropic",
            env=cli_env(tmp_path, **server.env()),
            input=prompt.encode(),
        )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "read it all"
    first = server.requests[0].body["messages"][0]
    assert first["role"] == "user"
    assert text_of(first) == prompt


def test_a_prompt_from_a_file_with_at(tmp_path):
    project = init_repo(tmp_path / "p")
    prompt_file = tmp_path / "prompt.md"
    prompt_file.write_text("Fix the bug.\n\nDetails: ünïcode and more.\n")
    script = write_script(tmp_path / "s.toml", '[[turn]]\ntext = "done"\n')
    done = exec_run(
        project,
        tmp_path,
        f"@{prompt_file}",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        text=True,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    inputs = [e["data"]["text"] for e in events if e["type"] == "input.received"]
    assert inputs[0] == prompt_file.read_text()


def test_a_missing_prompt_file_is_one_line_and_exit_2(tmp_path):
    project = init_repo(tmp_path / "p")
    missing = tmp_path / "nowhere.md"
    done = exec_run(project, tmp_path, f"@{missing}", "--provider", "scripted", text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("harness-tui: ") and str(missing) in done.stderr
    assert "No such file" in done.stderr


def test_a_prompt_on_stdin_leaves_no_stdin_for_approval_answers(tmp_path):
    project = init_repo(tmp_path / "p")
    done = exec_run(
        project,
        tmp_path,
        "-",
        "--approvals",
        "stdin",
        "--provider",
        "scripted",
        text=True,
        input="go",
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--exec @FILE" in done.stderr


def test_an_empty_prompt_on_stdin_is_a_usage_error(tmp_path):
    project = init_repo(tmp_path / "p")
    done = exec_run(project, tmp_path, "-", "--provider", "scripted", text=True, input="\n")
    assert done.returncode == 2
    assert done.stderr == "harness-tui: --exec needs a non-empty prompt\n"
