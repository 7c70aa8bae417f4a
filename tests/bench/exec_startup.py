"""Headless start-up: median wall time of `harness-tui --exec` running a 3-step
scripted session, against `python -c "import asyncio, sqlite3"` in the same run.

    .venv/bin/python tests/bench/exec_startup.py [--runs N]

The two commands alternate, so load from other work on the machine hits both alike.
The last line is one JSON object: {"exec_ms", "baseline_ms", "ratio"}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = """\
[[turn]]
text = "Looking at the files."
[[turn.tool_calls]]
name = "glob"
arguments = { pattern = "*" }

[[turn]]
text = "Reading the notes."
[[turn.tool_calls]]
name = "read_file"
arguments = { path = "notes.txt" }

[[turn]]
text = "The notes say hello."
"""


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    harness = str(Path(sys.executable).with_name("harness-tui"))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        (project / "notes.txt").write_text("hello\n")
        script = Path(tmp) / "three_steps.toml"
        script.write_text(SCRIPT)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
        env["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        exec_cmd = [
            harness,
            "--exec",
            "read the notes",
            "--provider",
            "scripted",
            "--model",
            str(script),
            "--project",
            str(project),
        ]
        base_cmd = [sys.executable, "-c", "import asyncio, sqlite3"]
        timed(exec_cmd, project, env)  # warm the file cache and write .harness/ once
        exec_ms, base_ms = [], []
        for run in range(args.runs):
            exec_ms.append(timed(exec_cmd, project, env))
            base_ms.append(timed(base_cmd, project, env))
            print(
                f"run {run + 1}/{args.runs}: exec {exec_ms[-1]:.0f} ms, "
                f"baseline {base_ms[-1]:.0f} ms",
                file=sys.stderr,
            )
    exec_median = statistics.median(exec_ms)
    base_median = statistics.median(base_ms)
    print(
        json.dumps(
            {
                "exec_ms": round(exec_median, 1),
                "baseline_ms": round(base_median, 1),
                "ratio": round(exec_median / base_median, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
