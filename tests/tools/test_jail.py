"""The path jail against real directories and real symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness_tui.policy.jail import PathEscapeError, resolve_in_workspace, workspace_relative


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    workspace = tmp_path / "ws"
    outside = tmp_path / "outside"
    (workspace / "src").mkdir(parents=True)
    (workspace / "src" / "app.py").write_text("print('hi')\n")
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    return workspace, outside


def test_relative_and_absolute_paths_inside_are_allowed(layout):
    workspace, _ = layout
    real = workspace.resolve()
    assert resolve_in_workspace(workspace, "src/app.py") == real / "src" / "app.py"
    assert resolve_in_workspace(workspace, str(workspace / "src/app.py")) == real / "src/app.py"
    # Not yet existing files (write_file targets) and `..` that stays inside are fine.
    assert resolve_in_workspace(workspace, "new/dir/file.txt") == real / "new/dir/file.txt"
    assert resolve_in_workspace(workspace, "src/../README.md") == real / "README.md"
    assert resolve_in_workspace(workspace, ".") == real


def test_dotdot_leaving_the_workspace_is_refused(layout):
    workspace, _ = layout
    with pytest.raises(PathEscapeError) as info:
        resolve_in_workspace(workspace, "../outside/secret.txt")
    message = str(info.value)
    assert "../outside/secret.txt" in message
    assert str(workspace.resolve()) in message
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, "src/../../outside")


def test_absolute_path_outside_is_refused(layout):
    workspace, outside = layout
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, str(outside / "secret.txt"))
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, "/etc/passwd")


def test_sibling_with_the_workspace_as_name_prefix_is_outside(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (tmp_path / "ws2").mkdir()
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, str(tmp_path / "ws2" / "x"))


def test_symlinked_file_pointing_outside_is_refused(layout):
    workspace, outside = layout
    os.symlink(outside / "secret.txt", workspace / "innocent.txt")
    with pytest.raises(PathEscapeError) as info:
        resolve_in_workspace(workspace, "innocent.txt")
    assert "innocent.txt" in str(info.value)


def test_symlinked_directory_component_pointing_outside_is_refused(layout):
    workspace, outside = layout
    os.symlink(outside, workspace / "src" / "vendor")
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, "src/vendor/secret.txt")
    # Also for a file that does not exist yet (a write through the link).
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, "src/vendor/new.txt")


def test_dangling_symlink_pointing_outside_is_refused(layout, tmp_path):
    workspace, _ = layout
    os.symlink(tmp_path / "nowhere" / "file.txt", workspace / "dangling")
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, "dangling")


def test_symlinks_that_stay_inside_are_followed(layout):
    workspace, _ = layout
    os.symlink("src/app.py", workspace / "alias.py")
    os.symlink("src", workspace / "code")
    real = workspace.resolve()
    assert resolve_in_workspace(workspace, "alias.py") == real / "src" / "app.py"
    assert resolve_in_workspace(workspace, "code/app.py") == real / "src" / "app.py"


def test_workspace_that_is_itself_a_symlink(layout, tmp_path):
    workspace, outside = layout
    link = tmp_path / "ws-link"
    os.symlink(workspace, link)
    real = workspace.resolve()
    # Paths inside, whether given through the link or the real directory, are allowed.
    assert resolve_in_workspace(link, "src/app.py") == real / "src" / "app.py"
    assert resolve_in_workspace(link, str(link / "src/app.py")) == real / "src" / "app.py"
    assert resolve_in_workspace(link, str(real / "src/app.py")) == real / "src" / "app.py"
    # Escapes are still refused.
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(link, "../outside/secret.txt")
    os.symlink(outside, workspace / "out")
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(link, "out/secret.txt")


def test_nul_byte_is_refused(layout):
    workspace, _ = layout
    with pytest.raises(PathEscapeError):
        resolve_in_workspace(workspace, "src/app.py\0.txt")


def test_workspace_relative(layout):
    workspace, _ = layout
    resolved = resolve_in_workspace(workspace, "src/app.py")
    assert workspace_relative(workspace, resolved) == "src/app.py"
    assert workspace_relative(workspace, resolve_in_workspace(workspace, "")) == "."
