"""Artifacts: full tool output kept on disk when it is too large to hand to the model.

The model gets the head and the tail of an oversized output with a stub line naming
the artifact; the artifact file holds every byte, so the user (and the model, through
read_file when the artifacts directory is inside the workspace) can still see it.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from harness_tui.atomic import write_atomic
from harness_tui.tools.base import Artifact, ToolContext

# Session ids become a directory name; anything else could place files elsewhere.
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Share of the byte budget given to the head; the tail gets the rest because the end
# of a command's output (the error, the test summary) is usually what matters most.
_HEAD_SHARE = 0.4


def new_artifact_id() -> str:
    return "art_" + secrets.token_hex(6)


def save_artifact(
    ctx: ToolContext, content: str | bytes, source: str, mime: str = "text/plain"
) -> Artifact:
    """Store `content` as a new artifact under artifacts_dir/<session_id>/<artifact_id>."""
    if not _SAFE_COMPONENT.fullmatch(ctx.session_id):
        raise ValueError(f"session id {ctx.session_id!r} cannot be used as a directory name")
    data = content.encode("utf-8", errors="replace") if isinstance(content, str) else content
    directory = Path(ctx.artifacts_dir) / ctx.session_id
    artifact_id = new_artifact_id()
    path = directory / artifact_id
    write_atomic(path, data)
    return Artifact(artifact_id=artifact_id, path=path, bytes=len(data), mime=mime, source=source)


def _head_cut(data: bytes, n: int) -> int:
    """An index <= n that does not split a UTF-8 character, preferring a line end."""
    n = max(0, min(n, len(data)))
    newline = data.rfind(b"\n", 0, n)
    # Cut at a line end when one is near enough not to waste much of the budget.
    if newline >= n // 2:
        return newline + 1
    while 0 < n < len(data) and (data[n] & 0xC0) == 0x80:
        n -= 1
    return n


def _tail_cut(data: bytes, n: int) -> int:
    """A start index leaving at most n bytes, not splitting a character, preferring a
    line start."""
    start = max(0, len(data) - max(0, n))
    newline = data.find(b"\n", start)
    if newline != -1 and newline + 1 - start <= n // 2:
        return newline + 1
    while start < len(data) and (data[start] & 0xC0) == 0x80:
        start += 1
    return start


def limit_output(ctx: ToolContext, text: str, source: str) -> tuple[str, Artifact | None]:
    """Return `text` unchanged if it fits ctx.limits.output_limit_bytes (UTF-8).

    Otherwise save the full text as an artifact and return its head and tail, within the
    limit, joined by a stub line that says how much was left out and where it is.
    """
    limit = ctx.limits.output_limit_bytes
    data = text.encode("utf-8", errors="replace")
    total = len(data)
    if total <= limit:
        return text, None
    artifact = save_artifact(ctx, data, source)

    def stub(omitted: int) -> str:
        return (
            f"[… {omitted} bytes omitted; full output ({total} bytes) saved to "
            f"{artifact.path} (artifact {artifact.artifact_id})]"
        )

    # The omitted count has at most as many digits as the total, so budgeting with the
    # total keeps the final text within the limit.
    budget = limit - len(stub(total).encode("utf-8")) - 2  # two newlines around the stub
    budget = max(0, budget)
    head_end = _head_cut(data, int(budget * _HEAD_SHARE))
    tail_start = max(head_end, _tail_cut(data, budget - head_end))
    head = data[:head_end].decode("utf-8", errors="replace")
    tail = data[tail_start:].decode("utf-8", errors="replace")
    omitted = tail_start - head_end
    parts = [head.removesuffix("\n"), stub(omitted), tail]
    return "\n".join(part for part in parts if part), artifact
