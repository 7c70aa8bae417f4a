"""Git worktree helpers against real repositories: creation from a base branch, the
failure cases a user can run into (missing base, existing branch, path collision, stale
registrations, held locks), committing, diff summaries, removal and pruning."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from harness_tui import paths
from harness_tui.engine import worktrees
from harness_tui.engine.worktrees import (
    DiffSummary,
    GitError,
    commit_all,
    create_worktree,
    current_branch,
    diff_summary,
    list_worktrees,
    prune_worktrees,
    remove_worktree,
    resolve_ref,
    worktree_path,
    worktree_root,
)
from tests.support.projects import commit_all as commit_fixture
from tests.support.projects import git, init_repo
from tests.support.waiting import async_settle


@pytest.fixture(autouse=True)
def _no_user_gitconfig(tmp_path_factory, monkeypatch):
    """A HOME without ~/.gitconfig, so the developer's identity, hooks path or signing
    settings never change what these tests see."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("hello\n")
    (repo / "old.txt").write_text("one\ntwo\nthree\n")
    commit_fixture(repo)
    return repo


def head(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


def branches(repo: Path) -> set[str]:
    return set(git(repo, "branch", "--format=%(refname:short)").split())


async def test_worktree_is_created_outside_the_checkout_on_a_new_branch(repo):
    path = worktree_path(repo, "s1")
    info = await create_worktree(repo, path, "harness/s1", "main")

    assert info.path == path
    assert info.branch == "harness/s1"
    assert info.base_commit == head(repo, "main")
    assert (path / "README.md").read_text() == "hello\n"
    assert await current_branch(path) == "harness/s1"
    # Under the user's data directory, named after the project, not inside the repo.
    assert path.is_relative_to(paths.user_data_dir() / "worktrees")
    assert worktree_root(repo).name.startswith("repo-")
    assert not path.is_relative_to(repo)
    # The user's checkout is untouched.
    assert await current_branch(repo) == "main"
    assert git(repo, "status", "--porcelain") == ""
    listed = {entry.path: entry.branch for entry in await list_worktrees(repo)}
    assert listed == {repo: "main", path: "harness/s1"}


async def test_base_may_be_another_branch(repo):
    git(repo, "switch", "-q", "-c", "develop")
    (repo / "feature.txt").write_text("from develop\n")
    commit_fixture(repo, "develop work")
    git(repo, "switch", "-q", "main")

    info = await create_worktree(repo, worktree_path(repo, "s2"), "harness/s2", "develop")

    assert info.base_commit == head(repo, "develop")
    assert (info.path / "feature.txt").read_text() == "from develop\n"
    assert not (repo / "feature.txt").exists()


async def test_missing_base_ref_is_a_clear_error_and_leaves_nothing_behind(repo):
    path = worktree_path(repo, "s3")
    with pytest.raises(GitError) as caught:
        await create_worktree(repo, path, "harness/s3", "release-9")

    assert str(caught.value) == f"base ref 'release-9' not found in {repo}"
    assert not path.exists()
    assert "harness/s3" not in branches(repo)
    with pytest.raises(GitError, match="base ref 'nope' not found"):
        await resolve_ref(repo, "nope")


async def test_an_existing_branch_is_never_reused(repo):
    git(repo, "branch", "harness/s4")
    (repo / "README.md").write_text("moved on\n")
    commit_fixture(repo, "main moves on")
    before = head(repo, "harness/s4")

    with pytest.raises(GitError) as caught:
        await create_worktree(repo, worktree_path(repo, "s4"), "harness/s4", "main")

    assert str(caught.value) == f"branch 'harness/s4' already exists in {repo}"
    assert head(repo, "harness/s4") == before
    assert len(await list_worktrees(repo)) == 1


async def test_a_path_that_exists_is_a_collision(repo):
    path = worktree_path(repo, "s5")
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("mine\n")

    with pytest.raises(GitError) as caught:
        await create_worktree(repo, path, "harness/s5", "main")

    assert str(caught.value).startswith(f"path collision: {path} already exists")
    assert (path / "notes.txt").read_text() == "mine\n"
    assert "harness/s5" not in branches(repo)


async def test_an_existing_worktree_path_is_a_collision(repo):
    path = worktree_path(repo, "s6")
    await create_worktree(repo, path, "harness/s6", "main")

    with pytest.raises(GitError, match=r"path collision: .* is already a worktree"):
        await create_worktree(repo, path, "harness/s6b", "main")
    assert "harness/s6b" not in branches(repo)


async def test_an_empty_folder_at_the_path_is_used(repo):
    path = worktree_path(repo, "s7")
    path.mkdir(parents=True)

    info = await create_worktree(repo, path, "harness/s7", "main")
    assert (info.path / "README.md").exists()


async def test_a_stale_registration_of_the_path_is_pruned_and_the_add_retried(repo):
    path = worktree_path(repo, "s8")
    await create_worktree(repo, path, "harness/s8", "main")
    shutil.rmtree(path)  # deleted by hand, not with `git worktree remove`

    info = await create_worktree(repo, path, "harness/s8-again", "main")

    assert await current_branch(info.path) == "harness/s8-again"
    listed = {entry.path: entry.branch for entry in await list_worktrees(repo)}
    assert listed == {repo: "main", path: "harness/s8-again"}


async def test_worktrees_are_created_concurrently_in_one_repository(repo):
    infos = await asyncio.gather(
        *(
            create_worktree(repo, worktree_path(repo, f"c{i}"), f"harness/c{i}", "main")
            for i in range(4)
        )
    )
    assert {await current_branch(info.path) for info in infos} == {
        f"harness/c{i}" for i in range(4)
    }
    assert len(await list_worktrees(repo)) == 5


async def test_a_held_ref_lock_is_waited_for(repo):
    lock = repo / ".git" / "refs" / "heads" / "harness" / "s9.lock"
    lock.parent.mkdir(parents=True)
    lock.write_text("")
    task = asyncio.create_task(
        create_worktree(repo, worktree_path(repo, "s9"), "harness/s9", "main")
    )
    await async_settle()  # a wait for something that must not happen
    assert not task.done()  # held up by the lock, neither failed nor finished
    lock.unlink()

    info = await task
    assert await current_branch(info.path) == "harness/s9"


async def test_commit_waits_for_a_held_index_lock(repo):
    info = await create_worktree(repo, worktree_path(repo, "s10"), "harness/s10", "main")
    (info.path / "README.md").write_text("changed\n")
    lock = Path(
        git(info.path, "rev-parse", "--path-format=absolute", "--git-path", "index.lock").strip()
    )
    lock.write_text("")
    task = asyncio.create_task(commit_all(info.path, "change readme"))
    await async_settle()
    assert not task.done()
    lock.unlink()

    sha = await task
    assert sha == head(repo, "harness/s10")
    assert git(repo, "show", "harness/s10:README.md") == "changed\n"


async def test_a_lock_that_stays_held_is_a_clear_error(repo, monkeypatch):
    # The same retries as a user's, without their three seconds of patience.
    monkeypatch.setattr(worktrees, "LOCK_RETRY_DELAYS_S", (0.01, 0.02, 0.04))
    info = await create_worktree(repo, worktree_path(repo, "s11"), "harness/s11", "main")
    (info.path / "README.md").write_text("changed\n")
    lock = Path(
        git(info.path, "rev-parse", "--path-format=absolute", "--git-path", "index.lock").strip()
    )
    lock.write_text("")

    with pytest.raises(GitError) as caught:
        await commit_all(info.path, "change readme")

    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"git add failed in {info.path}: ")
    assert f"{lock} is held by another git process" in message


async def test_commit_all_commits_every_change_with_the_summary_as_message(repo):
    info = await create_worktree(repo, worktree_path(repo, "s12"), "harness/s12", "main")
    (info.path / "README.md").write_text("hello\nworld\n")
    (info.path / "new.py").write_text("a = 1\nb = 2\n")
    (info.path / "old.txt").unlink()
    message = "Fix the greeting\n\n# Details\n- add new.py\n"

    sha = await commit_all(info.path, message)

    assert sha == head(repo, "harness/s12")
    assert git(info.path, "status", "--porcelain") == ""
    # The summary is kept as written, its markdown heading included.
    assert git(repo, "log", "-1", "--format=%B", "harness/s12").strip() == message.strip()
    summary = await diff_summary(repo, info.base_commit, "harness/s12")
    assert summary == DiffSummary(
        files=3, insertions=3, deletions=3, paths=("README.md", "new.py", "old.txt")
    )
    # Nothing reached the user's checkout.
    assert not (repo / "new.py").exists()
    assert head(repo, "main") == info.base_commit


async def test_commit_all_with_nothing_changed_returns_none(repo):
    info = await create_worktree(repo, worktree_path(repo, "s13"), "harness/s13", "main")
    assert await commit_all(info.path, "nothing") is None
    assert head(repo, "harness/s13") == info.base_commit
    assert await diff_summary(repo, info.base_commit, "harness/s13") == DiffSummary()


async def test_commit_uses_a_fixed_identity_only_when_none_is_configured(repo):
    info = await create_worktree(repo, worktree_path(repo, "s14"), "harness/s14", "main")
    (info.path / "a.txt").write_text("a\n")
    await commit_all(info.path, "first")
    assert git(repo, "log", "-1", "--format=%an <%ae>", "harness/s14").strip() == (
        "harness-tui <harness-tui@localhost>"
    )

    git(repo, "config", "user.name", "Ada Lovelace")
    git(repo, "config", "user.email", "ada@example.com")
    (info.path / "b.txt").write_text("b\n")
    await commit_all(info.path, "second")
    assert git(repo, "log", "-1", "--format=%an <%ae>", "harness/s14").strip() == (
        "Ada Lovelace <ada@example.com>"
    )


async def test_git_variables_of_the_callers_environment_are_ignored(repo, tmp_path, monkeypatch):
    other = init_repo(tmp_path / "other")
    (other / "x").write_text("x\n")
    commit_fixture(other)
    # As inside a git hook: these would point every git call at the other repository.
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Leaked")

    info = await create_worktree(repo, worktree_path(repo, "s15"), "harness/s15", "main")
    (info.path / "c.txt").write_text("c\n")
    await commit_all(info.path, "third")

    assert "harness/s15" in branches(repo)
    assert "harness/s15" not in branches(other)
    assert git(repo, "log", "-1", "--format=%an", "harness/s15").strip() == "harness-tui"


async def test_diff_summary_counts_only_the_branch_side(repo):
    info = await create_worktree(repo, worktree_path(repo, "s16"), "harness/s16", "main")
    (info.path / "image.bin").write_bytes(b"\x00\x01\x02binary")
    (info.path / "README.md").write_text("hello\nagain\n")
    (info.path / "old.txt").rename(info.path / "moved.txt")  # counted once, by its new name
    await commit_all(info.path, "add image")
    # The base branch moves on meanwhile; that is not the session's change.
    (repo / "unrelated.txt").write_text("1\n2\n3\n4\n")
    commit_fixture(repo, "main moves on")

    summary = await diff_summary(repo, "main", "harness/s16")

    assert summary == DiffSummary(
        files=3, insertions=1, deletions=0, paths=("README.md", "image.bin", "moved.txt")
    )


async def test_remove_worktree_discards_the_folder_and_keeps_the_branch(repo):
    info = await create_worktree(repo, worktree_path(repo, "s17"), "harness/s17", "main")
    (info.path / "kept.txt").write_text("committed\n")
    sha = await commit_all(info.path, "keep this")
    (info.path / "scratch.txt").write_text("never committed\n")  # removal must not balk

    await remove_worktree(repo, info.path)

    assert not info.path.exists()
    assert [entry.path for entry in await list_worktrees(repo)] == [repo]
    assert head(repo, "harness/s17") == sha
    assert git(repo, "show", "harness/s17:kept.txt") == "committed\n"
    await remove_worktree(repo, info.path)  # a second removal is harmless


async def test_prune_forgets_worktrees_whose_folder_is_gone(repo):
    gone = await create_worktree(repo, worktree_path(repo, "s18"), "harness/s18", "main")
    kept = await create_worktree(repo, worktree_path(repo, "s19"), "harness/s19", "main")
    shutil.rmtree(gone.path)
    stale = {entry.path: entry for entry in await list_worktrees(repo)}[gone.path]
    assert stale.prunable is not None

    pruned = await prune_worktrees(repo)

    assert [entry.path for entry in pruned] == [gone.path]
    assert [entry.path for entry in await list_worktrees(repo)] == [repo, kept.path]
    assert {"harness/s18", "harness/s19"} <= branches(repo)
    assert await prune_worktrees(repo) == []


async def test_current_branch_of_a_detached_head_is_none(repo):
    git(repo, "switch", "-q", "--detach", "main")
    assert await current_branch(repo) is None


async def test_a_folder_that_is_not_a_repository_is_named_in_the_error(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError) as caught:
        await current_branch(plain)
    assert str(caught.value) == f"{plain} is not a git repository"


async def test_another_process_adding_worktrees_at_the_same_time(repo, tmp_path):
    # As when a second harness-tui, or the user, adds worktrees to the same repository:
    # git may then see the other's worktree half made, which must not fail ours.
    others = tmp_path / "others"
    # Plain git is not immune to the race itself, so the other side retries its adds.
    script = (
        "for i in $(seq 1 12); do git branch other/$i main; "
        f"until git worktree add -q {others}/$i other/$i 2>/dev/null; do sleep 0.05; done; done"
    )
    other = await asyncio.create_subprocess_exec("bash", "-c", script, cwd=repo)
    infos = await asyncio.gather(
        *(
            create_worktree(repo, worktree_path(repo, f"p{i}"), f"harness/p{i}", "main")
            for i in range(6)
        )
    )
    assert await other.wait() == 0

    mine = {entry.path for entry in await list_worktrees(repo)} & {i.path for i in infos}
    assert mine == {info.path for info in infos}
    assert len(await list_worktrees(repo)) == 1 + 6 + 12
