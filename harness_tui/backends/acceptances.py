"""Whoever submitted input to a session and waits to hear whether this engine runs it.

Input is queued at once; it is accepted when the claim of the turn that takes it
commits (or at once, while this engine's task holds the session), and refused — the
input dropped, unwritten — when another process holds the session. Every backend
answers its submitters the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Acceptances:
    def __init__(self) -> None:
        self._waiting: list[asyncio.Future[None]] = []
        # Whether the session's running task has claimed it: input is accepted at once.
        self.claimed = False

    def new(self, *, running: bool) -> asyncio.Future[None]:
        """The future a submitter awaits; `running`: the session's task runs now."""
        accepted = asyncio.get_running_loop().create_future()
        # Nobody may be waiting for it (a task's notice): a refusal is not left unread.
        accepted.add_done_callback(_read_outcome)
        if running and self.claimed:
            accepted.set_result(None)
        else:
            self._waiting.append(accepted)
        return accepted

    def accept(self, *, running: bool) -> None:
        """A claim committed: the input waiting for it runs here. A claim by the running
        task holds for the input that comes while it runs."""
        if running:
            self.claimed = True
        self._settle(None)

    def refuse(self, error: Callable[[], BaseException]) -> None:
        """Another process holds the session: each waiter hears why."""
        self._settle(error)

    def release(self) -> None:
        """The task ended: input it ended without running is not waited for either."""
        self.claimed = False
        self._settle(None)

    def _settle(self, error: Callable[[], BaseException] | None) -> None:
        waiting, self._waiting = self._waiting, []
        for accepted in waiting:
            if accepted.done():
                continue
            if error is None:
                accepted.set_result(None)
            else:
                accepted.set_exception(error())


def _read_outcome(accepted: asyncio.Future[None]) -> None:
    if not accepted.cancelled():
        accepted.exception()
