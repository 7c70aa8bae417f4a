"""GC retention racing a continuation of the session it is about to prune.

`gc run` decides which sessions to prune, then asks the provider for drafts (seconds,
with a real model), then deletes. A `--session OLD` continuation that starts meanwhile
must either keep the whole session (its `session.created`, its history and the new
turn) or be refused cleanly with nothing written: never a session deleted under a
continuation that went on, never an orphan tail without its `session.created`.

The race is real: GC runs in one engine, the continuation in another (as two processes
would), on one store. The draft request goes to a loopback OpenAI server that holds its
reply, so the test can let GC go on at chosen moments of the continuation: before it
starts, as it starts, at its first committed event, after it finished.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.cli.errors import exit_code_for
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine, EngineError
from harness_tui.events import Event
from harness_tui.paths import demo_copies_dir
from harness_tui.store import EventStore, open_store
from tests.gc.eventlog import Log
from tests.store.conftest import postgres_store_url, sqlite_store_url
from tests.support.loopback import LoopbackServer, Reply
from tests.support.projects import init_repo
from tests.support.waiting import wait_for

__all__ = ["postgres_store_url", "sqlite_store_url"]  # fixtures, for pytest to find

ROUNDS = 100
RETENTION_DAYS = 30

# When GC may go on (its draft reply is released), relative to the continuation; or GC
# ends before the continuation starts.
PHASES = (
    "before-it-starts",
    "as-it-starts",
    "at-its-first-event",
    "after-it-finished",
    "gc-ends-first",
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_store_url"))


@dataclass
class Continued:
    """How one continuation ended."""

    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def configure(project: Path, store_url: str, **flags: object) -> object:
    return load_config(
        project=project,
        flags={"store.url": store_url, "gc.auto": False, **flags},
        env={},
    )


async def plant(store: EventStore, events: list[Event], session_id: str, age: timedelta) -> None:
    """A copy of a session the engine wrote, as it would be `age` later."""
    shift = datetime.now(UTC) - age - events[-1].ts
    await store.append([Event(session_id, e.seq, e.type, e.data, e.ts + shift) for e in events])


def chronic_block() -> list[Event]:
    """One recent session whose commands a rule forbade three times: a GC signal, so
    every GC run asks the provider for a draft."""
    log = Log()
    log.add("evidence", ev.SESSION_CREATED, title="e", project="p", provider="x", model="y")
    log.turn("evidence")
    for _ in range(3):
        log.call(
            "evidence",
            "bash",
            decision="forbid",
            rule_id="git-force-push",
            reason="Force-pushing rewrites history",
            command="git push -f",
        )
    log.end_turn("evidence")
    log.add("evidence", ev.SESSION_STATUS, status="done")
    return log.events


async def template_session(project: Path, store_url: str) -> list[Event]:
    """A finished session with one turn, written by the engine itself."""
    engine = await Engine.open(configure(project, store_url, **{"provider.name": "scripted"}))
    try:
        sid = await engine.start_session("first question", provider="scripted", model="echo")
        await engine.wait(sid)
        return await engine.history(sid)
    finally:
        await engine.close()


async def continue_session(engine: Engine, session_id: str, prompt: str) -> Continued:
    """What `harness-tui --exec --session ID PROMPT` does with the engine."""
    try:
        await engine.send(session_id, prompt, mode="prompt")
        await engine.wait(session_id)
    except EngineError as exc:
        return Continued(exc)
    return Continued()


async def first_event_of(engine: Engine, session_id: str, after: int) -> None:
    stream: AsyncIterator[Event] = engine.subscribe(after)
    try:
        async for event in stream:
            if event.session_id == session_id:
                return
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


def leftovers(project: Path, session_id: str) -> tuple[Path, Path]:
    return (project / ".harness" / "artifacts" / session_id, demo_copies_dir() / session_id)


async def test_gc_retention_racing_continuations_loses_nothing(
    tmp_path: Path, store_url: str
) -> None:
    project = init_repo(tmp_path / "p")
    store = await open_store(store_url)
    template = await template_session(project, store_url)
    await plant(store, chronic_block(), "evidence", timedelta(0))
    losses: list[str] = []
    outcomes = {"kept": 0, "refused": 0}
    with LoopbackServer("openai", default_text="not a draft") as server:
        gc_engine = await Engine.open(
            configure(
                project,
                store_url,
                **{
                    "provider.name": "openai",
                    "openai.base_url": server.base_url,
                    "gc.max_drafts_per_run": 1,
                    "gc.retention_days": RETENTION_DAYS,
                },
            )
        )
        try:
            for round_ in range(ROUNDS):
                phase = PHASES[round_ % len(PHASES)]
                sid = f"old-{round_:03d}"
                await plant(store, template, sid, timedelta(days=RETENTION_DAYS + 10))
                for folder in leftovers(project, sid):
                    folder.mkdir(parents=True)
                    (folder / "kept.txt").write_text("the session's own file\n")
                problem = await race(gc_engine, server, project, store_url, sid, phase, template)
                if problem in outcomes:
                    outcomes[problem] += 1
                else:
                    losses.append(f"round {round_} ({phase}): {problem}")
        finally:
            await gc_engine.close()
            await store.close()

    assert not losses, f"{len(losses)} of {ROUNDS} rounds lost data:\n" + "\n".join(losses)
    # Both ends of the race were reached: some continuations won, some were refused.
    assert outcomes["kept"] and outcomes["refused"], outcomes


async def race(
    gc_engine: Engine,
    server: LoopbackServer,
    project: Path,
    store_url: str,
    sid: str,
    phase: str,
    template: list[Event],
) -> str:
    """One round; "kept" or "refused" when all is well, else what was lost."""
    gate = threading.Event()
    server.push(Reply("not a draft", gate=gate))
    asked = len(server.requests)
    engine = await Engine.open(configure(project, store_url))
    engine.auto_gc = False
    try:
        start = await engine.last_position()
        gc_run = asyncio.create_task(gc_engine.gc.run())
        # GC has chosen what to prune and is waiting for its draft.
        await wait_for(
            lambda: len(server.requests) > asked or gc_run.done(),
            interval=0.002,
            message="GC's draft request",
        )
        if gc_run.done():
            gc_run.result()  # GC failed before it asked: say why
            raise AssertionError("GC ran without asking for a draft")
        if phase in ("before-it-starts", "gc-ends-first"):
            gate.set()
        if phase == "gc-ends-first":
            await asyncio.wait([gc_run])
        watching = asyncio.create_task(first_event_of(engine, sid, start))
        prompt = f"continue {sid}"
        continuing = asyncio.create_task(continue_session(engine, sid, prompt))
        if phase == "as-it-starts":
            gate.set()
        elif phase == "at-its-first-event":
            await asyncio.wait([watching, continuing], return_when=asyncio.FIRST_COMPLETED)
            gate.set()
        elif phase == "after-it-finished":
            await asyncio.wait([continuing])
            gate.set()
        report = await gc_run
        continued = await continuing
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        after = await engine.history(sid)
    finally:
        gate.set()
        await engine.close()
    return judge(project, sid, template, prompt, continued, after, sid in report.pruned)


def judge(
    project: Path,
    sid: str,
    template: list[Event],
    prompt: str,
    continued: Continued,
    after: list[Event],
    reported_pruned: bool,
) -> str:
    files_left = [folder.exists() for folder in leftovers(project, sid)]
    if continued.ok:
        if not after:
            return "the continuation succeeded but GC deleted the whole session"
        if after[0].type != ev.SESSION_CREATED:
            return f"orphan tail: {len(after)} events from seq {after[0].seq}, no session.created"
        if [e.seq for e in after] != list(range(1, len(after) + 1)):
            return f"seq gap: {[e.seq for e in after]}"
        if [(e.type, e.data) for e in after[: len(template)]] != [
            (e.type, e.data) for e in template
        ]:
            return "the history before the continuation changed"
        if not any(e.type == ev.INPUT_RECEIVED and e.data["text"] == prompt for e in after):
            return "the continuation's prompt is not in the log"
        if reported_pruned:
            return "GC reported a session it kept as pruned"
        if not all(files_left):
            return "GC removed the files of a session it kept"
        return "kept"
    error = continued.error
    assert error is not None
    message = str(error)
    if after:
        first = after[0]
        return f"refused ({message}) yet {len(after)} events are left, from {first.type}"
    if "\n" in message or sid not in message or exit_code_for(error) != 2:
        return f"refused without one clear line and exit code 2: {message!r}"
    if not reported_pruned:
        return "GC deleted a session it did not report"
    if any(files_left):
        return "GC deleted a session and left its files"
    return "refused"


async def test_a_loaded_session_deleted_by_gc_refuses_its_next_prompt_in_one_line(
    tmp_path: Path, store_url: str
) -> None:
    """The dashboard has an old session open; GC in another process prunes it (nothing
    touched it since its decision); a prompt typed into it then is refused, and
    nothing is written without the session's `session.created`."""
    project = init_repo(tmp_path / "p")
    config = configure(project, store_url, **{"provider.name": "scripted"})
    dashboard = await Engine.open(config)
    gc = await Engine.open(config)
    try:
        sid = await dashboard.start_session("first question", provider="scripted", model="echo")
        await dashboard.wait(sid)
        later = datetime.now(UTC) + timedelta(days=RETENTION_DAYS + 1)
        report = await gc.gc.run(now=later)
        assert report.pruned == [sid]

        await dashboard.send(sid, "one more thing", mode="prompt")
        with pytest.raises(EngineError) as refused:
            await dashboard.wait(sid)
        assert await gc.history(sid) == []
        assert await gc.store.session(sid) is None
    finally:
        await gc.close()
        await dashboard.close()
    message = str(refused.value)
    assert "\n" not in message and sid in message and "deleted" in message
    assert exit_code_for(refused.value) == 2
