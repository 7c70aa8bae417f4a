"""A long-lived `harness-tui` for the fault tests: runs the real command line (parser,
config, the exec runner and its error boundary) once per request, in this process, so a
test can start many runs at the same moment without paying for a new interpreter each.

    python tests/faults/cli_worker.py

Each line on stdin is a JSON list of arguments; for each, one JSON line comes back on
stdout: {"code": exit code, "stdout": …, "stderr": …}, the run's own stdout and stderr
as a user would see them (captured at the file descriptors, so asyncio's own messages,
such as "Task exception was never retrieved", are in it too).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile

from harness_tui.cli import main


def run(argv: list[str]) -> dict[str, object]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        try:
            try:
                main(argv)
            except SystemExit as exit_:
                code = exit_.code
            else:  # pragma: no cover - main always exits
                code = None
            # A task that failed unretrieved says so when it is collected.
            gc.collect()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        out.seek(0)
        err.seek(0)
        return {
            "code": code,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


if __name__ == "__main__":
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run(json.loads(line))), flush=True)
