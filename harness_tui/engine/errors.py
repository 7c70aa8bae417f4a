"""What the engine raises to the faces: a request it cannot carry out."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """A request the engine cannot carry out; the message says why."""


class SessionBusy(EngineError):
    """Another process is running the session: input (or a change) for it was refused,
    and nothing of it was written. Whoever asked can try again when that run ends."""

    def __init__(self, session_id: str, owner: dict[str, Any] | None) -> None:
        self.session_id = session_id
        self.owner = owner
        where = f" (pid {owner.get('pid')} on {owner.get('host')})" if owner else ""
        super().__init__(
            f"session {session_id} is being continued by another process{where}; "
            "try again when it ends"
        )
