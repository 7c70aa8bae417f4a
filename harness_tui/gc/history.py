"""What GC reads from the whole log, kept as checkpointed projections: the signals and
grades of every agent session, and the project's GC log (its drafts and runs).

`gc status`, `gc run`, `gc drafts` and the engine's GC after a session ends all catch
these up from their checkpoints (store/projection.py), so each reads only what was
appended since the last of them ran, not the whole log.

Retention: each session's signals and grade live in that session's part, which the
store deletes with the session, so what is combined is always exactly the sessions in
the log. The GC log is a system session retention never deletes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from harness_tui import events as ev
from harness_tui.config import GCConfig
from harness_tui.events import Event
from harness_tui.gc import grade as grades
from harness_tui.gc import signals as signal_fold
from harness_tui.gc.drafts import DraftsState
from harness_tui.gc.grade import Grade
from harness_tui.gc.signals import Signal
from harness_tui.store import Checkpoint, EventStore
from harness_tui.store.projection import Folded, Projection, catch_up

# Bump when the shape of a part changes: every checkpoint is rebuilt once.
SESSIONS_VERSION = 1
GC_LOG_VERSION = 1

_SESSION_TYPES = frozenset({ev.SESSION_CREATED} | signal_fold.FOLDED_TYPES | grades.FOLDED_TYPES)
_GC_LOG_TYPES = frozenset(
    {ev.GC_DRAFT_CREATED, ev.GC_DRAFT_ADOPTED, ev.GC_DRAFT_REJECTED, ev.GC_COMPLETED}
)


def is_system_session(session_id: str) -> bool:
    return session_id.startswith("gc-")


@dataclass(frozen=True)
class _Settings:
    signals: signal_fold.FoldSettings
    grade: grades.FoldSettings

    @classmethod
    def of(cls, config: GCConfig) -> _Settings:
        # Grades call a tool slow where signals do.
        return cls(
            signal_fold.FoldSettings.of(config.signals),
            grades.FoldSettings(slow_tool_ms=config.signals.slow_tool_ms),
        )

    def fingerprint(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


class SessionsHistory:
    """Every agent session's signals and grade, as of the end of the log.

    A session's part: {"at": its first folded position, "s": its signals part, "g":
    its grade part}. Sessions come in the order they first appeared in the log."""

    def __init__(self, parts: dict[str, dict[str, Any]], position: int, config: GCConfig) -> None:
        self.parts = dict(sorted(parts.items(), key=lambda item: item[1]["at"]))
        self.position = position
        self.config = config

    def signals(self) -> list[Signal]:
        return signal_fold.signals_of(
            {sid: part["s"] for sid, part in self.parts.items()}, self.config.signals
        )

    def project_grade(self) -> Grade | None:
        return grades.grade_of((part["g"] for part in self.parts.values()), self.config.grade)

    def session_grades(self) -> dict[str, Grade]:
        found: dict[str, Grade] = {}
        for sid, part in self.parts.items():
            one = grades.grade_of((part["g"],), self.config.grade)
            if one is not None:
                found[sid] = one
        return found


def sessions_projection(config: GCConfig) -> Projection:
    """Signals and grades per session. Its name carries the fold's settings, so a
    project configured otherwise keeps a checkpoint of its own."""
    settings = _Settings.of(config)

    def apply(folded: Folded, event: Event) -> None:
        sid = event.session_id
        if is_system_session(sid):
            return
        position = event.position or 0
        part = folded.part(sid, lambda: {"at": position, "s": {}, "g": {}})
        kind = event.type
        if kind in signal_fold.FOLDED_TYPES:
            signal_fold.fold(part["s"], event, position, settings.signals)
        if kind in grades.FOLDED_TYPES:
            grades.fold(part["g"], event, settings.grade)

    return Projection(
        name=f"gc-sessions:{settings.fingerprint()}",
        version=SESSIONS_VERSION,
        types=_SESSION_TYPES,
        initial=dict,
        apply=apply,
        accept=_parts_accepted,
    )


def _parts_accepted(checkpoint: Checkpoint) -> bool:
    return all(
        isinstance(part, dict)
        and isinstance(part.get("at"), int)
        and isinstance(part.get("s"), dict)
        and isinstance(part.get("g"), dict)
        for part in checkpoint.sessions.values()
    )


async def sessions_history(store: EventStore, config: GCConfig) -> SessionsHistory:
    folded = await catch_up(store, sessions_projection(config))
    return SessionsHistory(folded.sessions, folded.position, config)


# -- the GC log ------------------------------------------------------------------------


@dataclass(frozen=True)
class GCLog:
    """The project's GC log as GC needs it: the events of its drafts (bounded by the
    draft budget) and when the last run completed."""

    draft_events: list[Event]
    last_run: datetime | None

    def drafts(self, *, now: datetime, ttl_hours: float) -> DraftsState:
        return DraftsState.from_events(self.draft_events, now=now, ttl_hours=ttl_hours)


def gc_log_projection(session_id: str) -> Projection:
    """The drafts and runs of one project's GC log (`session_id`)."""

    def apply(folded: Folded, event: Event) -> None:
        if event.session_id != session_id:
            return
        state = folded.state
        if event.type == ev.GC_COMPLETED:
            state["last_run"] = event.to_dict()
        else:
            state["drafts"].append(event.to_dict())
        folded.changed = True

    def accept(checkpoint: Checkpoint) -> bool:
        state = checkpoint.state
        return isinstance(state, dict) and isinstance(state["drafts"], list)

    return Projection(
        name=f"gc-log:{session_id}",
        version=GC_LOG_VERSION,
        types=_GC_LOG_TYPES,
        initial=lambda: {"drafts": [], "last_run": None},
        apply=apply,
        accept=accept,
    )


async def gc_log(store: EventStore, session_id: str) -> GCLog:
    folded = await catch_up(store, gc_log_projection(session_id))
    state = folded.state
    last = state.get("last_run")
    return GCLog(
        draft_events=_events(state["drafts"]),
        last_run=Event.from_dict(last).ts if last else None,
    )


def _events(raw: Iterable[dict[str, Any]]) -> list[Event]:
    return [Event.from_dict(item) for item in raw]
