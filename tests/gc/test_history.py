"""GC's signals and grades kept as a checkpointed projection, on SQLite and PostgreSQL:
caught up from a checkpoint they are what a fold of the whole log gives, after more
events arrive, after a format version change and after retention deleted sessions."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from harness_tui import events as ev
from harness_tui.config import GCConfig, load_config
from harness_tui.engine.engine import Engine
from harness_tui.events import Event
from harness_tui.gc import history
from harness_tui.gc.grade import grade, grade_project
from harness_tui.gc.history import SessionsHistory, sessions_history, sessions_projection
from harness_tui.gc.signals import find_signals
from harness_tui.store import EventStore, open_store
from tests.gc.eventlog import Log
from tests.store.conftest import postgres_store_url, sqlite_store_url
from tests.support.projects import init_repo, write_script
from tests.support.waiting import wait_for

__all__ = ["postgres_store_url", "sqlite_store_url"]  # fixtures, for pytest to find

CONFIG = GCConfig()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_store_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[EventStore]:
    opened = await open_store(store_url)
    yield opened
    await opened.close()


def busy_log(sessions: int = 12, calls: int = 240, seed: int = 7) -> Log:
    """Sessions interleaved as a busy project's are: every kind of pattern, some of them
    spread over sessions, turns with and without edits, tests and validations."""
    rng = random.Random(seed)
    log = Log()
    names = [f"s{n:02}" for n in range(sessions)]
    for sid in names:
        log.add(sid, ev.SESSION_CREATED, title=sid, project="/p")
        log.turn(sid)
    for n in range(calls):
        sid = rng.choice(names)
        roll = rng.random()
        if roll < 0.1:
            log.end_turn(sid, reason=rng.choice(["no_tool_calls", "failed"]))
            log.turn(sid)
        elif roll < 0.2:
            log.call(sid, "edit_file", path=rng.choice(["src/app.py", "./src/app.py", "b.py"]))
        elif roll < 0.3:
            log.call(sid, "bash", command="git push -f", decision="forbid", rule_id="force")
        elif roll < 0.4:
            log.call(
                sid,
                "bash",
                command="npm publish",
                decision="prompt",
                rule_id="publish",
                reason="publishing needs a human",
                approve=rng.choice(["allow_once", "deny"]),
            )
        elif roll < 0.5:
            log.call(sid, "grep", pattern="x", duration_ms=rng.choice([100, 31_000, 60_000]))
        elif roll < 0.6:
            log.add(sid, ev.VALIDATION_COMPLETED, command="pytest", exit_code=0)
        elif roll < 0.8:
            log.call(sid, "bash", command="make lint", exit_code=rng.choice([0, 1, 1]))
        else:
            log.call(sid, "bash", command=f"pytest -k t{n % 5}", exit_code=0)
    for sid in names:
        log.end_turn(sid)
        log.add(sid, ev.SESSION_STATUS, status="done")
    return log


async def append(store: EventStore, events: list[Event]) -> None:
    await store.append([Event(e.session_id, e.seq, e.type, e.data, e.ts) for e in events])


async def whole_log(store: EventStore) -> list[Event]:
    events: list[Event] = []
    while page := await store.read_all(events[-1].position if events else 0, 1000):
        events.extend(page)
    return [e for e in events if not history.is_system_session(e.session_id)]


async def assert_as_folded_from_nothing(store: EventStore, found: SessionsHistory) -> None:
    events = await whole_log(store)
    by_session: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_session[event.session_id].append(event)
    slow = CONFIG.signals.slow_tool_ms
    assert found.signals() == find_signals(events, CONFIG.signals)
    assert found.project_grade() == grade_project(by_session, CONFIG.grade, slow_tool_ms=slow)
    expected_grades = {
        sid: g
        for sid, evs in by_session.items()
        if (g := grade(evs, CONFIG.grade, slow_tool_ms=slow)) is not None
    }
    assert found.session_grades() == expected_grades
    assert list(found.session_grades()) == list(expected_grades)  # the order sessions began


async def test_caught_up_from_a_checkpoint_it_equals_the_fold_from_nothing(
    store: EventStore,
) -> None:
    events = busy_log().events
    await append(store, events[: len(events) // 3])
    first = await sessions_history(store, CONFIG)
    await assert_as_folded_from_nothing(store, first)
    checkpoint = await store.load_checkpoint(sessions_projection(CONFIG).name)
    assert checkpoint is not None and checkpoint.position == await store.last_position()

    # More events arrive, in two steps: each call folds only what came after.
    await append(store, events[len(events) // 3 : 2 * len(events) // 3])
    await assert_as_folded_from_nothing(store, await sessions_history(store, CONFIG))
    await append(store, events[2 * len(events) // 3 :])
    last = await sessions_history(store, CONFIG)

    await assert_as_folded_from_nothing(store, last)
    kinds = {s.kind for s in last.signals()}
    assert {"chronic_block", "hot_file", "slow_tool", "repeated_failing_command"} <= kinds


async def test_the_checkpoint_is_what_is_read_until_its_version_changes(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await append(store, busy_log().events)
    right = await sessions_history(store, CONFIG)
    # Tamper with the saved fold: a reader that trusts the checkpoint shows the lie ...
    name = sessions_projection(CONFIG).name
    saved = await store.load_checkpoint(name)
    assert saved is not None
    lie = {sid: {**part, "g": {}} for sid, part in saved.sessions.items()}
    await store.save_checkpoint(name, saved.version, saved.position, saved.state, lie, rebuilt=True)
    assert (await sessions_history(store, CONFIG)).project_grade() is None

    # ... until the format version moves on: then it is rebuilt from the log.
    monkeypatch.setattr(history, "SESSIONS_VERSION", history.SESSIONS_VERSION + 1)
    rebuilt = await sessions_history(store, CONFIG)
    assert rebuilt.project_grade() == right.project_grade()
    await assert_as_folded_from_nothing(store, rebuilt)
    checkpoint = await store.load_checkpoint(name)
    assert checkpoint is not None and checkpoint.version == history.SESSIONS_VERSION


async def test_retention_deleting_sessions_leaves_the_projection_right(
    store: EventStore,
) -> None:
    events = busy_log().events
    await append(store, events)
    before = await sessions_history(store, CONFIG)
    gone = ["s00", "s03", "s04", "s07"]
    seen = {sid: (await store.session(sid)).last_position for sid in gone}

    assert sorted(await store.delete_sessions(seen)) == gone
    after = await sessions_history(store, CONFIG)

    await assert_as_folded_from_nothing(store, after)
    assert not set(gone) & set(after.session_grades())
    assert after.project_grade() != before.project_grade()
    # And it stays right as the log goes on.
    more = Log(seqs=defaultdict(int, {"s01": 10_000}))
    more.call("s01", "bash", command="make lint", exit_code=1)
    await append(store, more.events)
    await assert_as_folded_from_nothing(store, await sessions_history(store, CONFIG))


async def test_another_configuration_keeps_a_checkpoint_of_its_own(store: EventStore) -> None:
    """Two projects sharing a store, one calling tools slow sooner: each is right, and
    neither throws away the other's checkpoint."""
    await append(store, busy_log().events)
    strict = replace(CONFIG, signals=replace(CONFIG.signals, slow_tool_ms=50))
    assert sessions_projection(strict).name != sessions_projection(CONFIG).name

    await sessions_history(store, CONFIG)
    found = await sessions_history(store, strict)

    assert found.signals() == find_signals(await whole_log(store), strict.signals)
    for config in (CONFIG, strict):
        assert await store.load_checkpoint(sessions_projection(config).name) is not None


async def test_the_engine_keeps_the_checkpoint_close_to_the_log(tmp_path) -> None:
    """After each session ends the engine catches GC's projection up, run or no run
    (the cooldown holds the second one back), so `gc status` finds little to fold."""
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", '[[turn]]\ntext = "done"\n')
    config = load_config(project=project, flags={"gc.cooldown_s": 3600}, env={})
    engine = await Engine.open(config)
    try:
        name = sessions_projection(config.gc).name
        for _ in range(2):
            sid = await engine.start_session("hi", provider="scripted", model=str(script))
            await engine.wait(sid)
            ended = (await engine.store.session(sid)).last_position

            async def caught_up(ended: int = ended) -> bool:
                checkpoint = await engine.store.load_checkpoint(name)
                return checkpoint is not None and checkpoint.position >= ended

            await wait_for(caught_up, timeout=10, message="the checkpoint to reach the session")
        checkpoint = await engine.store.load_checkpoint(name)
        assert checkpoint is not None and sid in checkpoint.sessions
    finally:
        await engine.close()
