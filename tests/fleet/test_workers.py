"""Workers and a queue, with real processes: `harness-tui submit` queues sessions,
several `harness-tui worker` processes share them within a global limit counted in
the store, a worker killed with SIGKILL mid-session has its session adopted by another
(the interrupted call recorded, the session completed), and a worker stopped with
SIGTERM hands its session back at once. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.engine.worktree_lifecycle import INTERRUPTED
from harness_tui.store import open_store
from harness_tui.store.queue import DONE
from tests.support.projects import cli_env, ended, harness_cmd, write_script
from tests.support.waiting import wait_until

# Short leases, so an orphan is adopted within seconds; renewed every third of it.
LEASE_S = "3"
CLAIMED = re.compile(r"(worker-\w+): claimed session (\w+)")
ADOPTED = re.compile(r"(worker-\w+): adopted session (\w+)")
# Long enough for a test to see the call running and kill its worker in the middle.
SLOW_CALL_S = 3


def fleet_env(tmp_path: Path, store_url: str, **extra: str) -> dict[str, str]:
    return cli_env(
        tmp_path,
        HARNESS_STORE__URL=store_url,
        HARNESS_CONTROL__LEASE_S=LEASE_S,
        **extra,
    )


def slow_script(tmp_path: Path) -> Path:
    return write_script(
        tmp_path / "slow.toml",
        f"""
        [[turn]]
        text = "working"
        [[turn.tool_calls]]
        name = "bash"
        arguments = {{ command = "sleep {SLOW_CALL_S}; echo slept" }}

        [[turn]]
        text = "all done"
        """,
    )


def submit(repo: Path, env: dict[str, str], script: Path, *extra: str) -> str:
    done = subprocess.run(
        harness_cmd(
            "submit",
            "do the thing",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--project",
            str(repo),
            *extra,
        ),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    # Only the id, so a script can capture it.
    assert re.fullmatch(r"[0-9a-f]{12}\n", done.stdout), done.stdout
    return done.stdout.strip()


class Workers:
    """`worker` processes, each logging to a file of its own."""

    def __init__(self, repo: Path, env: dict[str, str], logs: Path, stack: ExitStack) -> None:
        self.repo = repo
        self.env = env
        self.logs = logs
        self.stack = stack
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = self.logs / f"worker{len(self.procs)}.log"
        proc = subprocess.Popen(
            harness_cmd("worker", "--project", str(self.repo)),
            cwd=self.repo,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.stack.enter_context(log.open("w")),
        )
        self.stack.enter_context(ended(proc))
        self.procs.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.logs / f"worker{index}.log").read_text()

    def everything(self) -> str:
        return "".join(self.log(i) for i in range(len(self.procs)))

    def index_of(self, worker_id: str) -> int:
        return next(i for i in range(len(self.procs)) if f"{worker_id}:" in self.log(i))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=60)


@contextmanager
def workers(repo: Path, env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    (tmp_path / "logs").mkdir(exist_ok=True)
    with ExitStack() as stack:
        yield Workers(repo, env, tmp_path / "logs", stack)


async def read_store(store_url: str):
    store = await open_store(store_url)
    try:
        queue = await store.queued_sessions()
        logs = {q.session_id: await store.read(q.session_id) for q in queue}
        everything = await store.read_all(limit=1_000_000)
        return queue, logs, everything
    finally:
        await store.close()


def store_state(store_url: str):
    return asyncio.run(read_store(store_url))


def all_done(store_url: str, count: int) -> bool:
    queue, _, _ = store_state(store_url)
    return len(queue) == count and all(q.state == DONE for q in queue)


def tool_running(store_url: str, session_id: str) -> bool:
    _, logs, _ = store_state(store_url)
    types = [e.type for e in logs.get(session_id, [])]
    return ev.TOOL_STARTED in types and ev.TOOL_COMPLETED not in types


def most_running_at_once(events: list[ev.Event]) -> int:
    """The most sessions whose span in the log (first event to last) overlap: a
    session holds its slot from its claim, before its first event, to after its last."""
    spans: dict[str, list[int]] = {}
    for event in events:
        assert event.position is not None
        span = spans.setdefault(event.session_id, [event.position, event.position])
        span[1] = event.position
    edges = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = most = 0
    # At one position a session's start comes before another's end only if it is the
    # same event, which cannot be: positions are unique.
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def assert_log_whole(logs: dict[str, list[ev.Event]]) -> None:
    for session_id, events in logs.items():
        seqs = [e.seq for e in events]
        assert seqs == list(range(1, len(seqs) + 1)), f"session {session_id}: seqs {seqs}"


def fleet_run(
    repo: Path, tmp_path: Path, store_url: str, *, workers_count: int, sessions: int
) -> None:
    env = fleet_env(tmp_path, store_url, HARNESS_CONCURRENCY__FLEET_SESSIONS="2")
    script = slow_script(tmp_path)
    ids = [submit(repo, env, script) for _ in range(sessions)]
    with workers(repo, env, tmp_path) as fleet:
        for _ in range(workers_count):
            fleet.start()
        # The first session claimed is the one whose worker dies, in its tool call.
        wait_until(lambda: CLAIMED.search(fleet.everything()) is not None)
        found = CLAIMED.search(fleet.everything())
        assert found is not None
        victim_worker, victim = found.group(1), found.group(2)
        wait_until(lambda: tool_running(store_url, victim), timeout=60)
        index = fleet.index_of(victim_worker)
        fleet.procs[index].send_signal(signal.SIGKILL)
        fleet.procs[index].wait(timeout=30)
        _, before, _ = store_state(store_url)
        wait_until(lambda: all_done(store_url, sessions), timeout=120)
        fleet.stop_all()
        logs_text = {i: fleet.log(i) for i in range(workers_count)}

    queue, logs, everything = store_state(store_url)
    assert {q.session_id for q in queue} == set(ids)
    # Never more than the global limit running at once, across every worker.
    assert most_running_at_once(everything) == 2
    # Another worker adopted the victim, recorded its interrupted call, completed it.
    adopters = [i for i, text in logs_text.items() if f"adopted session {victim}" in text]
    assert adopters and index not in adopters
    victim_log = logs[victim]
    failed = [e.data for e in victim_log if e.type == ev.TOOL_FAILED]
    assert [f["error"] for f in failed] == [INTERRUPTED]
    assert victim_log[-1].type == ev.SESSION_STATUS and victim_log[-1].data["status"] == "done"
    texts = [e.data.get("text") for e in victim_log if e.type == ev.MODEL_COMPLETED]
    assert texts[-1] == "all done"
    # Nothing committed before the kill is lost, and no seq is taken twice.
    assert [(e.seq, e.type) for e in before[victim]] == [
        (e.seq, e.type) for e in victim_log[: len(before[victim])]
    ]
    assert_log_whole(logs)
    for session_id in ids:
        assert logs[session_id][-1].data.get("status") == "done", session_id
    # Every worker the test stopped said it stopped.
    for i, text in logs_text.items():
        if i != index:
            assert text.rstrip().endswith("stopped"), text


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_three_workers_share_ten_sessions_and_adopt_a_killed_ones(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    fleet_run(repo, tmp_path, store_url, workers_count=3, sessions=10)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_two_workers_share_sessions_on_sqlite_and_adopt_a_killed_ones(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    fleet_run(repo, tmp_path, store_url, workers_count=2, sessions=4)


def test_sigterm_hands_the_session_back_to_another_worker(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = fleet_env(tmp_path, store_url)
    session_id = submit(repo, env, slow_script(tmp_path))
    with workers(repo, env, tmp_path) as fleet:
        first = fleet.start()
        wait_until(lambda: tool_running(store_url, session_id), timeout=60)
        second = fleet.start()
        wait_until(lambda: "taking sessions" in fleet.log(1))
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        wait_until(lambda: all_done(store_url, 1), timeout=60)
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
        handed, adopted = fleet.log(0), fleet.log(1)

    assert f"handing back {session_id}" in handed
    assert handed.rstrip().endswith("stopped")
    assert f"adopted session {session_id}" in adopted
    _, logs, _ = store_state(store_url)
    events = logs[session_id]
    completed = [e.data for e in events if e.type == ev.TURN_COMPLETED]
    assert completed[0].get("error") == INTERRUPTED
    assert events[-1].data.get("status") == "done"
    assert_log_whole(logs)


def test_submit_and_worker_refuse_bad_usage(repo: Path, tmp_path: Path) -> None:
    env = cli_env(tmp_path)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            harness_cmd(*args), cwd=repo, env=env, capture_output=True, text=True, timeout=60
        )

    empty = run("submit", "  ")
    assert (empty.returncode, empty.stdout) == (2, "")
    assert "submit needs a non-empty prompt" in empty.stderr
    bad = run("worker", "--max-sessions", "0")
    assert bad.returncode == 2 and "--max-sessions 0" in bad.stderr
    wrong = run("submit", "hi", "--priority", "high")
    assert wrong.returncode == 2 and "--priority" in wrong.stderr
