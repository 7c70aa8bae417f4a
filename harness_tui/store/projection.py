"""Projections kept up to date from a checkpoint: the fold's state is saved in the store
with the position it reached, and the next reader folds only what came after.

A projection is a pure fold (`apply`: state + event -> state, in place) and the same
fold runs from nothing or from a checkpoint. Its state is JSON: a cross-session part
(`state`) and per-session parts (`sessions`), which retention deletes with their
session (`EventStore.delete_sessions`), so a projection that keeps whatever depends on
a session in that session's part never counts a deleted session.

A checkpoint is a cache: a missing one, one of another format version, or one the
projection does not accept (`accept`) is rebuilt from the log, which stays the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from harness_tui.events import Event
from harness_tui.store.base import Checkpoint, EventStore, StoreError

# Events read per query while catching up: enough to keep round trips few, few enough
# that memory stays bounded by the page, not the log.
PAGE = 5000


@dataclass
class Folded:
    """A projection's state while it is folded."""

    state: Any
    sessions: dict[str, Any]
    position: int
    """The log position the fold has reached."""
    rebuilt: bool
    """Folded from nothing (no usable checkpoint)."""
    dirty: set[str] = field(default_factory=set)
    """Sessions whose part changed since the checkpoint: only these are saved."""
    changed: bool = False
    """Whether `state` changed since the checkpoint."""

    def part(self, session_id: str, new: Callable[[], Any]) -> Any:
        """The session's part, made with `new()` if it has none, marked as changed."""
        self.dirty.add(session_id)
        part = self.sessions.get(session_id)
        if part is None:
            part = self.sessions[session_id] = new()
        return part


@dataclass(frozen=True)
class Projection:
    """What a checkpointed projection is: its name and version in the store, the event
    types it folds (None: all), how to start and how to fold one event."""

    name: str
    version: int
    types: Collection[str] | None
    initial: Callable[[], Any]
    apply: Callable[[Folded, Event], None]
    accept: Callable[[Checkpoint], bool] = lambda checkpoint: True


async def catch_up(store: EventStore, projection: Projection, *, save: bool = True) -> Folded:
    """The projection folded up to the end of the log: from its checkpoint when there is
    a usable one, else from the start; saved again (unless `save` is false) so the
    next reader starts from here."""
    checkpoint = await store.load_checkpoint(projection.name)
    if (
        checkpoint is not None
        and checkpoint.version == projection.version
        and _accepted(projection, checkpoint)
    ):
        folded = Folded(checkpoint.state, checkpoint.sessions, checkpoint.position, rebuilt=False)
    else:
        folded = Folded(projection.initial(), {}, 0, rebuilt=True)
    start = folded.position
    # Everything up to here is committed (positions commit in order), so once the
    # filtered reads have passed it, the fold has seen every event it folds up to here,
    # even where the last of those came earlier.
    last = await store.last_position()
    after = start
    while True:
        page = await store.read_all(after, PAGE, projection.types)
        for event in page:
            projection.apply(folded, event)
        if page:
            after = page[-1].position or after
        if len(page) < PAGE:
            break
    folded.position = max(after, last, start)
    if save and (folded.rebuilt or folded.dirty or folded.changed or folded.position > start):
        await _save(store, projection, folded)
    return folded


def _accepted(projection: Projection, checkpoint: Checkpoint) -> bool:
    try:
        return projection.accept(checkpoint)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


async def _save(store: EventStore, projection: Projection, folded: Folded) -> None:
    parts = (
        folded.sessions
        if folded.rebuilt
        else {sid: folded.sessions[sid] for sid in folded.dirty if sid in folded.sessions}
    )
    try:
        await store.save_checkpoint(
            projection.name,
            projection.version,
            folded.position,
            folded.state,
            parts,
            rebuilt=folded.rebuilt,
        )
    except StoreError:
        # A checkpoint is only a cache: what was folded is right whether or not it is
        # kept (a read-only store file, say); the next reader folds again.
        return
    folded.dirty.clear()
    folded.changed = False
