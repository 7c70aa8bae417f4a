"""A session's single writer: every event of the session is appended through it, in
seq order, and folded into the session's state as soon as it is committed."""

from __future__ import annotations

import asyncio
from typing import Any

from harness_tui import events as ev
from harness_tui.engine.context import EngineContext
from harness_tui.engine.session import SessionState
from harness_tui.events import Event


class SessionWriter:
    def __init__(self, ctx: EngineContext, state: SessionState) -> None:
        self.ctx = ctx
        self.state = state
        self._write_lock = asyncio.Lock()

    @property
    def session_id(self) -> str:
        return self.state.session_id

    async def emit(self, type_: str, data: dict[str, Any]) -> Event:
        """Append one event for this session and fold it into the state.

        The append is shielded: once an event is handed to the store it is committed
        and applied even if the turn is being cancelled, so seq never gets reused.
        """
        async with self._write_lock:
            data = self.ctx.redactor.data(data)
            event = Event(self.session_id, self.state.last_seq + 1, type_, data)
            append = asyncio.ensure_future(self.ctx.store.append([event]))
            try:
                positions = await asyncio.shield(append)
            except asyncio.CancelledError:
                positions = await append
                self._record(event.with_position(positions[0]))
                raise
            stored = event.with_position(positions[0])
            self._record(stored)
            return stored

    async def settled(self) -> None:
        """Until every event this writer handed to the store is in the state: another
        process may already read one that is still on its way back from the commit."""
        async with self._write_lock:
            pass

    def _record(self, event: Event) -> None:
        self.state.apply(event)
        self.ctx.observe(event)

    async def set_status(self, status: str) -> None:
        if self.state.status != status:
            await self.emit(ev.SESSION_STATUS, {"status": status})
