"""The real agent CLIs the real tier runs, pinned and installed once into a cache.

Each pinned npm package is installed with `npm install --prefix CACHE/PKG@VERSION`
into `$HARNESS_AGENT_CACHE` (default ~/.cache/harness-tui/agents), under a file lock so
parallel test workers install it once, and marked done by a file written only after the
executable answered `--version`. The versions are the newest that install and run on
the Node here (20): newer Claude Code releases need Node 22, and npm would silently
pick an older one without a pin.

    python -m tests.support.agent_cli install-all   # what .ci/run calls
    python -m tests.support.agent_cli path claude   # where the executable is
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    bin: str  # the executable under node_modules/.bin

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


PINS = {
    "claude": Pin("@anthropic-ai/claude-code", "2.1.197", "claude"),
    "codex": Pin("@openai/codex", "0.171.0", "codex"),
    "opencode": Pin("opencode-ai", "1.18.33", "opencode"),
}

# A cold install downloads a few hundred MB per CLI.
INSTALL_TIMEOUT = 900.0
VERSION_TIMEOUT = 60.0
# After a failed install (npm retries an unreachable registry for over a minute), other
# test workers and tests report that failure for this long instead of trying again.
FAILURE_MEMORY = 600.0


class AgentInstallError(Exception):
    """A pinned CLI could not be installed or does not run: one line naming it."""


def cache_dir() -> Path:
    # Not XDG_CACHE_HOME: the test suite points that at a fresh directory per test.
    configured = os.environ.get("HARNESS_AGENT_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "harness-tui" / "agents"


def _prefix(pin: Pin) -> Path:
    return cache_dir() / pin.spec.replace("/", "__")


def executable(name: str) -> Path:
    """Where the pinned CLI's executable is (installed or not)."""
    pin = PINS[name]
    return _prefix(pin) / "node_modules" / ".bin" / pin.bin


def installed(name: str) -> bool:
    return (_prefix(PINS[name]) / ".installed").is_file()


def install(name: str) -> Path:
    """The pinned CLI's executable, installing it first if it is not in the cache.

    Raises AgentInstallError (npm missing, the registry unreachable, the binary not
    running on this platform)."""
    if name not in PINS:
        raise AgentInstallError(f"unknown agent CLI {name!r}: expected one of {', '.join(PINS)}")
    pin = PINS[name]
    prefix = _prefix(pin)
    marker = prefix / ".installed"
    exe = executable(name)
    if marker.is_file():
        return exe
    npm = shutil.which("npm")
    if npm is None:
        raise AgentInstallError(f"{pin.spec}: npm is not on PATH")
    prefix.mkdir(parents=True, exist_ok=True)
    failed = prefix.with_name(prefix.name + ".failed")
    with open(prefix.with_name(prefix.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():  # another worker installed it while we waited
            return exe
        if failed.is_file() and time.time() - failed.stat().st_mtime < FAILURE_MEMORY:
            raise AgentInstallError(failed.read_text().strip())
        try:
            _install(pin, npm, prefix, exe, marker)
        except AgentInstallError as exc:
            failed.write_text(f"{exc}\n")
            raise
        failed.unlink(missing_ok=True)
    return exe


def _install(pin: Pin, npm: str, prefix: Path, exe: Path, marker: Path) -> None:
    cmd = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", pin.spec]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AgentInstallError(
            f"{pin.spec}: npm install took over {INSTALL_TIMEOUT:.0f}s"
        ) from exc
    if done.returncode != 0:
        raise AgentInstallError(f"{pin.spec}: npm install failed: {_last_line(done.stderr)}")
    version = _run_version(pin, exe)
    marker.write_text(f"{pin.spec}\n{version}\n")


def _run_version(pin: Pin, exe: Path) -> str:
    """The CLI's `--version`, proving its native part (an optional dependency) is there."""
    if not exe.exists():
        raise AgentInstallError(f"{pin.spec}: installed, but {exe} is missing")
    try:
        done = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentInstallError(f"{pin.spec}: {exe} --version: {exc}") from exc
    if done.returncode != 0:
        raise AgentInstallError(
            f"{pin.spec}: {exe} --version exited {done.returncode}: "
            f"{_last_line(done.stderr or done.stdout)}"
        )
    return done.stdout.strip()


def _last_line(text: str) -> str:
    """The line of npm's (or the CLI's) output that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # npm ends with where its log is; its first error lines name the cause.
    errors = [line for line in lines if line.startswith("npm error") and "complete log" not in line]
    if errors:
        return "; ".join(errors[:3])
    return lines[-1] if lines else "(no output)"


def main(argv: list[str]) -> int:
    if argv[:1] == ["install-all"] and len(argv) == 1:
        failed = 0
        for name, pin in PINS.items():
            started = time.monotonic()
            was_cached = installed(name)
            try:
                exe = install(name)
            except AgentInstallError as exc:
                print(f"agent_cli: {exc}", file=sys.stderr)
                failed += 1
                continue
            how = "cached" if was_cached else f"installed in {time.monotonic() - started:.1f}s"
            print(f"agent_cli: {pin.spec} {how}: {exe}")
        return 1 if failed else 0
    if argv[:1] == ["path"] and len(argv) == 2 and argv[1] in PINS:
        print(executable(argv[1]))
        return 0 if installed(argv[1]) else 1
    print(
        f"usage: python -m tests.support.agent_cli install-all | path {{{','.join(PINS)}}}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
