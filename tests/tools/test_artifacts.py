"""Artifacts on disk and the head/stub/tail cut of oversized output."""

from __future__ import annotations

import re

import pytest

from harness_tui.tools.artifacts import limit_output, save_artifact
from harness_tui.tools.base import ToolLimits
from tests.tools import make_ctx

STUB = re.compile(
    r"\[… (\d+) bytes omitted; full output \((\d+) bytes\) saved to (.+) \(artifact (\S+)\)\]"
)


def test_save_artifact_writes_under_the_session(tmp_path):
    ctx = make_ctx(tmp_path)
    first = save_artifact(ctx, "héllo", "bash: echo")
    second = save_artifact(ctx, b"\x00\x01", "read_file: x", mime="application/octet-stream")
    assert re.fullmatch(r"art_[0-9a-f]{12}", first.artifact_id)
    assert first.artifact_id != second.artifact_id
    assert first.path == ctx.artifacts_dir / "ses_test" / first.artifact_id
    assert first.path.read_text() == "héllo"
    assert first.bytes == 6
    assert (first.mime, first.source) == ("text/plain", "bash: echo")
    assert second.path.read_bytes() == b"\x00\x01"
    # Nothing but the two artifacts: no temp files left behind.
    assert sorted(p.name for p in first.path.parent.iterdir()) == sorted(
        [first.artifact_id, second.artifact_id]
    )


def test_session_id_cannot_leave_the_artifacts_dir(tmp_path):
    ctx = make_ctx(tmp_path)
    ctx.session_id = "../elsewhere"
    with pytest.raises(ValueError, match="cannot be used as a directory name"):
        save_artifact(ctx, "x", "bash: x")


def test_small_output_passes_through(tmp_path):
    ctx = make_ctx(tmp_path)
    text = "x" * ctx.limits.output_limit_bytes
    assert limit_output(ctx, text, "bash: x") == (text, None)
    assert not ctx.artifacts_dir.exists()


@pytest.mark.parametrize("limit", [300, 1000, 4096])
def test_large_output_keeps_head_and_tail_within_the_limit(tmp_path, limit):
    ctx = make_ctx(tmp_path, limits=ToolLimits(output_limit_bytes=limit))
    # Multi-byte characters, so a careless byte cut would split one.
    text = "".join(f"línea {i} ✓\n" for i in range(2000))
    content, artifact = limit_output(ctx, text, "bash: gen")
    assert artifact is not None
    assert artifact.path.read_text() == text
    assert len(content.encode()) <= limit
    assert "\ufffd" not in content
    stub_line = next(line for line in content.splitlines() if STUB.fullmatch(line))
    match = STUB.fullmatch(stub_line)
    assert int(match[2]) == len(text.encode())
    assert match[3] == str(artifact.path)
    assert match[4] == artifact.artifact_id
    head, tail = content.split("\n" + stub_line + "\n")
    # Short lines: both cuts fall on line boundaries, so whole lines are shown.
    assert text.startswith(head + "\n")
    assert text.endswith(tail)
    assert tail.endswith("línea 1999 ✓\n")
    shown = len(head.encode()) + 1 + len(tail.encode())
    assert shown + int(match[1]) == len(text.encode())


def test_output_without_newlines_is_cut_on_character_boundaries(tmp_path):
    ctx = make_ctx(tmp_path, limits=ToolLimits(output_limit_bytes=500))
    text = "✓" * 1000
    content, artifact = limit_output(ctx, text, "bash: gen")
    assert artifact is not None and artifact.path.read_text() == text
    assert len(content.encode()) <= 500
    head, stub_line, tail = content.split("\n")
    assert set(head) == {"✓"} and set(tail) == {"✓"}
    match = STUB.fullmatch(stub_line)
    assert len(head) + int(match[1]) // 3 + len(tail) == 1000
