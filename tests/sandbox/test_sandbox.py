"""The sandbox's parts on their own: the bwrap command line, the environment allowlist,
the git layout a worktree needs, detection; and a real bwrap run of what they build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness_tui.sandbox import allowlisted_env, build_sandbox, detect
from harness_tui.sandbox.bwrap import Mounts, bwrap_args
from harness_tui.sandbox.detect import forget
from harness_tui.sandbox.layout import git_parts, write_grants
from tests.support.projects import commit_all, git, init_repo

needs_bwrap = pytest.mark.skipif(not detect().ok, reason=f"no sandbox here: {detect().reason}")


def test_mounts_hide_then_grant_then_protect_in_that_order():
    mounts = Mounts(
        workspace="/w",
        homes=("/home/u",),
        read=("/home/u/.cargo",),
        write=("/home/u/.cache/pip",),
        git_visible=("/repo/.git",),
        git_writable=("/repo/.git/worktrees/s",),
        protected=("/w/.harness", "/w/.git"),
    )
    args = bwrap_args(mounts, cwd="/w/sub")
    order = [args.index(x) for x in ("/home/u", "/home/u/.cargo", "/home/u/.cache/pip")]
    assert order == sorted(order)
    assert args.index("/repo/.git") < args.index("/w") < args.index("/repo/.git/worktrees/s")
    assert args.index("/repo/.git/worktrees/s") < args.index("/w/.harness")
    assert args[args.index("/w") - 1] == "--bind"
    assert args[args.index("/w/.harness") - 1] == "--ro-bind-try"
    assert "--unshare-net" in args and "--unshare-pid" in args and "--die-with-parent" in args
    assert args[args.index("--cap-drop") + 1] == "ALL"
    assert args[-2:] == ["--chdir", "/w/sub"]
    assert "--unshare-net" not in bwrap_args(mounts, cwd="/w", network=True)


def test_read_only_binds_the_workspace_and_config_writes_read_only():
    args = bwrap_args(Mounts(workspace="/w", writable=False, write=("/x",)), cwd="/w")
    assert args[args.index("/w") - 1] == "--ro-bind"
    assert args[args.index("/x") - 1] == "--ro-bind-try"


def test_the_environment_is_an_allowlist_not_the_engine_minus_secrets():
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TERM": "xterm",
        "ANTHROPIC_API_KEY": "sk-ant-x",
        "HARNESS_STORE__URL": "postgresql://u:pw@db/x",
        "SOME_UNUSUAL_NAME": "token",
        "VIRTUAL_ENV": "/v",
    }
    env = allowlisted_env(environ, ["VIRTUAL_ENV"])
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TERM": "xterm",
        "VIRTUAL_ENV": "/v",
        "TMPDIR": "/tmp",
    }


def test_a_worktree_gets_its_git_dir_objects_and_branch_writable_hooks_and_config_not(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "a.txt").write_text("a\n")
    commit_all(repo)
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "harness/s1", str(worktree))
    parts = git_parts(worktree)
    common = str((repo / ".git").resolve())
    assert parts.visible == (common,)
    assert f"{common}/worktrees/wt" in parts.writable
    assert f"{common}/objects" in parts.writable
    assert f"{common}/refs/heads/harness" in parts.writable
    assert not any(p.endswith(("hooks", "config")) for p in parts.writable)
    assert str(worktree / ".git") in parts.protected
    assert f"{common}/worktrees/wt/commondir" in parts.protected


def test_a_plain_repository_binds_git_onto_itself_and_its_hooks_and_config_read_only(tmp_path):
    repo = init_repo(tmp_path / "repo")
    parts = git_parts(repo)
    assert parts.writable == (str(repo / ".git"),)
    assert parts.protected == (str(repo / ".git" / "hooks"), str(repo / ".git" / "config"))


def test_a_write_grant_is_the_folder_or_its_nearest_existing_ancestor_never_root(tmp_path):
    assert write_grants([str(tmp_path / "new" / "deeper" / "f.txt")]) == (str(tmp_path),)
    assert write_grants(["/f.txt"]) == ()


def test_missing_or_broken_bubblewrap_is_reported_with_the_reason(tmp_path):
    forget()
    missing = detect(str(tmp_path / "nope" / "bwrap"))
    assert not missing.ok and "nope/bwrap" in missing.reason
    broken = tmp_path / "bwrap"
    broken.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    broken.chmod(0o755)
    found = detect(str(broken))
    assert not found.ok and "No permissions to create new namespace" in found.reason
    assert not detect("", path_env=str(tmp_path / "empty")).ok


@needs_bwrap
def test_a_command_in_the_sandbox_writes_its_workspace_and_nothing_else(tmp_path):
    workspace = init_repo(tmp_path / "w")
    outside = tmp_path / "outside.txt"
    outside.write_text("original\n")
    sandbox = build_sandbox(
        "workspace-write",
        network=False,
        workspace=workspace,
        environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")},
        bwrap=detect().bwrap,
    )
    script = (
        f"echo changed > {outside}; echo x > .git/hooks/post-checkout; echo y >> .git/config; "
        "mv .git .git-away; mkdir -p .harness && echo z > .harness/policy.toml; "
        "echo ok > made.txt; echo pid=$$"
    )
    done = subprocess.run(
        sandbox.argv(["bash", "-c", script], cwd=workspace),
        env=sandbox.env,
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert outside.read_text() == "original\n"
    assert (workspace / "made.txt").read_text() == "ok\n"
    assert not (workspace / ".git" / "hooks" / "post-checkout").exists()
    assert (workspace / ".git").is_dir() and not (workspace / ".git-away").exists()
    assert not (workspace / ".harness" / "policy.toml").exists()
    assert "pid=2" in done.stdout  # its own PID namespace
    assert done.stderr.count("Read-only file system") >= 3


def test_danger_full_access_and_the_fallback_run_commands_as_they_are(tmp_path):
    env = {"PATH": "/usr/bin", "HOME": "/h", "CANARY": "1"}
    danger = build_sandbox(
        "danger-full-access",
        network=False,
        workspace=tmp_path,
        environ=env,
        bwrap="/usr/bin/bwrap",
        unconfined_env=env,
    )
    assert danger.disabled and not danger.confined and danger.env["CANARY"] == "1"
    assert danger.argv(["true"], cwd=tmp_path) == ["true"]
    fallback = build_sandbox(
        "workspace-write",
        network=False,
        workspace=tmp_path,
        environ=env,
        bwrap=None,
        unavailable="no bwrap",
    )
    assert fallback.fallback and "CANARY" not in fallback.env
    assert fallback.argv(["true"], cwd=tmp_path) == ["true"]


def test_paths_are_resolved_so_a_symlinked_workspace_is_bound_where_it_really_is(tmp_path):
    real = init_repo(tmp_path / "real")
    link = tmp_path / "link"
    link.symlink_to(real)
    sandbox = build_sandbox(
        "workspace-write",
        network=False,
        workspace=link,
        environ={"HOME": "/nohome"},
        bwrap="/usr/bin/bwrap",
    )
    assert sandbox.workspace == str(Path(real).resolve())
