"""A year of history: the dashboard, GC and listings against project stores of about
10k, 100k and 1M events.

    .venv/bin/python tests/bench/history_scale.py [--store sqlite|postgresql://HOST/DB]
        [--sizes 10k,100k,1m] [--idle-s 10] [--timeout 120] [--rebuild]

Each store is built through the store API by history_store.py: sessions with model
turns, tool calls, approvals, background tasks, subagents and worktrees, over a git
project of its own. SQLite stores are cached under --cache-dir, keyed by size, builder
version and schema version (--rebuild makes them again); each measurement round runs on
a copy, so nothing a face writes reaches the cache. With a postgresql:// URL, each size
gets a database of its own on that server, dropped afterwards.

Measured for each size, every face a real process with a home of its own and no API
key (the dashboard's offline demo mode):

- first_paint_s: from launching `harness-tui` in a pseudo-terminal (--cols x --rows)
  until the newest session's title is on screen; first_paint_cpu_s, the CPU time the
  dashboard spent until then (steadier than wall time on a busy machine).
- idle_cpu_share: the dashboard's CPU time (its process tree) over --idle-s seconds,
  nobody touching it, divided by the wall time: 1.0 is a whole core. The window starts
  --settle-s seconds after first paint: the start-up's last frames (the notifications,
  the first full redraw) are not idleness. settle_cpu_share is the share meanwhile,
  so start-up work that runs on after the paint still shows.
- gc_status_s, gc_status_peak_mb: `harness-tui gc status`, wall time and peak RSS.
- worktrees_s: `harness-tui worktrees`.
The commands run twice: the *_cold_* figures are the first run on a fresh copy of the
store (which builds whatever a face keeps in the store to go faster), the others the
second (what a user sees from then on).

A measurement that takes longer than --timeout is stopped and recorded as the timeout,
its name listed under "timeouts"; one that fails is recorded as null, under "errors".
Progress goes to stderr; the last line on stdout is one JSON object, e.g.
first_paint_s_1m, first_paint_ratio_1m_vs_10k, idle_cpu_share_1m, gc_status_s_1m,
gc_status_peak_mb_1m, worktrees_s_1m, and the same for every size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness_tui.engine.worktrees import worktree_root  # noqa: E402
from harness_tui.store import open_store, sqlite_url  # noqa: E402
from harness_tui.store.sqlite import MIGRATIONS  # noqa: E402
from tests.bench.history_store import (  # noqa: E402
    BUILDER_VERSION,
    NEWEST_TITLE,
    HistoryReport,
    build_history,
    prepare_project,
)

HARNESS = str(Path(sys.executable).with_name("harness-tui"))
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Escape sequences (CSI, OSC, DCS and two-byte ones), dropped to find text on screen.
ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|P[^\x1b]*\x1b\\|.)")
# Bytes of output searched again with each read: a title cut between two reads, or an
# escape sequence cut before it, is still found whole.
OVERLAP = 4096


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Results:
    figures: dict[str, object] = field(default_factory=dict)
    timeouts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def error(self, name: str, message: str) -> None:
        self.figures[name] = None
        self.errors.append(f"{name}: {message}")
        progress(f"  {name} failed: {message}")


# -- the stores ------------------------------------------------------------------------


def isolated_env(home: Path) -> dict[str, str]:
    """The environment of this process and of every face measured: a home of its own
    (config, data, worktrees), no provider keys, nothing of the developer's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HARNESS_", "XDG_", "ANTHROPIC_", "OPENAI_"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        TERM="xterm-256color",
    )
    return env


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Held while a cached store is checked or built: other runs of this benchmark may
    share the cache."""
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


async def build(url: str, project: Path, events: int) -> HistoryReport:
    if project.exists():
        shutil.rmtree(project)
    shutil.rmtree(worktree_root(project), ignore_errors=True)
    prepare_project(project)
    store = await open_store(url)
    try:
        return await build_history(store, project, events)
    finally:
        await store.close()


def cached_sqlite(cache: Path, label: str, rebuild: bool) -> tuple[Path, HistoryReport, bool]:
    """(folder with project/ and harness.db, what the build wrote, whether it was
    cached). The report is written last: a folder without one is half built."""
    schema = max(version for version, _ in MIGRATIONS)
    folder = cache / f"sqlite-{label}-builder{BUILDER_VERSION}-schema{schema}"
    with locked(cache / f"{folder.name}.lock"):
        done = folder / "report.json"
        if done.exists() and not rebuild:
            return folder, HistoryReport(**json.loads(done.read_text())), True
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        report = asyncio.run(
            build(sqlite_url(folder / "harness.db"), folder / "project", SIZES[label])
        )
        done.write_text(json.dumps(asdict(report)))
        return folder, report, False


def sqlite_copy(folder: Path, scratch: Path) -> str:
    """A copy of the cached store for one round of measurements."""
    for name in ("harness.db", "harness.db-wal"):  # a store closed cleanly has no WAL
        if (folder / name).exists():
            shutil.copyfile(folder / name, scratch / name)
    return sqlite_url(scratch / "harness.db")


@contextmanager
def postgres_database(server_url: str, label: str) -> Iterator[str]:
    """A fresh database for one size, dropped afterwards (its name is unique, so runs
    sharing the server do not meet)."""
    import asyncpg

    name = f"harness_bench_{label}_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(server_url, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        where = urlsplit(server_url)
        raise SystemExit(
            f"--store: cannot create a database on {where.hostname}:{where.port}: {exc}"
        ) from None
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the faces ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` and its live descendants, with the children it has reaped."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        process = int(entry.name)
        children.setdefault(int(fields[1]), []).append(process)
        own = int(fields[11]) + int(fields[12])
        reaped = int(fields[13]) + int(fields[14]) if process == pid else 0
        times[process] = (own + reaped) / CLOCK_TICKS
    total, tree = 0.0, [pid]
    while tree:
        process = tree.pop()
        total += times.get(process, 0.0)
        tree += children.get(process, [])
    return total


def stop(proc: subprocess.Popen[bytes], master: int | None = None) -> None:
    """SIGTERM to the process group, SIGKILL after 5 s; the terminal is drained
    meanwhile, or a process blocked writing to it could never exit."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            if master is not None:
                drain(master, 0.05)
            else:
                time.sleep(0.05)
    proc.wait()


def drain(master: int, wait_s: float) -> bytes:
    """What the terminal received within `wait_s` seconds (b"" once it is closed)."""
    ready, _, _ = select.select([master], [], [], wait_s)
    if not ready:
        return b""
    try:
        return os.read(master, 65536)
    except OSError:  # EIO: every process holding the terminal has closed it
        time.sleep(wait_s)
        return b""


def cpu_share(pid: int, master: int, seconds: float) -> float:
    """The share of a core `pid`'s tree uses over `seconds`, its screen drained."""
    before, since = cpu_seconds(pid), time.perf_counter()
    while time.perf_counter() - since < seconds:
        drain(master, 0.1)
    return (cpu_seconds(pid) - before) / (time.perf_counter() - since)


def measure_dashboard(
    url: str,
    project: Path,
    env: dict[str, str],
    args: argparse.Namespace,
    label: str,
    results: Results,
) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", args.rows, args.cols, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [HARNESS, "--project", str(project), "--store", url],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=project,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    name = f"first_paint_s_{label}"
    try:
        seen = bytearray()
        painted, cpu = None, 0.0
        while painted is None and time.perf_counter() - started < args.timeout:
            chunk = drain(master, 0.05)
            if not chunk and proc.poll() is not None:
                break
            searched = max(0, len(seen) - OVERLAP)
            seen += chunk
            text = ANSI.sub("", seen[searched:].decode("utf-8", errors="replace"))
            if NEWEST_TITLE in text:
                painted = time.perf_counter() - started
                cpu = cpu_seconds(proc.pid)
        if painted is not None:
            results.figures[name] = round(painted, 3)
            results.figures[f"first_paint_cpu_s_{label}"] = round(cpu, 2)
            progress(f"  first paint {painted:.2f} s ({cpu:.2f} s of CPU)")
        elif proc.poll() is not None:
            tail = ANSI.sub("", seen[-2000:].decode("utf-8", errors="replace")).strip()
            results.error(name, f"the dashboard exited ({proc.returncode}): {tail[-300:]}")
            return
        else:
            results.figures[name] = args.timeout
            results.timeouts.append(name)
            progress(f"  first paint: not within {args.timeout} s")
        settling = cpu_share(proc.pid, master, args.settle_s)
        idle = cpu_share(proc.pid, master, args.idle_s)
        results.figures[f"settle_cpu_share_{label}"] = round(settling, 4)
        results.figures[f"idle_cpu_share_{label}"] = round(idle, 4)
        progress(f"  CPU {settling:.1%} of a core while settling, then {idle:.1%} idle")
    finally:
        stop(proc, master)
        os.close(master)


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def run_command(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> tuple[float, float, int, str]:
    """(wall s, peak RSS MB, exit status, last stderr line) of one fresh child; killed
    with its group after `timeout` (status -9 then)."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=errors, cwd=cwd, env=env, start_new_session=True
        )
        timer = threading.Timer(timeout, kill_group, (proc.pid,))
        timer.start()
        try:
            # wait4 reports this child's own peak RSS (the rusage of all children would
            # keep the largest of any earlier one).
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: the child is in a session of its own
            kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        last = (errors.read().decode("utf-8", errors="replace").strip().splitlines() or [""])[-1]
    return wall, usage.ru_maxrss / 1024, proc.returncode, last


def measure_command(
    name: str,
    argv: list[str],
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    label: str,
    results: Results,
    *,
    peak: bool,
) -> None:
    for run in ("cold", "warm"):
        key = f"{name}_cold_s_{label}" if run == "cold" else f"{name}_s_{label}"
        wall, peak_mb, status, last = run_command(argv, env, cwd, timeout)
        if status == -signal.SIGKILL and wall >= timeout:
            results.figures[key] = timeout
            results.timeouts.append(key)
            progress(f"  {name} ({run}): not within {timeout} s")
            continue
        if status != 0:
            results.error(key, f"exit {status}: {last}")
            continue
        results.figures[key] = round(wall, 3)
        note = ""
        if peak:
            results.figures[key.replace("_s_", "_peak_mb_")] = round(peak_mb, 1)
            note = f", peak {peak_mb:.0f} MB"
        progress(f"  {name} ({run}) {wall:.2f} s{note}")


def measure(
    url: str,
    project: Path,
    env: dict[str, str],
    args: argparse.Namespace,
    label: str,
    results: Results,
) -> None:
    measure_dashboard(url, project, env, args, label, results)
    where = ["--project", str(project), "--store", url]
    for name, command, peak in (
        ("gc_status", ["gc", "status"], True),
        ("worktrees", ["worktrees"], False),
    ):
        argv = [HARNESS, *command, *where]
        measure_command(name, argv, env, project, args.timeout, label, results, peak=peak)


# -- the run ----------------------------------------------------------------------------


def record_build(results: Results, label: str, report: HistoryReport, cached: bool) -> None:
    results.figures.update(
        {
            f"events_{label}": report.events,
            f"sessions_{label}": report.sessions,
            f"build_s_{label}": round(report.seconds, 2),
        }
    )
    how = "cached, built" if cached else "built"
    progress(
        f"{label}: {report.events:,} events in {report.sessions:,} sessions ({how} in {report.seconds:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--store",
        default="sqlite",
        help="sqlite, or a postgresql:// URL of a server to create databases on",
    )
    parser.add_argument("--sizes", default="10k,100k,1m", help="comma-separated: 10k, 100k, 1m")
    parser.add_argument("--idle-s", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds any one measurement may take"
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=3.0,
        help="seconds after first paint before the idle window starts (measured apart)",
    )
    parser.add_argument("--cols", type=int, default=120)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "harness-history-bench"
    )
    parser.add_argument("--rebuild", action="store_true", help="build cached SQLite stores again")
    args = parser.parse_args()
    labels = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        parser.error(f"--sizes: unknown size {unknown[0]!r} (known: {', '.join(SIZES)})")
    postgres = args.store.startswith(("postgresql://", "postgres://"))
    if not postgres and args.store != "sqlite":
        parser.error("--store: expected sqlite or a postgresql:// URL")

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    results = Results({"store": "postgresql" if postgres else "sqlite"})
    with tempfile.TemporaryDirectory(prefix="harness-history-bench-") as tmp:
        scratch = Path(tmp)
        # Worktrees live under the data directory: the builder (this process) and the
        # faces must agree on it. Cached stores keep theirs beside the cache.
        home = scratch / "home" if postgres else args.cache_dir / "home"
        env = isolated_env(home)
        os.environ.clear()
        os.environ.update(env)
        for label in labels:
            if postgres:
                with postgres_database(args.store, label) as url:
                    project = scratch / f"project-{label}"
                    report = asyncio.run(build(url, project, SIZES[label]))
                    record_build(results, label, report, cached=False)
                    measure(url, project, env, args, label, results)
            else:
                folder, report, cached = cached_sqlite(args.cache_dir, label, args.rebuild)
                record_build(results, label, report, cached)
                measure(sqlite_copy(folder, scratch), folder / "project", env, args, label, results)
                for copy in scratch.glob("harness.db*"):
                    copy.unlink()
    figures = results.figures
    small, large = figures.get("first_paint_s_10k"), figures.get("first_paint_s_1m")
    if isinstance(small, float) and isinstance(large, float):
        figures["first_paint_ratio_1m_vs_10k"] = round(large / small, 2)
    figures["timeouts"] = results.timeouts
    figures["errors"] = results.errors
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
