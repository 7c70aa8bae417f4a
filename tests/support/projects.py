"""Scratch projects for tests: real git repositories in temporary directories."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness_tui.providers.select import seed_demo_project

REPO_ROOT = Path(__file__).resolve().parents[2]

# The demo's slower check sleeps [scripted] slow_step_s (6 s, for a person watching).
# Tests play the same script with a shorter one, and a shorter [tools] inline_ms that
# the check still outlives, so it becomes a background task as it does for a person.
# The demo's plain test runs must still finish within inline_ms on a loaded machine.
QUICK_DEMO = {"scripted.slow_step_s": 2.0, "tools.inline_ms": 1500}
QUICK_DEMO_ENV = {"HARNESS_SCRIPTED__SLOW_STEP_S": "2.0", "HARNESS_TOOLS__INLINE_MS": "1500"}


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="Test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Test",
        GIT_COMMITTER_EMAIL="test@example.com",
    )
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def commit_all(repo: Path, message: str = "initial") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def demo_repo(path: Path) -> Path:
    """A git repo holding the demo project: calc.py with a bug and its failing test,
    committed, and debug.log, a stray untracked file."""
    init_repo(path)
    seed_demo_project(path)
    stray = (path / "debug.log").read_text()
    (path / "debug.log").unlink()
    commit_all(path)
    (path / "debug.log").write_text(stray)
    return path


def write_script(path: Path, body: str) -> Path:
    """A scripted-provider script (TOML) for one test."""
    path.write_text(textwrap.dedent(body))
    return path


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment for running the CLI in a subprocess: the developer's own config
    and API keys never leak into a test run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARNESS_", "ANTHROPIC_", "OPENAI_"))
    }
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg-cache")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def harness_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness_tui", *args]


def start_exec(
    project: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None, **popen
) -> subprocess.Popen:
    """`harness-tui --exec ARGS --project PROJECT` started in the background, as a
    user's second terminal would; text pipes for stdout and stderr."""
    return subprocess.Popen(
        harness_cmd("--exec", *args, "--project", str(project)),
        cwd=project,
        env=env or cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run_exec(
    project: Path,
    *args: str,
    env: dict[str, str],
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`harness-tui --exec ARGS --project PROJECT` run to its end, as a user types it;
    its exit code, stdout and stderr as text."""
    return subprocess.run(
        harness_cmd("--exec", *args, "--project", str(project)),
        cwd=cwd or project,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def ended(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """A started run is over when the block is, even when the test failed in it: no
    process of a test outlives it."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def events_until(proc: subprocess.Popen, event_type: str) -> list[dict]:
    """Read a `--json` run's events until the first of `event_type` (included)."""
    import json

    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(json.loads(line))
        if seen[-1]["type"] == event_type:
            return seen
    raise AssertionError(f"the run ended without a {event_type} event")


def snapshot(repo: Path) -> tuple[list[str], dict[str, str]]:
    """What a person would notice changing in their checkout: git status, and the
    content of every file. `.git` is git's, `.harness/` is where harness-tui keeps its
    own data for the project (artifacts such as task output): neither is the session's."""
    status = [
        line for line in git(repo, "status", "--porcelain").splitlines() if line != "?? .harness/"
    ]
    files = {
        str(path.relative_to(repo)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(repo.rglob("*"))
        if path.is_file() and not {".git", ".harness"} & set(path.relative_to(repo).parts)
    }
    return status, files


def worktree_paths(repo: Path) -> list[str]:
    return [
        line.removeprefix("worktree ")
        for line in git(repo, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def agent_entry(
    name: str,
    protocol: str,
    command: str | Path,
    args: Sequence[str | Path] = (),
    env: Mapping[str, str | Path] | None = None,
) -> str:
    """An `[agents.NAME]` entry for a project's config (JSON strings are valid TOML
    basic strings)."""
    pairs = ", ".join(f"{json.dumps(k)} = {json.dumps(str(v))}" for k, v in (env or {}).items())
    return (
        f"[agents.{name}]\n"
        f"protocol = {json.dumps(protocol)}\n"
        f"command = {json.dumps(str(command))}\n"
        f"args = {json.dumps([str(a) for a in args])}\n"
        f"env = {{ {pairs} }}\n"
    )
