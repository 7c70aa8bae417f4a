"""What the sandbox adds to a command's wall time: `true` and `python3 -c pass` run
through `ShellProcess` (held at the gate until released, as the engine runs them) with
the sandbox of a workspace-write session and without one, in the same run.

    .venv/bin/python tests/bench/sandbox_overhead.py [--runs N]

The sandboxed and plain runs alternate, so load from other work on the machine hits
both alike. Each time is from `start()` to `wait()` returning: the gate, bubblewrap
setting up its namespaces and mounts, the command, and the group's end. Per command the
medians are compared; the last line is one JSON object:
{"overhead_ms", "ratio", "commands": {CMD: {"plain_ms", "sandboxed_ms", "overhead_ms"}}}
where the top-level overhead_ms and ratio are those of the command the sandbox slows
most.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness_tui.sandbox import build_sandbox, detect  # noqa: E402
from harness_tui.sandbox.confine import Sandbox  # noqa: E402
from harness_tui.tools.bash import ShellProcess  # noqa: E402

COMMANDS = ("true", "python3 -c pass")


def same_program_both_ways(command: str) -> str:
    """`command` with its program as an absolute path found outside the home: the
    sandbox hides the home, so a `python3` that PATH finds there first (a pyenv shim)
    would be another program in it, and the comparison would not be of one command."""
    home = str(Path.home())
    search = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not d.startswith(home)
    )
    name, _, rest = command.partition(" ")
    program = shutil.which(name, path=search) or name
    return f"{program} {rest}".strip()


async def released(_pgid: int) -> None:
    """The engine records the group here; the bench only lets the command go."""


async def timed(command: str, workspace: Path, sandbox: Sandbox, confined: bool) -> float:
    # The same environment both ways: only the confinement differs.
    shell = ShellProcess(
        command,
        cwd=workspace,
        env=sandbox.env,
        on_started=released,
        sandbox=sandbox if confined else None,
    )
    started = time.perf_counter()
    await shell.start()
    code = await shell.wait()
    elapsed = (time.perf_counter() - started) * 1000
    if code != 0:
        raise SystemExit(f"{command!r} exited {code}: {shell.output}")
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs of each command, each way")
    args = parser.parse_args()
    found = detect()
    if not found.ok:
        raise SystemExit(f"no sandbox here: {found.reason}")
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as folder:
        workspace = Path(folder) / "workspace"
        # A repository, as a session's workspace is: its git layout is read per command.
        (workspace / ".git" / "hooks").mkdir(parents=True)
        (workspace / ".git" / "config").write_text("")
        sandbox = build_sandbox(
            "workspace-write",
            network=False,
            workspace=workspace,
            environ=os.environ,
            bwrap=found.bwrap,
        )
        results = {}
        for command in COMMANDS:
            line = same_program_both_ways(command)
            for _ in range(3):  # warm the page cache and the interpreter's files
                await timed(line, workspace, sandbox, False)
                await timed(line, workspace, sandbox, True)
            plain: list[float] = []
            confined: list[float] = []
            for _ in range(args.runs):
                plain.append(await timed(line, workspace, sandbox, False))
                confined.append(await timed(line, workspace, sandbox, True))
            plain_ms = statistics.median(plain)
            sandboxed_ms = statistics.median(confined)
            results[command] = {
                "plain_ms": round(plain_ms, 2),
                "sandboxed_ms": round(sandboxed_ms, 2),
                "overhead_ms": round(sandboxed_ms - plain_ms, 2),
                "ratio": round(sandboxed_ms / plain_ms, 2),
            }
            print(f"{command}: {results[command]}", file=sys.stderr)
    worst = max(results.values(), key=lambda r: r["overhead_ms"])
    print(
        json.dumps(
            {"overhead_ms": worst["overhead_ms"], "ratio": worst["ratio"], "commands": results}
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
