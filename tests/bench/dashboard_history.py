"""The dashboard over a long history: how long until the newest session is on screen,
and how much CPU it uses while nothing happens.

    .venv/bin/python tests/bench/dashboard_history.py [--sizes 10000,100000,1000000]
        [--store sqlite | postgresql://postgres@127.0.0.1:5432/DB] [--idle-s 10]
        [--keep DIR] [--repeat 5]

For each size a store is filled through the store API with sessions of about 30 events
each (a prompt, model turns with usage, tool calls with policy decisions, a background
task with output, an approval asked and answered, a subagent for every fifth session),
two seconds apart up to a minute ago (so the newest rows' ages change every second),
the newest few left waiting for an approval with a task running. Then the dashboard
(the app factory, headless, 160×45) opens it and is measured:

- first_paint_s: from the app's start until the newest session's row is in the session
  list and drawn (the median of --repeat starts).
- idle_cpu_share: the process's CPU time over --idle-s seconds of nobody touching it,
  as a share of one core.
- ready_s: until what start-up reads is read (-1: not within two minutes; the idle
  share is then measured while it still works).
- rss_mb: the process's resident memory after the idle period (each size runs in a
  process of its own).

With --keep DIR the SQLite stores are kept there and reused by the next run. A
PostgreSQL database (one used for nothing else: it is dropped and created again) is
refilled for each size. The last line is one JSON object:
{"first_paint_s_10k": …, "idle_cpu_share_10k": …, …, "first_paint_ratio_1m_vs_10k": …}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness_tui import events as ev  # noqa: E402
from harness_tui.config import load_config  # noqa: E402
from harness_tui.events import Event, utcnow  # noqa: E402
from harness_tui.store import EventStore, open_store, sqlite_url  # noqa: E402
from harness_tui.tui.factory import make_app  # noqa: E402
from harness_tui.tui.widgets.sessions import SessionsTable  # noqa: E402

REPLY = (
    "I looked at the failing test and the function it covers. The mean is computed "
    "over the wrong slice: the last element is dropped when the list has an even length."
)
# The newest sessions are live: waiting for an approval with a task running.
LIVE = 3
# Events per session, on average (a subagent for every fifth).
SESSION_EVENTS = 28
DEAD_OWNER = {"pid": 999_999_999, "host": "elsewhere", "engine": "gone"}


def session_events(index: int, ts, *, live: bool) -> list[list[Event]]:
    """One session (and maybe its subagent) as the appends its writer would make."""
    sid = f"s{index:07d}"
    out: list[Event] = []

    def add(type_: str, session: str = sid, seq_of: list[Event] = out, **data: object) -> None:
        seq_of.append(
            Event(
                session,
                len(seq_of) + 1,
                type_,
                dict(data),
                ts=ts + timedelta(milliseconds=20 * len(seq_of)),
            )
        )

    add(
        ev.SESSION_CREATED,
        title=f"Fix the flaky upload test, take {index}",
        provider="scripted",
        model="demo",
        project="/work/project",
        workspace="/work/project",
    )
    add(ev.SESSION_STATUS, status="running")
    add(ev.INPUT_RECEIVED, text=f"Run the tests and fix what fails ({index})", mode="prompt")
    add(ev.TURN_STARTED, owner=DEAD_OWNER)
    for step in range(2):
        call = f"c{step}"
        add(
            ev.MODEL_COMPLETED,
            text=REPLY,
            tool_calls=[{"id": call, "name": "bash"}],
            usage={"input_tokens": 1200, "output_tokens": 180, "cost_usd": 0.004},
        )
        add(
            ev.TOOL_REQUESTED,
            call_id=call,
            tool="bash",
            args={"command": f"python3 -m pytest tests/test_upload.py -x -q # {step}"},
        )
        add(ev.POLICY_DECIDED, call_id=call, decision="allow", risk="low", reason="tests")
        add(ev.TOOL_COMPLETED, call_id=call, result="3 passed\n" * 3)
    add(ev.TOOL_REQUESTED, call_id="t1", tool="bash", args={"command": "make check"})
    add(
        ev.TASK_STARTED, task_id=f"task-{index}", kind="shell", title="make check", owner=DEAD_OWNER
    )
    for chunk in range(3):
        add(ev.TASK_OUTPUT, task_id=f"task-{index}", stream="stdout", text=f"ok {chunk}\n" * 4)
    child = f"{sid}-sub" if index % 5 == 0 else None
    children: list[Event] = []
    if child:
        add(ev.SUBAGENT_SPAWNED, child_session_id=child, preset="explore", prompt="look around")
        add(
            ev.SESSION_CREATED,
            child,
            children,
            title="Explore the upload module",
            provider="scripted",
            model="demo",
            parent_id=sid,
            preset="explore",
        )
        add(ev.SESSION_STATUS, child, children, status="running")
        add(
            ev.MODEL_COMPLETED,
            child,
            children,
            text="Found it.",
            tool_calls=[],
            usage={"input_tokens": 300, "output_tokens": 40},
        )
        add(ev.SESSION_STATUS, child, children, status="done")
    add(ev.TOOL_REQUESTED, call_id="c9", tool="bash", args={"command": "git push origin HEAD"})
    add(ev.POLICY_DECIDED, call_id="c9", decision="prompt", risk="high", reason="pushes")
    add(
        ev.APPROVAL_REQUESTED,
        approval_id=f"a-{index}",
        call_id="c9",
        summary="git push",
        risk="high",
        rule_id="git-push",
    )
    add(ev.SESSION_STATUS, status="waiting")
    if live:
        return [out, children] if children else [out]
    add(ev.APPROVAL_RESOLVED, approval_id=f"a-{index}", decision="allow_once", by="bench")
    add(ev.TOOL_COMPLETED, call_id="c9", result="pushed")
    add(ev.TASK_COMPLETED, task_id=f"task-{index}", summary="ok", exit_code=0)
    add(
        ev.MODEL_COMPLETED,
        text="All green.",
        tool_calls=[],
        usage={"input_tokens": 1500, "output_tokens": 60, "cost_usd": 0.003},
    )
    add(ev.TURN_COMPLETED, reason="no_tool_calls")
    add(ev.SESSION_STATUS, status="done")
    return [out, children] if children else [out]


async def fill(store: EventStore, size: int) -> int:
    # Sessions two seconds apart up to a minute ago, as a team's busy day and night
    # would leave them: the newest rows' ages change every second.
    now = utcnow()
    expected = size // SESSION_EVENTS
    batch: list[Event] = []
    written = 0
    index = 0
    while written < size:
        live = written + 40 * (LIVE + 1) > size
        ts = now - timedelta(seconds=60 + 2 * (expected - index))
        for events in session_events(index, ts, live=live):
            batch.extend(events)
            written += len(events)
        index += 1
        if len(batch) >= 5000:
            await store.append(batch)
            batch = []
    if batch:
        await store.append(batch)
    return index


async def reset_postgres(url: str) -> None:
    """Drop and create the URL's database: each size starts from an empty one."""
    import asyncpg

    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def measure(
    project: Path, store_url: str, idle_s: float, ready_timeout: float = 120.0
) -> dict[str, float]:
    config = load_config(
        project=project, flags={"provider.name": "scripted", "store.url": store_url}
    )
    started = time.perf_counter()
    app = make_app(config, watch_theme_files=False)
    result: dict[str, float] = {}
    async with app.run_test(size=(160, 45)) as pilot:
        table = app.dashboard.query_one(SessionsTable)
        while True:
            summaries = app.model.sessions
            order = table._order
            if len(order) > 1 and summaries:
                break
            if app.open_error is not None:
                raise SystemExit(f"the dashboard could not open the store: {app.open_error}")
            await asyncio.sleep(0.005)
        painted = asyncio.get_running_loop().create_future()
        app.call_after_refresh(lambda: painted.done() or painted.set_result(None))
        await painted
        result["first_paint_s"] = time.perf_counter() - started
        print(f"  first paint after {result['first_paint_s']:.3f} s", file=sys.stderr, flush=True)
        # A dashboard that folds the whole log first may take minutes: its idle share
        # is measured after a while all the same (ready_s says it was not ready).
        try:
            await asyncio.wait_for(app.ready.wait(), ready_timeout)
        except TimeoutError:
            pass
        result["ready_s"] = time.perf_counter() - started if app.ready.is_set() else -1.0
        if idle_s <= 0:
            return result
        await pilot.pause()
        await asyncio.sleep(1.0)
        cpu = time.process_time()
        wall = time.perf_counter()
        await asyncio.sleep(idle_s)
        result["idle_cpu_share"] = (time.process_time() - cpu) / (time.perf_counter() - wall)
        result["rss_mb"] = resident_mb()
        result["sessions_listed"] = len(table._order) - 1
    return result


async def run_size(
    size: int, store: str, keep: Path | None, idle_s: float, repeat: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / ".git").mkdir(parents=True)
        if store == "sqlite":
            folder = keep or Path(tmp)
            db = folder / f"history-{size}.db"
            if not db.exists():
                handle = await open_store(sqlite_url(db))
                try:
                    await fill(handle, size)
                finally:
                    await handle.close()
            url = sqlite_url(db)
        else:
            await reset_postgres(store)
            handle = await open_store(store)
            try:
                await fill(handle, size)
            finally:
                await handle.close()
            url = store
        # First paint is a fraction of a second on a machine others share: the median
        # of several starts; the idle share of the last.
        runs = [await measure(project, url, 0.0) for _ in range(repeat - 1)]
        last = await measure(project, url, idle_s)
        last["first_paint_s"] = statistics.median(
            [run["first_paint_s"] for run in runs] + [last["first_paint_s"]]
        )
        return last


def resident_mb() -> float:
    """The process's resident memory now (after the idle period; its peak would count
    filling the store too)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size >= 1_000_000 else f"{size // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--idle-s", type=float, default=10.0)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.one:
        figures = asyncio.run(run_size(sizes[0], args.store, args.keep, args.idle_s, args.repeat))
        print(json.dumps(figures))
        return
    summary: dict[str, float] = {}
    for size in sizes:
        # Each size in a process of its own: its memory is its own.
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--one",
                "--sizes",
                str(size),
                "--store",
                args.store,
                "--idle-s",
                str(args.idle_s),
                "--repeat",
                str(args.repeat),
                *(["--keep", str(args.keep)] if args.keep else []),
            ],
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{size:>9} events: {json.dumps(figures)}", flush=True)
        for key, value in figures.items():
            summary[f"{key}_{label(size)}"] = round(value, 4)
    small, big = label(sizes[0]), label(sizes[-1])
    if small != big:
        summary[f"first_paint_ratio_{big}_vs_{small}"] = round(
            summary[f"first_paint_s_{big}"] / summary[f"first_paint_s_{small}"], 3
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
