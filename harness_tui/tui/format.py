"""Short forms of numbers and times for narrow columns."""

from __future__ import annotations

from datetime import timedelta

# One cell wide in every common terminal font; the colour comes from the theme.
STATUS_GLYPHS = {
    "running": "▶",
    "waiting": "◆",
    "idle": "○",
    "queued": "◌",
    "done": "✓",
    "failed": "✗",
    "cancelled": "⊘",
    "completed": "✓",
}


def glyph(status: str) -> str:
    return STATUS_GLYPHS.get(status, "·")


def short_duration(delta: timedelta | None) -> str:
    """12s, 4m, 3h, 2d: an age or a duration in at most four cells."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def clock_duration(delta: timedelta | None) -> str:
    """1:05, 12:30, 2:04:09: a running task's time, which changes every second."""
    if delta is None:
        return ""
    seconds = max(0, int(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02}:{seconds:02}"
    return f"{minutes}:{seconds:02}"


def tokens(count: int) -> str:
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M"


def cost(usd: float) -> str:
    if usd <= 0:
        return "–"
    if usd < 0.01:
        return "<$0.01"
    return f"${usd:.2f}"


def ellipsize(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
