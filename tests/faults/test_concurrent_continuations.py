"""Two `harness-tui --exec P --session ID` started at the same moment, 100 times over, on
SQLite and on PostgreSQL: every prompt is either in the log with its answer (and the run
that took it printed that answer, and only its own turn's events), or refused with exit
code 2 and one line. None is lost.

Each run is the real command line (parser, config, exec runner, error boundary), in two
long-lived worker processes (tests/faults/cli_worker.py) that are released together, so
an iteration costs milliseconds instead of two interpreter start-ups.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.engine.worktree_lifecycle import INTERRUPTED
from harness_tui.events import Event
from harness_tui.store import EventStore, open_store, sqlite_url
from tests.store.conftest import postgres_store_url  # noqa: F401 - the fixture
from tests.support.projects import (
    cli_env,
    ended,
    events_until,
    harness_cmd,
    init_repo,
    start_exec,
    write_script,
)

ITERATIONS = 100
WORKER = Path(__file__).with_name("cli_worker.py")
# Seconds one run may take before the test has failed (a hang is a failure too).
RUN_TIMEOUT = 60
LOST = "neither answered nor refused: "


@dataclass
class Run:
    prompt: str
    json: bool
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"{self.prompt!r} ({'--json' if self.json else 'text'}): exit {self.code}\n"
            f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"
        )


class Worker:
    """One cli_worker.py process: a `harness-tui` that runs a command line per request."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, project: Path, env: dict[str, str]) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            cwd=project,
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    def send(self, argv: list[str]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(argv).encode() + b"\n")

    async def result(self) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), RUN_TIMEOUT)
        assert line, "the worker died"
        return json.loads(line)

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def continuations_never_lose_a_prompt(
    tmp_path: Path, store_url: str, *, iterations: int = ITERATIONS, after_crash: bool = False
) -> None:
    """`after_crash`: before each pair, the session is left as a process killed mid-turn
    leaves it (its turn open, a tool call without result, its owner gone), so both runs
    also race to close that turn: it must be closed once."""
    project = init_repo(tmp_path / "p")
    # A distinct answer per turn: a run that printed another turn's answer is caught.
    script = write_script(
        tmp_path / "answers.toml",
        "".join(f'[[turn]]\ntext = "answer {n}"\n' for n in range(1, 3 * iterations + 2)),
    )
    env = cli_env(tmp_path, HARNESS_STORE__URL=store_url)
    common = ["--project", str(project)]
    workers = [await Worker.start(project, env) for _ in range(2)]
    store = await open_store(store_url)
    try:
        workers[0].send(
            ["--exec", "first", "--provider", "scripted", "--model", str(script), "--json"] + common
        )
        first = await workers[0].result()
        assert first["code"] == 0, first
        sid = json.loads(first["stdout"].splitlines()[0])["session_id"]

        runs: list[Run] = []
        for i in range(iterations):
            if after_crash:
                await leave_a_crashed_turn(store, sid, f"crashed {i}")
            pair = []
            for n, worker in enumerate(workers):
                # Each iteration one run prints --json, the other text.
                as_json = (i + n) % 2 == 0
                prompt = f"prompt {i}{'ab'[n]}"
                argv = ["--exec", prompt, "--session", sid, *(["--json"] if as_json else [])]
                pair.append((prompt, as_json))
                worker.send(argv + common)
            # Both are released before either result is awaited: they start together.
            for (prompt, as_json), worker in zip(pair, workers, strict=True):
                done = await worker.result()
                runs.append(Run(prompt, as_json, done["code"], done["stdout"], done["stderr"]))
        log = await store.read(sid)
    finally:
        for worker in workers:
            await worker.close()
        await store.close()

    problems = check_runs(sid, runs, log)
    refused = sum(run.code == 2 for run in runs)
    lost = sum(problem.startswith(LOST) for problem in problems)
    assert not problems, (
        f"{lost} of {len(runs)} prompts lost, {len(problems)} problems in all "
        f"({refused} refused):\n\n" + "\n\n".join(problems[:5])
    )
    # Otherwise the two runs never met, and the race was not tested.
    assert refused, "no run was ever refused: the two runs never overlapped"


async def leave_a_crashed_turn(store: EventStore, sid: str, prompt: str) -> None:
    """Append what a process killed mid-turn leaves: its turn open, the tool call it was
    running without a result, its status running, its owner a process that is gone."""
    seq = (await store.session(sid)).last_seq
    gone = {"host": socket.gethostname(), "pid": os.getpid(), "start": "gone", "engine": "x"}
    call = {"id": f"call-{seq}", "name": "bash", "arguments": {"command": "sleep 60"}}
    crashed = [
        (ev.INPUT_RECEIVED, {"text": prompt, "mode": "prompt"}),
        (ev.TURN_STARTED, {"owner": gone}),
        (ev.SESSION_STATUS, {"status": "running"}),
        (ev.MODEL_COMPLETED, {"text": "", "tool_calls": [call], "usage": {}}),
    ]
    await store.append(
        [Event(sid, seq + n, kind, data) for n, (kind, data) in enumerate(crashed, 1)]
    )


def check_runs(sid: str, runs: list[Run], log: list[Event]) -> list[str]:
    """What a user would notice wrong, one entry per run."""
    problems: list[str] = []
    if [e.seq for e in log] != list(range(1, len(log) + 1)):
        problems.append("the log skips or repeats a seq")
    # Each prompt the log took: its turn, from input.received to the status that ends it.
    turns: dict[str, list[Event]] = {}
    for i, event in enumerate(log):
        if event.type == ev.INPUT_RECEIVED and event.data["mode"] == "prompt":
            turn = [event]
            for later in log[i + 1 :]:
                if later.type == ev.INPUT_RECEIVED and later.data["mode"] == "prompt":
                    break
                turn.append(later)
                if later.type == ev.SESSION_STATUS and later.data["status"] != "running":
                    break
            turns[event.data["text"]] = turn
    # The turns of crashed processes: each closed once, by whichever run came first.
    closings: list[list[tuple[str, int, str]]] = []
    for prompt in [p for p in turns if p.startswith("crashed ")]:
        turn = turns.pop(prompt)
        kinds = [e.type for e in turn]
        ends = [e.data for e in turn if e.type == ev.TURN_COMPLETED]
        if kinds[4:] != [ev.TOOL_FAILED, ev.TURN_COMPLETED, ev.SESSION_STATUS] or any(
            end.get("error") != INTERRUPTED for end in ends
        ):
            problems.append(f"the crashed turn {prompt!r} was closed as {kinds[4:]}, {ends}")
        closings.append([(sid, e.seq, e.type) for e in turn[4:]])
    for run in runs:
        turn = turns.pop(run.prompt, None)
        if run.code == 2:
            lines = run.stderr.splitlines()
            if (
                turn is not None
                or run.stdout
                or len(lines) != 1
                or not lines[0].startswith(f"harness-tui: session {sid} ")
                or "another process" not in lines[0]
            ):
                problems.append(
                    "refused, but not as one line and nothing stored: " + run.describe()
                )
            continue
        if run.code != 0 or turn is None:
            problems.append(LOST + run.describe())
            continue
        kinds = [e.type for e in turn]
        answers = [e.data["text"] for e in turn if e.type == ev.MODEL_COMPLETED]
        if kinds[1:2] != [ev.TURN_STARTED] or len(answers) != 1 or kinds[-1] != ev.SESSION_STATUS:
            problems.append(f"its turn in the log is {kinds}: " + run.describe())
            continue
        if run.json:
            printed = [
                (p["session_id"], p["seq"], p["type"])
                for p in map(json.loads, run.stdout.splitlines())
            ]
            stored = [(sid, e.seq, e.type) for e in turn]
            # Its own turn, after closing the crashed one if it was the run that did.
            before = printed[: -len(stored)]
            if printed[-len(stored) :] != stored or before and before not in closings:
                problems.append(
                    f"--json printed other events than its turn's {stored}: " + run.describe()
                )
        elif run.stdout.strip() != answers[0] or "Traceback" in run.stderr:
            problems.append(
                f"printed another answer than its turn's {answers[0]!r}: " + run.describe()
            )
    for prompt in turns.keys() - {"first"}:
        problems.append(f"{prompt!r} is in the log, but no run reported it")
    return problems


async def test_two_continuations_at_once_on_sqlite(tmp_path):
    (tmp_path / "state").mkdir()
    await continuations_never_lose_a_prompt(tmp_path, sqlite_url(tmp_path / "state" / "harness.db"))


@pytest.mark.postgres
async def test_two_continuations_at_once_on_postgres(tmp_path, postgres_store_url):  # noqa: F811
    await continuations_never_lose_a_prompt(tmp_path, postgres_store_url)


async def test_two_continuations_of_a_crashed_run_at_once(tmp_path):
    """Both find the turn of a killed process open: it is closed once, as interrupted, and
    then one prompt runs and the other is refused (or runs after it)."""
    (tmp_path / "state").mkdir()
    await continuations_never_lose_a_prompt(
        tmp_path, sqlite_url(tmp_path / "state" / "harness.db"), iterations=40, after_crash=True
    )


def test_a_run_between_its_turns_refuses_a_continuation(tmp_path):
    """A run whose turn ended while its background task goes on still owns the session
    (the task's end will wake its agent): `--exec --session` from another terminal is
    refused with exit 2 and one line, and writes nothing into the run's session."""
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        """
        [[turn]]
        text = "starting the long job"
        [[turn.tool_calls]]
        name = "bash"
        arguments = { command = "sleep 60" }

        [[turn]]
        text = "waiting for the long job"
        """,
    )
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="200")
    args = ("--provider", "scripted", "--model", str(script), "--json")
    with ended(start_exec(project, tmp_path, "run the long job", *args, env=env)) as first:
        sid = events_until(first, "turn.completed")[0]["session_id"]
        before = stored_events(project, sid)
        assert before[-1][1] == ev.TURN_COMPLETED and ("session.status", "running") in [
            (kind, data.get("status")) for _, kind, data in before
        ]

        second = subprocess.run(
            harness_cmd("--exec", "carry on", "--session", sid, "--project", str(project)),
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert second.returncode == 2, second.stderr
        assert second.stdout == ""
        assert second.stderr == (
            f"harness-tui: session {sid} is being continued by another process "
            f"(pid {first.pid} on {socket.gethostname()}); try again when it ends\n"
        )
        assert stored_events(project, sid) == before
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 130


def stored_events(project: Path, sid: str) -> list[tuple[int, str, dict]]:
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute(
            "SELECT seq, type, data FROM events WHERE session_id = ? ORDER BY seq", (sid,)
        )
        return [(seq, kind, json.loads(data)) for seq, kind, data in rows]
