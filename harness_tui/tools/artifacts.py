"""Artifacts: full tool output kept on disk when it is too large to hand to the model.

The model gets the head and the tail of an oversized output with a stub line naming
the artifact; the artifact file holds every byte, as the command wrote it (only the
text shown is decoded), so the user (and the model, through read_file when the
artifacts directory is inside the workspace) can still see it. Secrets are the
exception: they are redacted (ctx.redactor) as they are in events, matched as bytes, so
a binary artifact is byte for byte the output except where a secret was replaced.
"""

from __future__ import annotations

import codecs
import re
import secrets
from collections.abc import Callable
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


def artifact_path(ctx: ToolContext, artifact_id: str) -> Path:
    """Where artifact `artifact_id` of the session lives:
    artifacts_dir/<session_id>/<artifact_id>."""
    if not _SAFE_COMPONENT.fullmatch(ctx.session_id):
        raise ValueError(f"session id {ctx.session_id!r} cannot be used as a directory name")
    return Path(ctx.artifacts_dir) / ctx.session_id / artifact_id


def save_artifact(
    ctx: ToolContext, content: str | bytes, source: str, mime: str = "text/plain"
) -> Artifact:
    """Store `content`, redacted, as a new artifact under
    artifacts_dir/<session_id>/<artifact_id>."""
    data = content.encode("utf-8", errors="replace") if isinstance(content, str) else content
    return _save(ctx, _redacted(ctx, data), source, mime)


def _redacted(ctx: ToolContext, data: bytes) -> bytes:
    return ctx.redactor.bytes(data) if ctx.redactor is not None else data


def _save(ctx: ToolContext, data: bytes, source: str, mime: str) -> Artifact:
    artifact_id = new_artifact_id()
    path = artifact_path(ctx, artifact_id)
    write_atomic(path, data)
    return Artifact(artifact_id=artifact_id, path=path, bytes=len(data), mime=mime, source=source)


def guess_mime(head: bytes) -> str:
    """text/plain for output that starts as UTF-8 text, else application/octet-stream."""
    sample = head[:8192]
    try:
        # A character cut at the end of the sample is not a reason to call it binary.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "application/octet-stream" if b"\0" in sample else "text/plain"


def _shown_size(data: bytes) -> int:
    """The UTF-8 size of `data` as shown: decoded, undecodable bytes replaced."""
    return len(data.decode("utf-8", errors="replace").encode("utf-8"))


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
    if len(data) <= limit:
        return text, None
    # The excerpt is cut from what the artifact holds, so its offsets match the file.
    data = _redacted(ctx, data)
    artifact = _save(ctx, data, source, "text/plain")
    return excerpt(lambda offset, size: data[offset : offset + size], artifact, limit), artifact


def limit_bytes(ctx: ToolContext, data: bytes, source: str) -> tuple[str, Artifact | None]:
    """`limit_output` for output read as bytes: the artifact keeps the bytes as they were
    (a binary file's output stays byte for byte); only the text shown is decoded."""
    limit = ctx.limits.output_limit_bytes
    if len(data) <= limit:
        return data.decode("utf-8", errors="replace"), None
    data = _redacted(ctx, data)
    artifact = _save(ctx, data, source, guess_mime(data))
    return excerpt(lambda offset, size: data[offset : offset + size], artifact, limit), artifact


def excerpt_file(artifact: Artifact, limit: int) -> str:
    """The text shown for an artifact already on disk (a command's output streamed to its
    file): the whole of it if it fits `limit`, else its head and tail and the stub line.
    Reads only what it shows, however large the file."""
    with artifact.path.open("rb") as saved:

        def read(offset: int, size: int) -> bytes:
            saved.seek(offset)
            return saved.read(size)

        if artifact.bytes <= limit:
            return read(0, artifact.bytes).decode("utf-8", errors="replace")
        return excerpt(read, artifact, limit)


def excerpt(read: Callable[[int, int], bytes], artifact: Artifact, limit: int) -> str:
    """The head and tail of the artifact's `artifact.bytes` bytes within `limit` (UTF-8),
    joined by a stub line that says how much was left out and where it all is.
    `read(offset, size)` returns that part of the content."""
    total = artifact.bytes

    def stub(omitted: int) -> str:
        return (
            f"[… {omitted} bytes omitted; full output ({total} bytes) saved to "
            f"{artifact.path} (artifact {artifact.artifact_id})]"
        )

    # The omitted count has at most as many digits as the total, so budgeting with the
    # total keeps the final text within the limit.
    budget = limit - len(stub(total).encode("utf-8")) - 2  # two newlines around the stub
    budget = max(0, budget)
    head_size = int(budget * _HEAD_SHARE)
    # A few bytes past the cut, to see whether it would split a character.
    head_window = read(0, head_size + 4)
    head_end = _head_cut(head_window, head_size)
    # Bytes that are not UTF-8 are shown as U+FFFD, three bytes each: what is shown,
    # not what was read, must fit the budget.
    while head_end > 0 and (shown := _shown_size(head_window[:head_end])) > head_size:
        head_end = _head_cut(head_window, min(head_end - 1, head_end * head_size // shown))
    tail_size = budget - _shown_size(head_window[:head_end])
    tail_from = max(0, total - tail_size)
    tail_window = read(tail_from, total - tail_from)
    tail_start = max(head_end, tail_from + _tail_cut(tail_window, tail_size))
    while (
        tail_start < total
        and (shown := _shown_size(tail_window[tail_start - tail_from :])) > tail_size
    ):
        keep = min(total - tail_start - 1, (total - tail_start) * tail_size // shown)
        tail_start = tail_from + _tail_cut(tail_window, keep)
    head = head_window[:head_end].decode("utf-8", errors="replace")
    tail = tail_window[tail_start - tail_from :].decode("utf-8", errors="replace")
    omitted = tail_start - head_end
    parts = [head.removesuffix("\n"), stub(omitted), tail]
    return "\n".join(part for part in parts if part)
