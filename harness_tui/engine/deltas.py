"""Live output that is shown but not persisted: model text as it streams, subprocess
bytes as they arrive. The log keeps the coalesced form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Delta:
    session_id: str
    stream: str  # "text" for model text, "stdout"/"stderr" for tool output
    text: str
    call_id: str | None = None


class DeltaFeed:
    """Fans deltas out to every reader. A slow reader loses the oldest deltas rather
    than slowing the sessions down; the log has the rest."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Delta]] = set()

    def publish(
        self, session_id: str, stream: str, text: str, *, call_id: str | None = None
    ) -> None:
        if not self._queues:
            return
        delta = Delta(session_id, stream, text, call_id)
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(delta)

    async def follow(self) -> AsyncIterator[Delta]:
        queue: asyncio.Queue[Delta] = asyncio.Queue(maxsize=10_000)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
