"""The offline demo as a new user meets it headless: it never runs without being asked
for, never touches the user's project, and says it is the demo on every line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.loopback import LoopbackOpenAI, Reply
from tests.support.projects import (
    QUICK_DEMO_ENV,
    cli_env,
    commit_all,
    git,
    harness_cmd,
    init_repo,
    snapshot,
    start_exec,
    worktree_paths,
)

USERS_CALC = "def add(a, b):\n    return a - b\n"
USERS_TEST = (
    "import unittest\n\nfrom calc import add\n\n\n"
    "class AddTest(unittest.TestCase):\n"
    "    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n"
)


def users_project(tmp_path: Path) -> Path:
    """A project of the user's own: a calc.py with a failing test, both committed, and
    an untracked debug.log that is theirs."""
    project = init_repo(tmp_path / "repo")
    (project / "calc.py").write_text(USERS_CALC)
    (project / "test_calc.py").write_text(USERS_TEST)
    commit_all(project)
    (project / "debug.log").write_text("mine: keep me\n")
    return project


def run_exec(project: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_cmd("--exec", "fix the failing test", *args, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path, **QUICK_DEMO_ENV),
        capture_output=True,
        text=True,
        timeout=120,
    )


def demo_copy(stderr: str) -> Path:
    """The workspace the demo's session line names."""
    return Path(stderr.split(" · scripted/demo · ", 1)[1].splitlines()[0])


def users_test_fails(project: Path) -> bool:
    done = subprocess.run(
        ["python3", "-m", "unittest", "-q"], cwd=project, capture_output=True, text=True
    )
    return done.returncode != 0


def test_exec_without_a_provider_exits_2_with_one_line_and_leaves_the_project_alone(tmp_path):
    project = users_project(tmp_path)
    before = snapshot(project)
    done = run_exec(project, tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, lines
    for named in (
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "[openai] base_url",
        "--provider scripted",
    ):
        assert named in lines[0], lines[0]
    assert lines[0].startswith("harness-tui: no model provider configured")
    assert snapshot(project) == before
    assert not (project / ".harness").exists()
    assert users_test_fails(project)


def test_a_configured_openai_base_url_is_a_provider_without_a_key(tmp_path):
    """A local OpenAI-compatible server needs no key: [openai] base_url is enough for
    --exec to use it instead of refusing (or playing the demo)."""
    project = users_project(tmp_path)
    with LoopbackOpenAI([Reply("Served locally.")]) as server:
        (project / ".harness").mkdir()
        (project / ".harness" / "config.toml").write_text(
            f'[openai]\nbase_url = "{server.base_url}"\n'
        )
        done = run_exec(project, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Served locally.\n"
    assert len(server.requests) == 1


@pytest.mark.parametrize("worktree", [False, True], ids=["in-place", "worktree"])
def test_the_demo_works_on_its_own_copy_and_says_so_on_every_line(tmp_path, worktree):
    project = users_project(tmp_path)
    before = snapshot(project)
    extra = ["--worktree"] if worktree else []
    done = run_exec(project, tmp_path, "--provider", "scripted", "--approval-mode", "auto", *extra)
    assert done.returncode == 0, done.stderr

    # The user's project is as it was: their debug.log, their failing test, no branch.
    assert snapshot(project) == before
    assert (project / "debug.log").read_text() == "mine: keep me\n"
    assert users_test_fails(project)
    assert worktree_paths(project) == [str(project)]
    assert git(project, "branch", "--list").split() == ["*", "main"]

    # The demo did its whole job, on its own copy outside the user's tree.
    copy = demo_copy(done.stderr)
    assert copy.is_relative_to(tmp_path / "xdg-data")
    assert "return total(values) / len(values)" in (copy / "calc.py").read_text()
    assert not (copy / "debug.log").exists()

    # Every line says it is the demo; none names the user's project.
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert lines
    unmarked = [line for line in lines if "[offline demo]" not in line]
    assert unmarked == []
    assert done.stdout.startswith("[offline demo] Fixed the failing test")
    assert str(project) not in done.stdout + done.stderr


def ignoring_harness_checkout(tmp_path: Path) -> Path:
    """A checkout whose .gitignore lists .harness/, as many do, and whose user ignores
    *.log everywhere (git's global excludes file under XDG_CONFIG_HOME)."""
    project = init_repo(tmp_path / "repo")
    (project / "README.md").write_text("my project\n")
    (project / ".gitignore").write_text(".harness/\n")
    commit_all(project)
    excludes = tmp_path / "xdg-config" / "git" / "ignore"
    excludes.parent.mkdir(parents=True)
    excludes.write_text("*.log\n")
    return project


def test_allowing_the_demos_cleanup_removes_its_stray_file_in_auto_mode(tmp_path):
    project = ignoring_harness_checkout(tmp_path)
    done = run_exec(project, tmp_path, "--provider", "scripted", "--approval-mode", "auto")
    assert done.returncode == 0, done.stderr
    assert "→ bash: git clean -f debug.log" in done.stderr
    copy = demo_copy(done.stderr)
    assert (copy / "calc.py").exists()
    assert not (copy / "debug.log").exists()


def test_allowing_the_demos_cleanup_on_stdin_removes_its_stray_file(tmp_path):
    project = ignoring_harness_checkout(tmp_path)
    proc = start_exec(
        project,
        tmp_path,
        "fix the failing test",
        "--provider",
        "scripted",
        "--approvals",
        "stdin",
        env=cli_env(tmp_path, **QUICK_DEMO_ENV),
        stdin=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("{"):
            request = json.loads(line)
            break
    else:
        raise AssertionError(f"no approval request on stderr: {seen}")
    assert request["summary"] == "git clean -f debug.log"
    copy = demo_copy("".join(seen))
    assert (copy / "debug.log").exists()
    answer = {"approval_id": request["approval_id"], "decision": "allow_once"}
    out, err = proc.communicate(json.dumps(answer) + "\n", timeout=120)
    assert proc.returncode == 0, err
    assert not (copy / "debug.log").exists()
    # The request a script reads says it is the demo's, too.
    assert request.get("offline_demo") is True
    assert out.startswith("[offline demo] Fixed the failing test")
