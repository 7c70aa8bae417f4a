"""The listings that fold the whole log, with and without their checkpoints: `gc status`,
`gc drafts` and `worktrees` against the history benchmark's stores (10k/100k/1M events).

    .venv/bin/python tests/bench/projections.py [--store sqlite|postgresql://HOST/DB]
        [--sizes 10k,100k,1m] [--runs 3] [--cache-dir DIR]

Each command runs --runs times in a row, after every checkpoint is dropped: the first
(`*_cold_*`) finds none and folds the whole log, saving one; the others
(`*_warm_*`, their median) fold only what came after it, which is nothing new here, as
for a user running the command again or after the engine caught the checkpoint up. For
each run: wall time, CPU time (user + system, which another busy process on the machine
inflates less than the wall time) and peak RSS of the command's process. Stores come
from history_scale.py's builder, cached the same way (SQLite), or built in a database of
their own that is dropped afterwards (PostgreSQL).

Progress goes to stderr; the last line on stdout is one JSON object, e.g.
gc_status_warm_s_1m, gc_status_warm_cpu_s_1m, gc_status_warm_peak_mb_1m, ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness_tui.store.sqlite_file import sqlite_path  # noqa: E402
from tests.bench.history_scale import (  # noqa: E402
    HARNESS,
    SIZES,
    build,
    cached_sqlite,
    isolated_env,
    postgres_database,
    progress,
    sqlite_copy,
)

COMMANDS = {
    "gc_status": ["gc", "status"],
    "gc_drafts": ["gc", "drafts"],
    "worktrees": ["worktrees"],
}


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one run, which must succeed."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    assert proc.stderr is not None
    errors = proc.stderr.read().decode(errors="replace").strip()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[1:3])} failed: {errors.splitlines()[-1:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def drop_checkpoints(url: str) -> None:
    """Every projection's checkpoint gone, as in a store from before checkpoints."""
    statements = ("DELETE FROM projection_sessions", "DELETE FROM projection_checkpoints")
    if url.startswith("sqlite:///"):
        with sqlite3.connect(sqlite_path(url)) as db:
            for statement in statements:
                db.execute(statement)
        return

    async def delete() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(delete())


def measure(url: str, project: Path, env: dict[str, str], runs: int, label: str) -> dict:
    figures: dict[str, float] = {}
    where = ["--project", str(project), "--store", url]
    for name, words in COMMANDS.items():
        drop_checkpoints(url)
        times = [run_once([HARNESS, *words, *where], env, project) for _ in range(runs)]
        cold, warm = times[0], times[1:]
        for kind, (wall, cpu, peak) in (
            ("cold", cold),
            ("warm", tuple(statistics.median(t[i] for t in warm) for i in range(3))),
        ):
            figures[f"{name}_{kind}_s_{label}"] = round(wall, 3)
            figures[f"{name}_{kind}_cpu_s_{label}"] = round(cpu, 3)
            figures[f"{name}_{kind}_peak_mb_{label}"] = round(peak, 1)
            progress(f"  {name} ({kind}) {wall:.2f} s, {cpu:.2f} s CPU, peak {peak:.0f} MB")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="sqlite", help="sqlite, or a postgresql:// URL")
    parser.add_argument("--sizes", default="10k,100k,1m", help="comma-separated: 10k, 100k, 1m")
    parser.add_argument("--runs", type=int, default=3, help="runs per command (first is cold)")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "harness-history-bench"
    )
    args = parser.parse_args()
    labels = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    if unknown := [s for s in labels if s not in SIZES]:
        parser.error(f"--sizes: unknown size {unknown[0]!r} (known: {', '.join(SIZES)})")
    if args.runs < 2:
        parser.error("--runs: at least 2 (one cold, one warm)")
    postgres = args.store.startswith(("postgresql://", "postgres://"))
    if not postgres and args.store != "sqlite":
        parser.error("--store: expected sqlite or a postgresql:// URL")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    figures: dict[str, object] = {"store": "postgresql" if postgres else "sqlite"}
    with tempfile.TemporaryDirectory(prefix="harness-projections-bench-") as tmp:
        scratch = Path(tmp)
        home = scratch / "home" if postgres else args.cache_dir / "home"
        env = isolated_env(home)
        os.environ.clear()
        os.environ.update(env)
        for label in labels:
            if postgres:
                with postgres_database(args.store, label) as url:
                    project = scratch / f"project-{label}"
                    report = asyncio.run(build(url, project, SIZES[label]))
                    progress(f"{label}: {report.events:,} events in {report.sessions:,} sessions")
                    figures.update(measure(url, project, env, args.runs, label))
            else:
                folder, report, _ = cached_sqlite(args.cache_dir, label, rebuild=False)
                progress(f"{label}: {report.events:,} events in {report.sessions:,} sessions")
                url = sqlite_copy(folder, scratch)
                figures.update(measure(url, folder / "project", env, args.runs, label))
                # The WAL too: a stale one beside the next size's copy would corrupt it.
                for copy in scratch.glob("harness.db*"):
                    copy.unlink()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
