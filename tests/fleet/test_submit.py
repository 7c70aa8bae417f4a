"""`submit` queues what a person asked for, with the project's priority unless given
one; `queue` lists it in the order the workers will take it; the limits a worker counts
come from [concurrency] and [[projects]]."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness_tui.config import load_config
from harness_tui.engine.scheduler import project_key
from harness_tui.engine.worker import queue_limits
from tests.support.projects import cli_env, harness_cmd


def project_config(repo: Path, body: str) -> None:
    (repo / ".harness").mkdir(exist_ok=True)
    (repo / ".harness" / "config.toml").write_text(body)


def cli(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        harness_cmd(*args, "--project", str(repo)),
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_submitted_sessions_are_listed_in_the_order_workers_take_them(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    project_config(
        repo,
        f'[[projects]]\npath = "{repo}"\npriority = 7\nmax_fleet = 1\n',
    )
    env = cli_env(tmp_path, HARNESS_STORE__URL=store_url)
    low = cli(repo, env, "submit", "later", "--priority", "1")
    default = cli(repo, env, "submit", "with the project's priority", "--approval-mode", "auto")
    high = cli(repo, env, "submit", "first", "--priority", "9", "--provider", "scripted")
    listed = cli(repo, env, "queue", "--json")

    for done in (low, default, high, listed):
        assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["session_id"] for r in rows] == [
        high.stdout.strip(),
        default.stdout.strip(),
        low.stdout.strip(),
    ]
    assert [(r["priority"], r["state"], r["worker"]) for r in rows] == [
        (9, "queued", None),
        (7, "queued", None),
        (1, "queued", None),
    ]
    assert rows[0]["provider"] == "scripted"
    assert rows[1]["approval_mode"] == "auto"
    assert rows[1]["prompt"] == "with the project's priority"
    assert {r["project"] for r in rows} == {project_key(repo)}
    assert all("@" in r["submitted_by"] for r in rows)


def test_sessions_lists_the_submitted_ones_no_worker_has_started(
    repo: Path, tmp_path: Path, store_url: str
) -> None:
    env = cli_env(tmp_path, HARNESS_STORE__URL=store_url)
    first = cli(repo, env, "submit", "first  one").stdout.strip()
    second = cli(repo, env, "submit", "second").stdout.strip()
    table = cli(repo, env, "sessions")
    as_json = cli(repo, env, "sessions", "--json", "--status", "queued")
    running = cli(repo, env, "sessions", "--status", "running")

    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["SESSION", "STATUS", "RUNNER"]
    # Newest first, as the sessions are.
    assert [row.split()[:2] for row in rows] == [[second, "queued"], [first, "queued"]]
    assert "queued for a worker" in rows[0] and rows[1].endswith("first one")
    listed = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(r["session_id"], r["status"], r["lease"]) for r in listed] == [
        (second, "queued", None),
        (first, "queued", None),
    ]
    assert listed[0]["queue"]["priority"] == 0
    assert running.stdout == "no sessions with status running\n"


def test_the_limits_a_worker_counts_come_from_its_config(repo: Path) -> None:
    project_config(
        repo,
        "[concurrency]\nfleet_sessions = 5\nfleet_per_project = 2\n\n"
        f'[[projects]]\npath = "{repo}"\nmax_fleet = 1\n\n'
        '[[projects]]\npath = "/elsewhere"\n',
    )
    limits = queue_limits(load_config(project=repo))

    assert (limits.total, limits.per_project) == (5, 2)
    assert limits.of(project_key(repo)) == 1
    assert limits.of(project_key("/elsewhere")) == 2  # max_fleet 0: fleet_per_project


def test_a_bad_limit_is_one_line_naming_the_key(repo: Path, tmp_path: Path) -> None:
    project_config(repo, "[concurrency]\nfleet_sessions = -1\n")
    done = cli(repo, cli_env(tmp_path), "worker")

    assert done.returncode == 2
    assert "concurrency.fleet_sessions" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
