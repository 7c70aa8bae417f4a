"""Taking a session's lease in a SQLite store: one definition for the store's
`acquire_lease` and the queue's claim, both run on the writer thread under the write
lock every append takes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from harness_tui.store.control import Lease, LeaseHolder


def take_lease(
    db: sqlite3.Connection,
    session_id: str,
    holder: LeaseHolder,
    duration_s: float,
    now: float,
    replacing: int = 0,
) -> Lease | None:
    """The session's lease for `holder`, inside the caller's write transaction; None
    when another live engine holds it. Taken when nobody holds it, it expired, the
    holder asks again (renewed, same token) or its token is `replacing` (a holder known
    dead): the one conditional write `acquire_lease` and the queue's claim share."""
    row = db.execute(
        "SELECT owner, token, expires_at FROM leases WHERE session_id = ?", (session_id,)
    ).fetchone()
    values = (holder.owner, holder.host, holder.pid, holder.pid_start)
    if row is None:
        token = 1
        db.execute(
            "INSERT INTO leases (session_id, owner, host, pid, pid_start, token, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session_id, *values, token, now + duration_s),
        )
    else:
        owner, token, expires_at = row
        free = owner is None or expires_at <= now or owner == holder.owner
        if not (free or (replacing and token == replacing)):
            return None
        if owner != holder.owner:
            token += 1
        db.execute(
            "UPDATE leases SET owner = ?, host = ?, pid = ?, pid_start = ?, token = ?, "
            "expires_at = ? WHERE session_id = ?",
            (*values, token, now + duration_s, session_id),
        )
    return Lease(
        session_id=session_id,
        owner=holder.owner,
        host=holder.host,
        pid=holder.pid,
        pid_start=holder.pid_start,
        token=token,
        expires_at=datetime.fromtimestamp(now + duration_s, UTC),
        expired=False,
    )
