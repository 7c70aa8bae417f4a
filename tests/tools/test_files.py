"""read_file, write_file and edit_file on real files."""

from __future__ import annotations

import os
import stat

import pytest

from harness_tui.tools.base import ToolError, ToolLimits
from harness_tui.tools.files import (
    EditFileTool,
    ReadFileTool,
    WriteFileTool,
    apply_change,
    preview_edit,
    preview_write,
)
from tests.tools import make_ctx

# -- read_file -------------------------------------------------------------------------


async def test_read_numbers_lines_like_cat_n(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "a.txt").write_text("alpha\nbeta\r\n\ngamma")
    result = await ReadFileTool().run({"path": "a.txt"}, ctx)
    assert result.content == "     1\talpha\n     2\tbeta\n     3\t\n     4\tgamma"
    assert result.metadata == {
        "path": "a.txt",
        "start_line": 1,
        "end_line": 4,
        "total_lines": 4,
        "truncated": False,
    }


async def test_read_a_line_range(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 21)))
    result = await ReadFileTool().run({"path": "n.txt", "start_line": 5, "end_line": 7}, ctx)
    assert result.content == "     5\tline 5\n     6\tline 6\n     7\tline 7"
    # An end past the last line just stops at the end.
    result = await ReadFileTool().run({"path": "n.txt", "start_line": 19, "end_line": 99}, ctx)
    assert result.content == "    19\tline 19\n    20\tline 20"


async def test_read_is_capped_with_a_note_saying_how_to_continue(tmp_path):
    ctx = make_ctx(tmp_path, limits=ToolLimits(max_read_lines=3))
    (ctx.workspace / "n.txt").write_text("".join(f"{i}\n" for i in range(1, 11)))
    result = await ReadFileTool().run({"path": "n.txt", "start_line": 2}, ctx)
    lines = result.content.splitlines()
    assert lines[:3] == ["     2\t2", "     3\t3", "     4\t4"]
    assert lines[3] == "[showing lines 2-4 of 10; call read_file with start_line=5 to read more]"
    assert result.metadata["truncated"] is True


async def test_read_is_capped_by_the_output_size_limit(tmp_path):
    ctx = make_ctx(tmp_path, limits=ToolLimits(output_limit_bytes=1000))
    (ctx.workspace / "wide.txt").write_text("".join("x" * 99 + "\n" for _ in range(100)))
    result = await ReadFileTool().run({"path": "wide.txt"}, ctx)
    body, note = result.content.rsplit("\n", 1)
    assert len(body.encode()) <= 1000
    assert note.startswith("[showing lines 1-")
    assert "of 100; call read_file with start_line=" in note


async def test_read_empty_file(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "empty").touch()
    result = await ReadFileTool().run({"path": "empty"}, ctx)
    assert result.content == "(empty file)"


async def test_read_refuses_binary_missing_and_directories(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (ctx.workspace / "sub").mkdir()
    with pytest.raises(ToolError, match=r"img\.png is a binary file"):
        await ReadFileTool().run({"path": "img.png"}, ctx)
    with pytest.raises(ToolError, match=r"file not found: nope\.txt"):
        await ReadFileTool().run({"path": "nope.txt"}, ctx)
    with pytest.raises(ToolError, match=r"sub is a directory"):
        await ReadFileTool().run({"path": "sub"}, ctx)


async def test_read_bad_ranges(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "a.txt").write_text("one\ntwo\n")
    with pytest.raises(ToolError, match="past the end of a.txt"):
        await ReadFileTool().run({"path": "a.txt", "start_line": 3}, ctx)
    with pytest.raises(ToolError, match="before start_line"):
        await ReadFileTool().run({"path": "a.txt", "start_line": 2, "end_line": 1}, ctx)
    with pytest.raises(ToolError, match="'start_line' must be at least 1"):
        await ReadFileTool().run({"path": "a.txt", "start_line": 0}, ctx)


async def test_read_outside_the_workspace_is_refused(tmp_path):
    ctx = make_ctx(tmp_path)
    (tmp_path / "secret.txt").write_text("secret\n")
    os.symlink(tmp_path / "secret.txt", ctx.workspace / "link.txt")
    for path in ("../secret.txt", str(tmp_path / "secret.txt"), "link.txt"):
        with pytest.raises(ToolError, match="outside the workspace"):
            await ReadFileTool().run({"path": path}, ctx)


# -- write_file ------------------------------------------------------------------------


async def test_write_creates_parents_and_reports_creation(tmp_path):
    ctx = make_ctx(tmp_path)
    result = await WriteFileTool().run({"path": "deep/er/new.txt", "content": "héllo\n"}, ctx)
    target = ctx.workspace / "deep" / "er" / "new.txt"
    assert target.read_text() == "héllo\n"
    assert result.content == "Created deep/er/new.txt (7 bytes written)"
    assert result.metadata == {"path": "deep/er/new.txt", "bytes": 7, "created": True}
    # A new file gets the usual permissions, not a private temp file's 0600.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


async def test_overwrite_keeps_the_mode_and_leaves_no_temp_files(tmp_path):
    ctx = make_ctx(tmp_path)
    script = ctx.workspace / "run.sh"
    script.write_text("echo old\n")
    script.chmod(0o750)
    inode_before = script.stat().st_ino
    result = await WriteFileTool().run({"path": "run.sh", "content": "echo new\n"}, ctx)
    assert script.read_text() == "echo new\n"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert result.metadata["created"] is False
    assert result.content.startswith("Overwrote run.sh")
    # Atomic replacement: a new file took the old one's place, nothing half-written.
    assert script.stat().st_ino != inode_before
    assert sorted(p.name for p in ctx.workspace.iterdir()) == ["run.sh"]


async def test_write_refuses_directories_and_escapes(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "dir").mkdir()
    with pytest.raises(ToolError, match="dir is a directory"):
        await WriteFileTool().run({"path": "dir", "content": "x"}, ctx)
    os.symlink(tmp_path, ctx.workspace / "up")
    with pytest.raises(ToolError, match="outside the workspace"):
        await WriteFileTool().run({"path": "up/escaped.txt", "content": "x"}, ctx)
    assert not (tmp_path / "escaped.txt").exists()
    with pytest.raises(ToolError, match="outside the workspace"):
        await WriteFileTool().run({"path": "../escaped.txt", "content": "x"}, ctx)
    assert not (tmp_path / "escaped.txt").exists()


async def test_write_refuses_a_read_only_file(tmp_path):
    ctx = make_ctx(tmp_path)
    locked = ctx.workspace / "locked.txt"
    locked.write_text("keep\n")
    locked.chmod(0o444)
    if os.access(locked, os.W_OK):
        pytest.skip("root may write read-only files, so the tool may too")
    with pytest.raises(ToolError, match="locked.txt is read-only"):
        await WriteFileTool().run({"path": "locked.txt", "content": "x"}, ctx)
    assert locked.read_text() == "keep\n"


async def test_write_through_an_inside_symlink_updates_its_target(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "real.txt").write_text("old\n")
    os.symlink("real.txt", ctx.workspace / "alias.txt")
    result = await WriteFileTool().run({"path": "alias.txt", "content": "new\n"}, ctx)
    assert (ctx.workspace / "real.txt").read_text() == "new\n"
    assert (ctx.workspace / "alias.txt").is_symlink()
    assert result.metadata["path"] == "real.txt"


# -- edit_file -------------------------------------------------------------------------


SOURCE = "def greet(name):\n    return 'hi ' + name\n\n\nprint(greet('ann'))\n"


async def test_edit_single_match_with_diff(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "app.py").write_text(SOURCE)
    result = await EditFileTool().run(
        {"path": "app.py", "old_string": "'hi '", "new_string": "'hello '"}, ctx
    )
    assert (ctx.workspace / "app.py").read_text() == SOURCE.replace("'hi '", "'hello '")
    assert result.metadata == {"path": "app.py", "replacements": 1}
    lines = result.content.splitlines()
    assert lines[0] == "Edited app.py: replaced 1 occurrence."
    assert lines[1:3] == ["--- a/app.py", "+++ b/app.py"]
    assert "-    return 'hi ' + name" in lines
    assert "+    return 'hello ' + name" in lines


async def test_edit_multiple_matches_needs_replace_all(tmp_path):
    ctx = make_ctx(tmp_path)
    target = ctx.workspace / "app.py"
    target.write_text(SOURCE)
    args = {"path": "app.py", "old_string": "greet", "new_string": "welcome"}
    with pytest.raises(ToolError, match="old_string occurs 2 times in app.py"):
        await EditFileTool().run(args, ctx)
    assert target.read_text() == SOURCE
    result = await EditFileTool().run({**args, "replace_all": True}, ctx)
    assert target.read_text() == SOURCE.replace("greet", "welcome")
    assert result.metadata["replacements"] == 2
    assert result.content.startswith("Edited app.py: replaced 2 occurrences.")


async def test_edit_no_match_and_other_refusals(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "app.py").write_text(SOURCE)
    (ctx.workspace / "blob.bin").write_bytes(b"ab\x00cd")
    (ctx.workspace / "latin.txt").write_bytes("café".encode("latin-1"))
    cases = [
        ({"path": "app.py", "old_string": "absent", "new_string": "x"}, "not found in app.py"),
        ({"path": "app.py", "old_string": "", "new_string": "x"}, "old_string is empty"),
        ({"path": "app.py", "old_string": "greet", "new_string": "greet"}, "identical"),
        ({"path": "missing.py", "old_string": "a", "new_string": "b"}, "not found: missing.py"),
        ({"path": "blob.bin", "old_string": "ab", "new_string": "x"}, "binary file"),
        ({"path": "latin.txt", "old_string": "caf", "new_string": "x"}, "not valid UTF-8"),
        ({"path": "app.py", "old_string": "greet"}, "missing required argument(s): new_string"),
        (
            {"path": "app.py", "old_string": "a", "new_string": "b", "replace_all": "yes"},
            "'replace_all' must be true or false",
        ),
    ]
    for args, message in cases:
        with pytest.raises(ToolError) as info:
            await EditFileTool().run(args, ctx)
        assert message in str(info.value), args
    assert (ctx.workspace / "app.py").read_text() == SOURCE


async def test_edit_keeps_crlf_line_endings_and_mode(tmp_path):
    ctx = make_ctx(tmp_path)
    target = ctx.workspace / "win.txt"
    target.write_bytes(b"one\r\ntwo\r\n")
    target.chmod(0o600)
    await EditFileTool().run({"path": "win.txt", "old_string": "two", "new_string": "2"}, ctx)
    assert target.read_bytes() == b"one\r\n2\r\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


async def test_edit_diff_is_capped(tmp_path):
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "big.txt").write_text("".join(f"x{i}\n" for i in range(500)))
    result = await EditFileTool().run(
        {"path": "big.txt", "old_string": "x", "new_string": "y", "replace_all": True}, ctx
    )
    assert result.content.splitlines()[-1].startswith("[… diff cut: ")
    assert len(result.content.splitlines()) < 70


# -- previews (for approvals) ----------------------------------------------------------


def test_previews_change_nothing_until_applied(tmp_path):
    ctx = make_ctx(tmp_path)
    target = ctx.workspace / "app.py"
    target.write_text(SOURCE)
    change = preview_edit(
        ctx.workspace, {"path": "app.py", "old_string": "ann", "new_string": "bob"}
    )
    path, old_text, new_text = change
    assert path == target.resolve()
    assert old_text == SOURCE
    assert new_text == SOURCE.replace("ann", "bob")
    assert target.read_text() == SOURCE
    apply_change(ctx.workspace, change)
    assert target.read_text() == new_text

    new = preview_write(ctx.workspace, {"path": "docs/notes.md", "content": "# notes\n"})
    assert new.created and new.old_text is None
    assert not (ctx.workspace / "docs").exists()


def test_apply_refuses_when_the_file_changed_since_the_preview(tmp_path):
    ctx = make_ctx(tmp_path)
    target = ctx.workspace / "app.py"
    target.write_text(SOURCE)
    change = preview_edit(
        ctx.workspace, {"path": "app.py", "old_string": "ann", "new_string": "bob"}
    )
    target.write_text(SOURCE + "# someone else's line\n")
    with pytest.raises(ToolError, match="app.py changed since"):
        apply_change(ctx.workspace, change)
    assert target.read_text().endswith("# someone else's line\n")
