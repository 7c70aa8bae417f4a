"""The dashboard under a firehose: one session emitting 10,000 events/s for 10 s into
the running app (headless, 160×45), while a key is pressed every 100 ms.

    .venv/bin/python tests/bench/tui_firehose.py [--rate 10000] [--seconds 10]

The events go through the real store (SQLite in a temporary folder) and the app's
real subscription, as a busy session's would. Measured:

- log_lag_ms: the worst time from an event's commit until the event log holds it
  (and has asked for a repaint), sampled every 2 ms.
- key_p99_ms / key_median_ms: from a key press (alternating down and up in the
  session list, which switches the log between all sessions and the firehose
  session) until that change has been painted.
- peak_mb: the process's peak resident memory.
- events: events the dashboard folded.

The last line is one JSON object with those fields.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual import events  # noqa: E402

from harness_tui import events as ev  # noqa: E402
from harness_tui.config import load_config  # noqa: E402
from harness_tui.events import Event  # noqa: E402
from harness_tui.tui.app import HarnessApp  # noqa: E402
from harness_tui.tui.factory import make_app  # noqa: E402
from harness_tui.tui.widgets.event_log import EventLog  # noqa: E402
from harness_tui.tui.widgets.sessions import SessionsTable  # noqa: E402

SESSION = "firehose0001"
TICK_S = 0.01
HANDLED: list[float] = []


def _event_data(n: int) -> tuple[str, dict]:
    """A plausible mix: mostly task output, with tool calls and model replies."""
    kind = n % 10
    if kind < 6:
        return ev.TASK_OUTPUT, {"task_id": "t1", "stream": "stdout", "text": f"line {n}: ok\n"}
    if kind == 6:
        return ev.TOOL_REQUESTED, {
            "call_id": f"c{n}",
            "tool": "bash",
            "args": {"command": f"echo {n}"},
        }
    if kind == 7:
        return ev.POLICY_DECIDED, {
            "call_id": f"c{n - 1}",
            "decision": "allow",
            "risk": "low",
            "reason": "allowed by rule",
        }
    if kind == 8:
        return ev.TOOL_COMPLETED, {"call_id": f"c{n - 2}", "result": f"{n - 2}\n", "duration_ms": 3}
    return ev.MODEL_COMPLETED, {
        "text": f"Step {n}: the output looks right, continuing.",
        "tool_calls": [],
        "usage": {"input_tokens": 120, "output_tokens": 12},
    }


class Firehose:
    def __init__(self, app: HarnessApp, rate: int, seconds: float) -> None:
        self.app = app
        self.rate = rate
        self.seconds = seconds
        self.seq = 0
        self.sent = 0
        # (last position of an append, when it committed), oldest first.
        self.commits: deque[tuple[int, float]] = deque()
        self.worst_lag = 0.0
        self.done = False

    def _batch(self, count: int) -> list[Event]:
        out = []
        for _ in range(count):
            self.seq += 1
            type_, data = _event_data(self.seq)
            out.append(Event(SESSION, self.seq, type_, data))
        return out

    async def start_session(self) -> None:
        store = self.app.engine.store
        first = [
            Event(
                SESSION,
                1,
                ev.SESSION_CREATED,
                {"title": "firehose", "provider": "scripted", "model": "bench"},
            ),
            Event(SESSION, 2, ev.SESSION_STATUS, {"status": "running"}),
            Event(
                SESSION,
                3,
                ev.TASK_STARTED,
                {"task_id": "t1", "kind": "shell", "title": "yes | head"},
            ),
        ]
        self.seq = 3
        await store.append(first)

    async def produce(self) -> None:
        store = self.app.engine.store
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < self.seconds:
            # Whatever is owed at this rate, so a slow tick is made up by the next.
            count = max(1, int(elapsed * self.rate) - self.sent)
            positions = await store.append(self._batch(count))
            self.sent += count
            self.commits.append((positions[-1], time.perf_counter()))
            next_tick = started + (int(elapsed / TICK_S) + 1) * TICK_S
            delay = next_tick - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        self.elapsed = time.perf_counter() - started
        self.done = True

    async def watch_lag(self, log: EventLog) -> None:
        while not (self.done and not self.commits):
            shown = log.last_position
            now = time.perf_counter()
            while self.commits and self.commits[0][0] <= shown:
                _, committed = self.commits.popleft()
                self.worst_lag = max(self.worst_lag, now - committed)
            if self.commits:
                # Not shown yet: it already trails by this much.
                self.worst_lag = max(self.worst_lag, now - self.commits[0][1])
            await asyncio.sleep(0.002)


async def press_and_wait(app: HarnessApp, key: str, changed) -> float:
    """Time from a key press until its effect is on screen."""
    started = time.perf_counter()
    app.post_message(events.Key(key, None))
    while not changed():
        await asyncio.sleep(0.0005)
    HANDLED.append(time.perf_counter() - started)
    painted = asyncio.get_running_loop().create_future()
    app.call_after_refresh(lambda: painted.done() or painted.set_result(None))
    await painted
    return time.perf_counter() - started


async def run(rate: int, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        (project / ".git").mkdir(parents=True)
        config = load_config(project=project, flags={"provider.name": "scripted"})
        app = make_app(config, watch_theme_files=False)
        async with app.run_test(size=(160, 45)) as pilot:
            await app.ready.wait()
            await pilot.pause()
            dashboard = app.dashboard
            log = dashboard.query_one(EventLog)
            sessions = dashboard.query_one(SessionsTable)
            hose = Firehose(app, rate, seconds)
            await hose.start_session()
            while SESSION not in app.model.sessions:
                await asyncio.sleep(0.01)
            await pilot.pause()
            producer = asyncio.create_task(hose.produce())
            watcher = asyncio.create_task(hose.watch_lag(log))
            key_times = []
            direction = "down"
            while not producer.done():
                await asyncio.sleep(0.1)
                before = dashboard.selected

                def changed(before=before) -> bool:
                    return dashboard.selected != before

                key_times.append(await press_and_wait(app, direction, changed))
                direction = "up" if direction == "down" else "down"
            await producer
            await watcher
            await pilot.pause()
            assert sessions.row_count >= 2
            result = {
                "log_lag_ms": round(hose.worst_lag * 1000, 1),
                "key_p99_ms": round(_percentile(key_times, 99) * 1000, 1),
                "key_median_ms": round(statistics.median(key_times) * 1000, 1),
                "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "events": app.model.event_count,
            }
            print(
                f"key handled after {statistics.median(HANDLED) * 1000:.1f} ms (median), "
                f"{max(HANDLED) * 1000:.1f} ms (worst); "
                f"sent {hose.sent + 3} events in {hose.elapsed:.1f} s, {len(key_times)} key presses, "
                f"log holds {log.line_count} lines",
                file=sys.stderr,
            )
            await app.shutdown()
    return result


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=10_000, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    print(json.dumps(asyncio.run(run(args.rate, args.seconds))))


if __name__ == "__main__":
    main()
