"""What the engine raises to the faces: a request it cannot carry out."""

from __future__ import annotations

from typing import Any

from harness_tui.backends.base import SessionTaken


class EngineError(Exception):
    """A request the engine cannot carry out; the message says why."""


class SessionBusy(EngineError, SessionTaken):
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


class SessionFenced(SessionBusy):
    """This engine's lease on the session ran out and another engine took the session
    over: the store refused the write, and this engine stops working on the session."""

    fenced = True

    def __init__(self, session_id: str, detail: str) -> None:
        super().__init__(session_id, None)
        self.args = (
            f"session {session_id}: this engine lost its lease on it ({detail}); "
            "another engine has taken it over, and this one stops working on it",
        )

    def __str__(self) -> str:
        return str(self.args[0])


class CommandRejected(EngineError):
    """A command another engine (or this one) could not apply; the message says why."""

    def __init__(self, command_id: str, reason: str) -> None:
        self.command_id = command_id
        self.reason = reason
        super().__init__(f"rejected: {reason} (command {command_id})")
