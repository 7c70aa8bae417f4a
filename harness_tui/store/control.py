"""The control plane's records in the store: leases (which engine runs a session, until
when) and commands (what a face asked of a session that another engine runs).

Both backends keep them in tables of their own beside the events (migration 4), and
decide every question about them inside a transaction serialised with the appends: a
lease changes hands in one conditional write, an append fenced by a lease commits only
while that lease is still its holder's, and a command is marked applied in the same
transaction as the events that apply it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# What a command asks of the session's engine.
RESOLVE_APPROVAL = "resolve_approval"
SEND = "send"
CANCEL = "cancel"
SET_APPROVAL_MODE = "set_approval_mode"
COMMAND_KINDS = (RESOLVE_APPROVAL, SEND, CANCEL, SET_APPROVAL_MODE)

PENDING = "pending"
APPLIED = "applied"
REJECTED = "rejected"
COMMAND_STATUSES = (PENDING, APPLIED, REJECTED)

# How often a store without notifications (SQLite) looks for new or settled commands:
# what a face waits for at most, beyond the owning engine's own work.
COMMAND_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class LeaseHolder:
    """Who asks for a lease: an engine (its id, unique per open engine) in a process."""

    owner: str
    host: str
    pid: int
    # The process's start time (/proc/PID/stat), which tells a reused pid apart.
    pid_start: str | None = None


@dataclass(frozen=True, slots=True)
class Fence:
    """What an append carries to be written only while its lease holds: the session,
    the holder and the lease's token. The token grows each time the lease changes hands,
    so a holder that lost it and got it back later is told apart from its old self."""

    session_id: str
    owner: str
    token: int


@dataclass(frozen=True, slots=True)
class Lease:
    """A session's lease as the store has it. `expired` is judged by the store's clock
    when the row was read (the database server's on PostgreSQL), never a reader's."""

    session_id: str
    owner: str
    host: str
    pid: int
    pid_start: str | None
    token: int
    expires_at: datetime
    expired: bool

    @property
    def fence(self) -> Fence:
        return Fence(self.session_id, self.owner, self.token)

    def held_by(self, owner: str) -> bool:
        return self.owner == owner

    def describe(self) -> str:
        return f"engine {self.owner} (pid {self.pid} on {self.host})"


@dataclass(frozen=True, slots=True)
class Command:
    """One request to a session, durable in the store: issued by a face, applied (or
    rejected, with the reason) by the engine that owns the session, exactly once."""

    command_id: str
    session_id: str
    kind: str
    payload: dict[str, Any]
    # user@host of whoever issued it.
    issued_by: str
    issued_at: datetime
    status: str = PENDING
    reason: str | None = None
    applied_at: datetime | None = None
    # The order commands were issued in, across the store.
    number: int = 0
    # Who applied or rejected it: "engine ID on HOST".
    settled_by: str | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "session_id": self.session_id,
            "kind": self.kind,
            "payload": self.payload,
            "issued_by": self.issued_by,
            "issued_at": self.issued_at.isoformat(),
            "status": self.status,
            "reason": self.reason,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "settled_by": self.settled_by,
        }
