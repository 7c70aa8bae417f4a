"""The bash tool, and `ShellProcess`: one shell command in its own process group.

`ShellProcess` is the reusable core (start, live output, wait, stop the whole group);
`BashTool` wraps it for one model call. A background-task feature can take over a
running `ShellProcess` (swap its `on_output`, keep awaiting `wait()`) without
restarting the command.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from harness_tui.policy.redact import RedactingStream
from harness_tui.providers.base import ToolSpec
from harness_tui.sandbox import Sandbox
from harness_tui.tools.args import check_args
from harness_tui.tools.artifacts import (
    artifact_path,
    excerpt_file,
    guess_mime,
    limit_bytes,
    new_artifact_id,
)
from harness_tui.tools.base import (
    DEFAULT_OUTPUT_STORE_MAX_BYTES,
    Artifact,
    ToolContext,
    ToolError,
    ToolResult,
)

log = logging.getLogger(__name__)

OutputCallback = Callable[[str, str], None]
# Called with the process group of a command that has started but not yet run anything:
# whoever must be able to stop it after a crash records it durably first.
StartedCallback = Callable[[int], Awaitable[None]]

# Time between SIGTERM and SIGKILL when stopping a process group.
TERMINATE_GRACE_S = 2.0
# Kept in memory per command ([tools] output_store_max_bytes): the head of its output.
# Past it the output still streams live and to the spool file, but is not kept, so a
# runaway command cannot exhaust memory before its timeout.
MAX_CAPTURE_BYTES = DEFAULT_OUTPUT_STORE_MAX_BYTES
# The end of the output is kept besides, whatever its size: the last lines are what a
# summary of a finished command shows.
TAIL_BYTES = 64 * 1024
_READ_CHUNK = 64 * 1024
# After the group is gone, how long to wait for the output pipe to close. Only a process
# that left the group (setsid) can still hold it open.
_DRAIN_TIMEOUT_S = 2.0
# After SIGKILL, how long to wait for the kernel to remove the processes.
_KILL_WAIT_S = 5.0
_POLL_S = 0.02
# The first look again comes sooner: a group that is only finishing its exit (a
# sandbox's inner process, reaped a moment after bubblewrap) is gone within a
# millisecond or two, and a whole poll interval would be added to every command.
_FIRST_POLL_S = 0.001
# Exit status of a command held at its start whose release never came (the process
# that started it died, or could not record it): it ran nothing.
NOT_RELEASED = 125
# A held command's shell waits for one line on the gate, then becomes the command: `exec`
# keeps the process, so the pid (the group) recorded before is the command's, whether
# it is `bash -c COMMAND` itself (which sees the same $0 and options as when started
# directly) or bubblewrap confining it. The gate stays outside the sandbox: the group
# recorded is bubblewrap's, so stopping the group stops the sandbox with everything in
# it. At the end of the gate, without a line, it exits having run nothing.
_GATED = 'IFS= read -r -u {fd} _ || exit {status}; exec {fd}<&-; exec "$@"'

# Clean-up tasks that must outlive a second cancellation of the task that started them.
_cleanups: set[asyncio.Task[Any]] = set()


def _group_members_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` is still running (zombies do not count).

    On Linux this reads /proc, because a zombie counts for kill(2) and nothing may reap
    an orphaned grandchild's zombie promptly; elsewhere it falls back to killpg(pgid, 0).
    """
    if sys.platform.startswith("linux"):
        try:
            entries = os.listdir("/proc")
        except OSError:
            entries = None
        if entries is not None:
            for entry in entries:
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/stat", "rb") as f:
                        stat = f.read()
                except OSError:
                    continue  # exited while we looked
                # Fields after the command name (which may itself contain spaces or ')').
                fields = stat[stat.rfind(b")") + 2 :].split()
                if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                    return True
            return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ShellProcess:
    """`bash -c COMMAND` in its own session and process group, output merged.

    stdout and stderr share one pipe so their order is kept. Each chunk read goes, as
    bytes, to the spool file (once there is one: see below), into memory up to
    `max_capture_bytes` (the head, for `output`) and into a small tail buffer (for
    `tail_text`); and, decoded incrementally (a character split across reads is not
    mangled) with errors replaced, to `on_output("stdout", text)`. Nothing holds the
    whole output unless it is small.

    The spool file keeps every byte as the command wrote it: given `spool_path`, it is
    created once the output passes `spool_after` bytes (small outputs never touch the
    disk), or at once by `spool_to`. A spool that cannot be written (a full disk) stops
    and says why in `spool_error`; the command runs on. With `spool_filter` (a
    policy.redact.RedactingStream) what goes to the file is that of the output with
    secrets redacted, a line at a time.

    When the shell exits, anything it left running in its group is stopped, so a
    finished command never leaves processes behind.

    With `on_started`, the command is held at its start until `on_started(pgid)`
    returned: the group is on record (for the engine, in the log) before the command
    can do anything, or outlive whoever started it. If `on_started` fails, or this
    process dies meanwhile, the command exits without running.

    With a confining `sandbox`, the command runs inside it (see harness_tui.sandbox):
    bubblewrap leads the group, in its own PID namespace that dies with it; `extra_read`
    are paths it must see besides (read-only). `env` is what the command gets: for a
    sandboxed command, the sandbox's allowlisted environment.
    """

    def __init__(
        self,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_output: OutputCallback | None = None,
        grace_s: float = TERMINATE_GRACE_S,
        max_capture_bytes: int = MAX_CAPTURE_BYTES,
        spool_path: Path | None = None,
        spool_after: int = 0,
        spool_filter: RedactingStream | None = None,
        on_started: StartedCallback | None = None,
        sandbox: Sandbox | None = None,
        extra_read: tuple[Path, ...] = (),
    ) -> None:
        self.command = command
        self.on_started = on_started
        self.sandbox = sandbox
        self.extra_read = extra_read
        self.cwd = Path(cwd)
        self.env = dict(env)
        # Public and reassignable: whoever supervises the process may change the sink.
        self.on_output = on_output
        self.grace_s = grace_s
        self.max_capture_bytes = max_capture_bytes
        self.capture_truncated = False
        self.spool_path = spool_path
        # The head in memory is what the spool file starts with when it is created, so
        # it must be created before the head stops growing.
        self.spool_after = min(spool_after, max_capture_bytes)
        self.spool_error: OSError | None = None
        self.spool_filter = spool_filter
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self._head = bytearray()
        self._tail = bytearray()
        self._output_bytes = 0
        self._spool: BinaryIO | None = None
        self._spool_closed = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._proc: asyncio.subprocess.Process | None = None
        self._transport: asyncio.ReadTransport | None = None
        self._reader: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[int] | None = None

    # -- state ------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def pgid(self) -> int | None:
        # start_new_session makes the shell the leader of a group with its own pid.
        return self.pid

    @property
    def returncode(self) -> int | None:
        """The shell's exit status once it exited; negative N means killed by signal N."""
        return self._proc.returncode if self._proc else None

    @property
    def done(self) -> bool:
        """True once the shell exited, its group is gone and all output was read."""
        return self._supervisor is not None and self._supervisor.done()

    @property
    def output(self) -> str:
        """The output read so far, up to max_capture_bytes, decoded. A character cut by
        either limit is left out, as the live text leaves it out until it is whole."""
        return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(
            bytes(self._head), final=self.done and not self.capture_truncated
        )

    @property
    def head_bytes(self) -> bytes:
        """The first max_capture_bytes bytes of the output, as the command wrote them."""
        return bytes(self._head)

    @property
    def output_bytes(self) -> int:
        """Bytes read from the pipe so far, kept or not."""
        return self._output_bytes

    @property
    def spooled(self) -> bool:
        """Whether the spool file was created (and so holds the output, every byte)."""
        return self._spool is not None or self._spool_closed

    def tail_text(self, max_bytes: int = TAIL_BYTES) -> str:
        """The last `max_bytes` (at most TAIL_BYTES) of the output, decoded; starts on a
        character, whatever was cut before it."""
        data = bytes(self._tail[-max_bytes:]) if max_bytes > 0 else b""
        if len(data) < self._output_bytes:
            start = 0
            while start < len(data) and start < 4 and (data[start] & 0xC0) == 0x80:
                start += 1
            data = data[start:]
        return data.decode("utf-8", errors="replace")

    def spool_to(self, path: Path) -> None:
        """Keep every byte of the output, from the first, in the file `path` from now on.

        A spool already written elsewhere is moved there (the open file follows the
        rename, so nothing read meanwhile is lost). A process given no `spool_path` whose
        output already outgrew the head has lost the rest: its file starts with the head
        (`capture_truncated` says so). Raises OSError if the file cannot be created."""
        if self.spooled:
            if self.spool_path is not None and self.spool_path != path:
                os.replace(self.spool_path, path)
            self.spool_path = path
            return
        self.spool_path = path
        self.spool_after = 0
        self.spool_error = None
        self._open_spool(bytes(self._head))

    def discard_spool(self) -> None:
        """Remove the spool file: for output nobody will be shown (a cancelled call)."""
        self._close_spool()
        if self.spooled and self.spool_path is not None:
            self.spool_path.unlink(missing_ok=True)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Start the command. Raises OSError if bash cannot be started in `cwd`, and
        whatever `on_started` raised (the command then ran nothing)."""
        if self._proc is not None:
            raise RuntimeError("ShellProcess already started")
        loop = asyncio.get_running_loop()
        # Our own pipe rather than asyncio's: we must be able to close the read end
        # ourselves if a process outside the group keeps the write end open.
        read_fd, write_fd = os.pipe()
        gate_read = gate_write = None
        argv = ["bash", "-c", self.command]
        if self.sandbox is not None:
            argv = self.sandbox.argv(argv, cwd=self.cwd, extra_read=self.extra_read)
        if self.on_started is not None:
            # Both ends are close-on-exec here; the child gets only the read end.
            gate_read, gate_write = os.pipe()
            script = _GATED.format(fd=gate_read, status=NOT_RELEASED)
            argv = ["bash", "-c", script, "bash", *argv]
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                start_new_session=True,
                pass_fds=() if gate_read is None else (gate_read,),
            )
        except BaseException:
            os.close(read_fd)
            if gate_write is not None:
                os.close(gate_write)
            raise
        finally:
            os.close(write_fd)
            if gate_read is not None:
                os.close(gate_read)
        self.started_at = time.monotonic()
        stream = asyncio.StreamReader()
        try:
            transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(stream), os.fdopen(read_fd, "rb", 0)
            )
        except BaseException:
            if gate_write is not None:
                os.close(gate_write)
            await self.terminate_group()
            raise
        self._transport = transport
        self._reader = asyncio.create_task(self._read(stream))
        self._supervisor = asyncio.create_task(self._supervise())
        if gate_write is not None:
            await self._release(gate_write)

    async def _release(self, gate_write: int) -> None:
        """Let the held command run once `on_started` has recorded its group."""
        assert self.on_started is not None and self._proc is not None
        try:
            await self.on_started(self._proc.pid)
            os.write(gate_write, b"\n")
        except BaseException:
            # The end of the gate tells the shell to exit without running anything;
            # its group is stopped all the same, and its end awaited.
            os.close(gate_write)
            await stop_shell(self)
            await asyncio.shield(self.wait())
            raise
        os.close(gate_write)
        self.started_at = time.monotonic()

    async def wait(self) -> int:
        """Wait until the shell exited, its group is gone and the output is read; return
        the exit status. Cancelling the waiter does not stop the command."""
        if self._supervisor is None:
            raise RuntimeError("ShellProcess not started")
        return await asyncio.shield(self._supervisor)

    async def terminate_group(self, grace_s: float | None = None) -> None:
        """Stop every process in the group: SIGTERM, then SIGKILL after `grace_s`.

        Returns once no process of the group is running. Safe to call repeatedly and
        after the command finished.
        """
        if self._proc is None:
            return
        grace = self.grace_s if grace_s is None else grace_s
        pgid = self._proc.pid
        loop = asyncio.get_running_loop()
        if not self._signal_group(pgid, signal.SIGTERM):
            return
        # A stopped process acts on SIGTERM only once continued.
        self._signal_group(pgid, signal.SIGCONT)
        deadline = loop.time() + grace
        pause = _FIRST_POLL_S
        while _group_members_alive(pgid):
            if loop.time() >= deadline:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_S)
        else:
            return
        self._signal_group(pgid, signal.SIGKILL)
        deadline = loop.time() + _KILL_WAIT_S
        pause = _FIRST_POLL_S
        while _group_members_alive(pgid) and loop.time() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, _POLL_S)

    # -- internals --------------------------------------------------------------------

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> bool:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return False
        return True

    def _take(self, chunk: bytes) -> None:
        before = self._output_bytes
        self._output_bytes += len(chunk)
        room = self.max_capture_bytes - len(self._head)
        if room > 0:
            self._head += chunk[:room]
        if len(chunk) > room:
            self.capture_truncated = True
        self._tail += chunk
        if len(self._tail) > 2 * TAIL_BYTES:
            del self._tail[:-TAIL_BYTES]
        if self._spool is not None:
            self._write_spool(chunk)
        elif self.spool_path is not None and not self.spooled and self.spool_error is None:
            if self._output_bytes > self.spool_after:
                # Everything before this chunk is still in the head (spool_after is
                # within it): the file starts with all of it.
                try:
                    self._open_spool(bytes(self._head[:before]) + chunk)
                except OSError as exc:
                    self.spool_error = exc
        self._emit(self._decoder.decode(chunk))

    def _open_spool(self, first: bytes) -> None:
        assert self.spool_path is not None
        self.spool_path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: what was read is in the file at once, for anyone reading it live.
        self._spool = open(self.spool_path, "wb", buffering=0)  # noqa: SIM115 - kept open
        self._write_spool(first)

    def _write_spool(self, data: bytes) -> None:
        assert self._spool is not None
        if self.spool_filter is not None:
            data = self.spool_filter.feed(data)
        if not self._write_all(self._spool, data):
            self._close_spool()

    def _write_all(self, spool: BinaryIO, data: bytes) -> bool:
        try:
            view = memoryview(data)
            while view:
                written = spool.write(view)
                view = view[written or len(view) :]
        except OSError as exc:
            self.spool_error = self.spool_error or exc
            return False
        return True

    def _close_spool(self) -> None:
        if self._spool is not None:
            spool, self._spool = self._spool, None
            self._spool_closed = True
            if self.spool_filter is not None and self.spool_error is None:
                # The last, unfinished line the filter held back.
                self._write_all(spool, self.spool_filter.flush())
            try:
                spool.close()
            except OSError as exc:
                self.spool_error = self.spool_error or exc

    def _emit(self, text: str) -> None:
        if not text:
            return
        callback = self.on_output
        if callback is not None:
            try:
                callback("stdout", text)
            except Exception:
                # A failing subscriber must not stop the command or lose its output.
                log.exception("on_output callback failed for %r", self.command)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        try:
            while chunk := await stream.read(_READ_CHUNK):
                self._take(chunk)
        finally:
            self._emit(self._decoder.decode(b"", final=True))

    async def _supervise(self) -> int:
        assert self._proc is not None and self._reader is not None
        try:
            returncode = await self._proc.wait()
            # The shell is gone; whatever is left in its group was started in the
            # background by the command and would otherwise outlive it.
            await self.terminate_group()
            await asyncio.wait([self._reader], timeout=_DRAIN_TIMEOUT_S)
            return returncode
        finally:
            self.ended_at = time.monotonic()
            if not self._reader.done():
                self._reader.cancel()
                await asyncio.wait([self._reader])
            if self._transport is not None:
                self._transport.close()
            self._close_spool()


def _keep_until_done(task: asyncio.Task[Any]) -> None:
    _cleanups.add(task)
    task.add_done_callback(_cleanups.discard)


async def stop_shell(shell: ShellProcess) -> None:
    """Stop `shell`'s whole group even if the caller is cancelled again meanwhile."""
    cleanup = asyncio.ensure_future(shell.terminate_group())
    _keep_until_done(cleanup)
    await asyncio.shield(cleanup)


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"exit code: {returncode} (killed by {name})"
    return f"exit code: {returncode}"


def shell_result(
    ctx: ToolContext,
    shell: ShellProcess,
    *,
    returncode: int,
    timed_out: bool = False,
    timeout_s: float | None = None,
) -> ToolResult:
    """The tool result for a finished shell: output (cut to the limit, all of it saved as
    an artifact: the spool file, byte for byte), a timeout note, and a final
    "exit code: N" line."""
    source = f"bash: {shell.command}"
    if len(source) > 200:
        source = source[:199] + "…"
    artifact: Artifact | None = None
    notes: list[str] = []
    if shell.spooled and shell.spool_path is not None:
        artifact = Artifact(
            artifact_id=shell.spool_path.name,
            path=shell.spool_path,
            bytes=shell.spool_path.stat().st_size,
            mime=guess_mime(shell.head_bytes),
            source=source,
        )
        output = excerpt_file(artifact, ctx.limits.output_limit_bytes)
    else:
        output, artifact = limit_bytes(ctx, shell.head_bytes, source)
        if shell.capture_truncated:
            notes.append(
                f"[output capture stopped at {shell.max_capture_bytes} bytes; "
                f"the command wrote {shell.output_bytes} bytes in all]"
            )
    if shell.spool_error is not None:
        notes.append(
            f"[the full output ({shell.output_bytes} bytes) could not be saved to "
            f"{shell.spool_path}: {shell.spool_error}]"
        )
    lines = [output.removesuffix("\n") if output else "(no output)", *notes]
    if timed_out:
        lines.append(f"command timed out after {timeout_s:g} s and was stopped")
    lines.append(_describe_exit(returncode))
    started = shell.started_at or 0.0
    ended = shell.ended_at or time.monotonic()
    return ToolResult(
        content="\n".join(lines),
        is_error=timed_out or returncode != 0,
        artifact=artifact,
        metadata={
            "exit_code": returncode,
            "timed_out": timed_out,
            "duration_ms": int((ended - started) * 1000),
        },
    )


class BashTool:
    spec = ToolSpec(
        name="bash",
        description=(
            "Run a shell command with bash in the workspace directory and return its "
            "combined stdout and stderr, followed by a final line 'exit code: N'. Each call "
            "starts a fresh shell: `cd` and exported variables do not carry over, so chain "
            "dependent steps with `&&`. stdin is empty, so interactive programs fail; use "
            "non-interactive flags (e.g. `git --no-pager`, `--yes`). The command is stopped "
            "after timeout_s seconds (default and maximum: the session's limit, normally "
            "600). Processes the command leaves running in the background are stopped when "
            "it finishes. Output over the size limit is cut to its head and tail and the "
            "full text is saved as an artifact whose path the result names. Prefer "
            "read_file, glob and grep for reading and searching files."
        ),
        parameters={
            "type": "object",
            "properties": {
                "command": {
                    "type": "string",
                    "description": "The command line, run as `bash -c COMMAND`.",
                },
                "timeout_s": {
                    "type": "number",
                    "exclusiveMinimum": 0,
                    "description": (
                        "Seconds before the command is stopped. Values above the "
                        "session's limit are reduced to it."
                    ),
                },
            },
            "required": ["command"],
            "additionalProperties": False,
        },
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = check_args(self.spec, args)
        command: str = args["command"]
        if not command.strip():
            raise ToolError("bash: command is empty")
        timeout_s = float(
            min(args.get("timeout_s", ctx.limits.bash_timeout_s), ctx.limits.bash_timeout_s)
        )
        limits = ctx.limits
        shell = ShellProcess(
            command,
            cwd=ctx.workspace,
            env=ctx.env,
            on_output=ctx.on_output,
            max_capture_bytes=limits.output_store_max_bytes,
            # Output too large to show whole is saved as an artifact as it arrives, so
            # its size never matters: the artifact is this file.
            spool_path=artifact_path(ctx, new_artifact_id()),
            spool_after=limits.output_limit_bytes,
            spool_filter=ctx.redactor.stream() if ctx.redactor is not None else None,
            on_started=ctx.process_started,
            sandbox=ctx.sandbox,
        )
        try:
            await shell.start()
        except OSError as exc:
            raise ToolError(f"bash: cannot start the command in {ctx.workspace}: {exc}") from exc
        timed_out = False
        started = time.monotonic()
        try:
            if ctx.tasks is not None:
                # A command still running after inline_ms becomes a background task
                # and the agent gets on with its work.
                waiter = asyncio.ensure_future(shell.wait())
                done, _ = await asyncio.wait([waiter], timeout=ctx.tasks.inline_ms / 1000)
                if not done:
                    waiter.cancel()
                    remaining = max(timeout_s - (time.monotonic() - started), 0.001)
                    try:
                        task_id = await ctx.tasks.adopt_shell(shell, command, remaining)
                    except Exception:
                        # Nobody would supervise it: the command must not run on alone.
                        await stop_shell(shell)
                        shell.discard_spool()
                        raise
                    return _moved_to_background(shell, task_id, ctx.tasks.inline_ms)
            try:
                async with asyncio.timeout(timeout_s - (time.monotonic() - started)):
                    returncode = await shell.wait()
            except TimeoutError:
                timed_out = True
                await stop_shell(shell)
                returncode = await shell.wait()
        except asyncio.CancelledError:
            # Nothing may outlive a cancelled call, not even its output's file.
            await stop_shell(shell)
            shell.discard_spool()
            raise
        return shell_result(
            ctx, shell, returncode=returncode, timed_out=timed_out, timeout_s=timeout_s
        )


def _moved_to_background(shell: ShellProcess, task_id: str, inline_ms: int) -> ToolResult:
    so_far = shell.tail_text(2000)
    return ToolResult(
        content=(
            f"The command was still running after {inline_ms / 1000:g} s, so it continues "
            f"as background task {task_id}; you will be told when it finishes. Use "
            f"read_task, wait_task or cancel_task with task_id {task_id!r}.\n"
            f"Output so far:\n{so_far}"
        ),
        metadata={"task_id": task_id, "background": True},
    )
