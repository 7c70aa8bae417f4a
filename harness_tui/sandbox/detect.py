"""Whether commands can be confined here: bubblewrap found, and a probe run of it with
the namespaces and mounts every command gets succeeds. A kernel without user namespaces,
a container that forbids them, or a missing package fail here, once, with the reason;
the engine then says so and falls back to the policy alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness_tui.sandbox.bwrap import PROBE_ARGS

PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether the sandbox can run: `bwrap` is the program to run when it can, else
    `reason` says why not, in words for a person (naming the path or the error)."""

    bwrap: str | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.bwrap is not None


_cache: dict[tuple[str, str], Availability] = {}


def detect(setting: str = "", path_env: str | None = None) -> Availability:
    """Find bubblewrap (`setting`: the config's `[sandbox] bwrap`, a path; empty: `bwrap`
    on PATH) and probe it. The answer is kept for this process: it does not change while
    the engine runs, and a probe costs a few milliseconds."""
    search = os.environ.get("PATH", "") if path_env is None else path_env
    key = (setting, search if not setting else "")
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = _detect(setting, search)
    return found


def forget() -> None:
    """Probe again next time (for tests that change what is installed)."""
    _cache.clear()


def _detect(setting: str, search: str) -> Availability:
    if setting:
        program = str(Path(setting).expanduser())
        if not os.path.isfile(program) or not os.access(program, os.X_OK):
            return Availability(
                None, f"[sandbox] bwrap = {setting!r}: no executable file at {program}"
            )
    else:
        which = shutil.which("bwrap", path=search)
        if which is None:
            return Availability(
                None, "bubblewrap is not installed (no `bwrap` on PATH; apt-get install bubblewrap)"
            )
        program = which
    try:
        done = subprocess.run(
            [program, *PROBE_ARGS, "--", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return Availability(None, f"{program} did not finish a probe run in {PROBE_TIMEOUT_S:g} s")
    except OSError as exc:
        return Availability(None, f"{program} cannot be run: {exc.strerror or exc}")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        why = said[-1] if said else f"exit status {done.returncode}"
        return Availability(
            None, f"{program} cannot create a sandbox here ({why}); user namespaces may be off"
        )
    return Availability(program)
