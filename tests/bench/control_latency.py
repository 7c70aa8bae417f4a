"""Control latency across processes: from `approve` in one process to the approved tool
call's completion appended by the process that runs the session.

    .venv/bin/python tests/bench/control_latency.py [--approvals N] [--skip-postgres]

A headless run (`harness-tui --exec … --approvals wait`, a process of its own) plays a
script of N bash calls that each need an approval. This process follows the store and,
each time the session shows waiting, answers the approval as `harness-tui approve`
does (Engine.resolve_approval: a command through the store, applied by the engine that
runs the session). The latency is from just before the answer is issued to the `ts` of
the call's tool.completed (or tool.failed) event, stamped by the running process before
its commit; both clocks are this machine's.

The same path within one process is the baseline: one engine runs the same script and
this process answers through that engine's own facade (no store round trip).
Measured on a fresh SQLite file and a fresh PostgreSQL database (HARNESS_TEST_POSTGRES_URL,
default postgresql://postgres@127.0.0.1:5432/test).

Progress goes to stderr; the last line on stdout is one JSON object:
{"sqlite_p50_ms", "sqlite_p99_ms", "postgres_p50_ms", "postgres_p99_ms",
"inprocess_p50_ms", "inprocess_p99_ms"}, then the control path alone, to the
`approval.resolved` the running engine appended (before the tool call runs):
"sqlite_applied_p99_ms", "postgres_applied_p99_ms", "inprocess_applied_p99_ms".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from harness_tui.events import Event

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
REPO_ROOT = Path(__file__).resolve().parents[2]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    (repo / "README.md").write_text("bench\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "i"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def make_script(root: Path, approvals: int) -> Path:
    """N steps, each a command writing outside the project (which needs an approval)."""
    body = ""
    for index in range(approvals):
        body += '[[turn]]\ntext = "step"\n[[turn.tool_calls]]\nname = "bash"\n'
        body += f'arguments = {{ command = "echo {index} > ../outside.txt" }}\n\n'
    body += '[[turn]]\ntext = "finished"\n'
    path = root / "approvals.toml"
    path.write_text(body)
    return path


def environment(root: Path, store_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARNESS_", "ANTHROPIC_", "OPENAI_"))
    }
    env.update(
        XDG_CONFIG_HOME=str(root / "xdg-config"),
        XDG_DATA_HOME=str(root / "xdg-data"),
        XDG_CACHE_HOME=str(root / "xdg-cache"),
        HARNESS_STORE__URL=store_url,
        # Every step in one turn: a turn stops at max_steps model requests.
        HARNESS_ENGINE__MAX_STEPS=str(100_000),
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Timings:
    """Per approval, in ms from just before the answer was issued: to the call's end
    (`total`, the figure this bench is about), and to the `approval.resolved` event
    the running engine appended (`applied`: the control path alone, without the tool
    call that follows it)."""

    total: list[float] = field(default_factory=list)
    applied: list[float] = field(default_factory=list)


async def answer_each(
    engine: Engine,
    approvals: int,
    start: int,
    *,
    session_id: str | None,
    resolve_here: bool,
) -> Timings:
    """Follow the store after `start`; answer each approval once its session shows
    waiting, and time it."""
    issued: dict[str, float] = {}  # by call id
    answered: dict[str, float] = {}  # by approval id
    timings = Timings()
    requested: dict[str, dict] = {}
    answering: set[asyncio.Task] = set()

    async def answer(approval_id: str) -> None:
        if resolve_here:
            await engine.resolve_approval(approval_id, "allow_once")
        else:
            await engine.resolve_approval(approval_id, "allow_once", wait=60, run_here=False)

    event: Event
    async for event in engine.subscribe(start):
        if session_id is not None and event.session_id != session_id:
            continue
        if event.type == ev.APPROVAL_REQUESTED:
            requested[event.data["approval_id"]] = event.data
        elif event.type == ev.SESSION_STATUS and event.data["status"] == "waiting":
            for approval_id, data in list(requested.items()):
                del requested[approval_id]
                now = time.time()
                issued[data["call_id"]] = answered[approval_id] = now
                task = asyncio.create_task(answer(approval_id))
                answering.add(task)
                task.add_done_callback(answering.discard)
        elif event.type == ev.APPROVAL_RESOLVED:
            started = answered.pop(event.data["approval_id"], None)
            if started is not None:
                timings.applied.append((event.ts.timestamp() - started) * 1000)
        elif event.type in (ev.TOOL_COMPLETED, ev.TOOL_FAILED):
            started = issued.pop(event.data["call_id"], None)
            if started is not None:
                timings.total.append((event.ts.timestamp() - started) * 1000)
                if len(timings.total) % 50 == 0:
                    progress(f"  {len(timings.total)}/{approvals}")
                if len(timings.total) == approvals:
                    break
    await asyncio.gather(*answering)
    return timings


def start_runner(repo: Path, script: Path, env: dict[str, str]) -> subprocess.Popen:
    """The headless run that asks for the approvals, a process of its own."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness_tui",
            "--exec",
            "go",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--approvals",
            "wait",
            "--project",
            str(repo),
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def across_processes(root: Path, store_url: str, approvals: int) -> Timings:
    repo = make_repo(root)
    script = make_script(root, approvals)
    env = environment(root, store_url)
    config = load_config(project=repo, flags={"store.url": store_url}, env=env)
    engine = await Engine.open(config, recover=False)
    try:
        start = await engine.last_position()
        runner = start_runner(repo, script, env)
        try:
            latencies = await answer_each(
                engine, approvals, start, session_id=None, resolve_here=False
            )
            code = await asyncio.to_thread(runner.wait, 120)
            if code != 0:
                raise SystemExit(f"the headless run exited {code}")
        finally:
            if runner.poll() is None:
                runner.kill()
                runner.wait()
    finally:
        await engine.close()
    return latencies


async def in_one_process(root: Path, approvals: int) -> Timings:
    repo = make_repo(root)
    script = make_script(root, approvals)
    store_url = f"sqlite:///{root / 'inprocess.db'}"
    env = environment(root, store_url)
    config = load_config(project=repo, flags={"store.url": store_url}, env=env)
    engine = await Engine.open(config)
    engine.auto_gc = False
    try:
        start = await engine.last_position()
        session_id = uuid.uuid4().hex[:12]
        following = asyncio.create_task(
            answer_each(engine, approvals, start, session_id=session_id, resolve_here=True)
        )
        await engine.start_session(
            "go", provider="scripted", model=str(script), session_id=session_id
        )
        latencies = await following
        await engine.wait(session_id)
    finally:
        await engine.close()
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return round(ordered[index], 1)


async def postgres_database() -> tuple[str, str]:
    server = os.environ.get("HARNESS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"harness_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(server, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return server, name


async def drop_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    result: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="control-latency-") as tmp:
        root = Path(tmp)
        progress(f"in one process: {args.approvals} approvals")
        (root / "inprocess").mkdir()
        inprocess = await in_one_process(root / "inprocess", args.approvals)
        progress(f"SQLite, across processes: {args.approvals} approvals")
        (root / "sqlite").mkdir()
        sqlite = await across_processes(
            root / "sqlite", f"sqlite:///{root / 'sqlite' / 'harness.db'}", args.approvals
        )
        postgres: Timings | None = None
        if not args.skip_postgres:
            progress(f"PostgreSQL, across processes: {args.approvals} approvals")
            server, name = await postgres_database()
            try:
                (root / "postgres").mkdir()
                url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
                postgres = await across_processes(root / "postgres", url, args.approvals)
            finally:
                await drop_database(server, name)
    result["sqlite_p50_ms"] = percentile(sqlite.total, 0.5)
    result["sqlite_p99_ms"] = percentile(sqlite.total, 0.99)
    result["postgres_p50_ms"] = percentile(postgres.total, 0.5) if postgres else None
    result["postgres_p99_ms"] = percentile(postgres.total, 0.99) if postgres else None
    result["inprocess_p50_ms"] = percentile(inprocess.total, 0.5)
    result["inprocess_p99_ms"] = percentile(inprocess.total, 0.99)
    # The control path alone: to the answer applied, before the tool call runs.
    result["sqlite_applied_p99_ms"] = percentile(sqlite.applied, 0.99)
    result["postgres_applied_p99_ms"] = percentile(postgres.applied, 0.99) if postgres else None
    result["inprocess_applied_p99_ms"] = percentile(inprocess.applied, 0.99)
    for name, timings in (
        ("in one process", inprocess),
        ("SQLite", sqlite),
        ("PostgreSQL", postgres),
    ):
        if timings is not None:
            progress(
                f"{name}: answer applied p50 {percentile(timings.applied, 0.5)} ms, "
                f"p99 {percentile(timings.applied, 0.99)} ms; call done p50 "
                f"{percentile(timings.total, 0.5)} ms, p99 {percentile(timings.total, 0.99)} ms"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
