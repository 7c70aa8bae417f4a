"""The engine adapter: engine events in, one message per frame out.

One worker follows `engine.subscribe()` (the store's replay, then live events from
this and other processes) and another follows `engine.deltas()` (model text as it
streams). Both only append to buffers. A third, the pump, posts what has gathered as a
single `EngineBatch` at most once per frame, and waits until the UI has handled that
batch before posting the next: when the UI falls behind, batches grow instead of
messages piling up, so a firehose costs the screen one update per frame.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from textual.message import Message
from textual.message_pump import MessagePump

from harness_tui.engine.engine import Engine
from harness_tui.events import Event

FRAME_S = 1 / 20
# The longest the pump waits for the UI to take a batch before sending the next.
HANDLED_TIMEOUT_S = 1.0


@dataclass
class EngineBatch(Message):
    """Everything that arrived during one frame."""

    events: list[Event]
    # Streaming model text per session, concatenated in arrival order.
    deltas: dict[str, str] = field(default_factory=dict)


class EngineAdapter:
    def __init__(self, engine: Engine, target: MessagePump, *, frame_s: float = FRAME_S) -> None:
        self.engine = engine
        self.target = target
        self.frame_s = frame_s
        self._events: list[Event] = []
        self._deltas: dict[str, str] = {}
        self._arrived = asyncio.Event()
        self._handled = asyncio.Event()
        self._handled.set()
        self._last_post = 0.0

    async def follow_log(self, after_position: int = 0) -> None:
        async for event in self.engine.subscribe(after_position):
            self._events.append(event)
            self._arrived.set()

    async def follow_deltas(self) -> None:
        async for delta in self.engine.deltas():
            if delta.stream != "text":
                continue  # tool output reaches the screen as persisted task.output
            self._deltas[delta.session_id] = self._deltas.get(delta.session_id, "") + delta.text
            self._arrived.set()

    async def pump(self) -> None:
        while True:
            await self._arrived.wait()
            # Let a frame's worth gather; an idle stream's first event goes at once.
            wait = self.frame_s - (time.monotonic() - self._last_post)
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await asyncio.wait_for(self._handled.wait(), HANDLED_TIMEOUT_S)
            except TimeoutError:
                pass  # a lost acknowledgement must not stop the log for good
            self._arrived.clear()
            events, self._events = self._events, []
            deltas, self._deltas = self._deltas, {}
            if not events and not deltas:
                continue
            self._handled.clear()
            self._last_post = time.monotonic()
            self.target.post_message(EngineBatch(events, deltas))

    def handled(self) -> None:
        """The UI has drawn the last batch: the next one may come."""
        self._handled.set()
