"""Validation: the project's check commands, run in a session's worktree after the agent
finishes, with a timeout per command and only the tail of each output kept.

Each command runs as `bash -c COMMAND` in its own process group (the bash tool's
`ShellProcess`), so a timed-out or cancelled command is stopped with everything it
started. The tail is what a person, or the agent on its next try, needs: test runners
and compilers print their verdict last.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness_tui.sandbox import Sandbox
from harness_tui.tools.bash import ShellProcess, StartedCallback, stop_shell

__all__ = ["ValidationResult", "failure_feedback", "run_validation"]


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """One command's outcome. `exit_code` is negative N when a signal N ended it (as when
    a timeout stopped it); `output_tail` is the last `output_limit` bytes of stdout and
    stderr together, and `output_bytes` how much the command wrote in all."""

    command: str
    exit_code: int
    output_tail: str
    timed_out: bool
    duration_ms: int
    output_bytes: int = 0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def event_data(self) -> dict[str, Any]:
        """The payload of `validation.completed`."""
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "output_tail": self.output_tail,
            "timed_out": self.timed_out,
            "duration_ms": self.duration_ms,
            "output_bytes": self.output_bytes,
        }


async def run_validation(
    commands: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_limit: int,
    on_started: Callable[[str], StartedCallback] | None = None,
    sandbox: Sandbox | None = None,
) -> list[ValidationResult]:
    """Run `commands` one after another in `cwd` and return their results.

    Stops at the first command that fails or times out: later checks usually depend on
    earlier ones (a build before its tests), and one failure is what the agent fixes
    next. So the last result is the failure, if any. A command still running after
    `timeout_s` seconds is stopped, its whole process group with it. Raises OSError when
    bash cannot be started in `cwd`. Cancelling the caller stops the running command.
    `on_started(command)` gives the hook each command is held at its start for (see
    `ShellProcess`): the caller records its process group. With `sandbox`, each command
    runs inside it, as the agent's own commands do: validation runs the agent's code.
    """
    results: list[ValidationResult] = []
    for command in commands:
        hook = on_started(command) if on_started is not None else None
        result = await _run_one(command, Path(cwd), env, timeout_s, output_limit, hook, sandbox)
        results.append(result)
        if not result.passed:
            break
    return results


async def _run_one(
    command: str,
    cwd: Path,
    env: Mapping[str, str],
    timeout_s: float,
    output_limit: int,
    on_started: StartedCallback | None,
    sandbox: Sandbox | None,
) -> ValidationResult:
    tail = _Tail(output_limit)
    # The shell keeps nothing itself (it would keep the head); the tail is kept here.
    shell = ShellProcess(
        command,
        cwd=cwd,
        env=env,
        on_output=lambda _stream, text: tail.add(text),
        max_capture_bytes=0,
        on_started=on_started,
        sandbox=sandbox,
    )
    started = time.monotonic()
    await shell.start()
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout_s):
                exit_code = await shell.wait()
        except TimeoutError:
            timed_out = True
            await stop_shell(shell)
            exit_code = await shell.wait()
    except asyncio.CancelledError:
        await stop_shell(shell)
        raise
    return ValidationResult(
        command=command,
        exit_code=exit_code,
        output_tail=tail.text(),
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        output_bytes=tail.total,
    )


class _Tail:
    """The last `limit` bytes of a stream, without holding the rest in memory."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self.total = 0
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def add(self, text: str) -> None:
        data = text.encode("utf-8", errors="replace")
        self.total += len(data)
        self._chunks.append(data)
        self._size += len(data)
        while self._chunks and self._size - len(self._chunks[0]) >= self.limit:
            self._size -= len(self._chunks.popleft())

    def text(self) -> str:
        data = b"".join(self._chunks)
        if len(data) <= self.limit:
            return data.decode("utf-8", errors="replace")
        data = data[len(data) - self.limit :] if self.limit else b""
        # The cut may fall inside a character: skip its continuation bytes.
        start = 0
        while start < len(data) and data[start] & 0xC0 == 0x80:
            start += 1
        text = data[start:].decode("utf-8", errors="replace")
        # Start at a whole line when one begins early enough that little is lost.
        newline = text.find("\n", 0, len(text) // 4 + 1)
        return text[newline + 1 :] if newline != -1 else text


def failure_feedback(result: ValidationResult, retries_left: int) -> str:
    """The text sent to the agent as a new turn after `result` failed: which command,
    how it ended, its output tail, and how many more failures the session can take
    (`retries_left` counts the tries after the one this text starts)."""
    if result.timed_out:
        how = f"was stopped after running too long (exit code {result.exit_code})"
    else:
        how = f"failed with exit code {result.exit_code}"
    lines = [f"Validation `{result.command}` {how}."]
    if result.output_tail.strip():
        cut = result.output_bytes > len(result.output_tail.encode("utf-8", errors="replace"))
        lines.append("The end of its output:" if cut else "Its output:")
        lines.append(result.output_tail.rstrip("\n"))
    else:
        lines.append("It printed nothing.")
    if retries_left > 0:
        tries = "1 more try" if retries_left == 1 else f"{retries_left} more tries"
        lines.append(
            f"Fix the cause and finish again; validation then runs again ({tries} after this)."
        )
    else:
        lines.append(
            "Fix the cause and finish again; this is the last try before the session fails."
        )
    return "\n".join(lines)
