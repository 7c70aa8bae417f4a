"""The command line's error boundary: a domain error from any subcommand is one line on
stderr and its documented exit code, never a traceback."""

from __future__ import annotations

import subprocess

import pytest

from harness_tui.cli.errors import UsageError, exit_code_for
from harness_tui.cli.exitcodes import ExitCode
from harness_tui.config import ConfigError
from harness_tui.engine.engine import EngineError
from harness_tui.engine.worktree_sessions import WorktreeRefused
from harness_tui.engine.worktrees import GitError
from harness_tui.gc.drafts import DraftError
from harness_tui.policy.rules import PolicyLoadError
from harness_tui.providers.select import ProviderConfigError
from harness_tui.store import StoreConfigError, StoreError
from tests.support.projects import cli_env, harness_cmd, init_repo

# Nothing listens on port 1: the store cannot be reached.
UNREACHABLE = "postgresql://127.0.0.1:1/x"


@pytest.mark.parametrize(
    "command", [("gc", "status"), ("rules", "check"), ("worktrees",), ("tail", "0123abcd")]
)
def test_an_unreachable_store_is_one_line_and_exit_1(tmp_path, command):
    project = init_repo(tmp_path / "p")
    done = subprocess.run(
        harness_cmd("--store", UNREACHABLE, "--project", str(project), *command),
        cwd=project,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.FAILURE, done.stderr
    assert done.stderr.splitlines() == [
        "harness-tui: cannot reach PostgreSQL at 127.0.0.1:1 (database x): Connection refused"
    ]
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("x"), ExitCode.USAGE),
        (ConfigError("x"), ExitCode.USAGE),
        (PolicyLoadError("rules.toml", "x"), ExitCode.USAGE),
        (ProviderConfigError("x"), ExitCode.USAGE),
        (EngineError("x"), ExitCode.USAGE),
        (WorktreeRefused("x"), ExitCode.USAGE),
        (StoreError("x"), ExitCode.FAILURE),
        (StoreConfigError("x"), ExitCode.USAGE),
        (GitError("x"), ExitCode.FAILURE),
        (DraftError("x"), ExitCode.FAILURE),
        (FileNotFoundError(2, "No such file or directory", "x"), ExitCode.FAILURE),
        (RuntimeError("a bug"), None),
    ],
)
def test_every_domain_error_has_its_documented_exit_code(error, code):
    assert exit_code_for(error) == code
