"""The sandbox modes a session can run in, named as Codex names them."""

from __future__ import annotations

READ_ONLY = "read-only"
WORKSPACE_WRITE = "workspace-write"
DANGER_FULL_ACCESS = "danger-full-access"

MODES = (READ_ONLY, WORKSPACE_WRITE, DANGER_FULL_ACCESS)
DEFAULT_MODE = WORKSPACE_WRITE

DESCRIPTIONS = {
    READ_ONLY: "commands read the machine but write nothing outside a private /tmp",
    WORKSPACE_WRITE: "commands write only the workspace (and a private /tmp)",
    DANGER_FULL_ACCESS: "no sandbox: commands run with your full access",
}


def check_mode(mode: str) -> str:
    """`mode`, or ValueError naming the modes there are."""
    if mode not in MODES:
        raise ValueError(f"sandbox mode {mode!r}: expected one of {', '.join(MODES)}")
    return mode
