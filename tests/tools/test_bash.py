"""The bash tool with real subprocesses: exit codes, live output, timeouts,
cancellation and oversized output."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from harness_tui.tools.base import ToolError, ToolLimits
from harness_tui.tools.bash import BashTool, ShellProcess
from tests.support.waiting import async_settle, wait_for
from tests.tools import make_ctx


def running_in_group(pgid: int) -> list[int]:
    """Pids of processes in group `pgid` that are still running. Zombies do not count:
    an orphan's zombie lingers until whoever adopted it reaps it, but it runs nothing."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            pids.append(int(entry))
    return pids


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


async def test_output_and_exit_code(tmp_path):
    ctx = make_ctx(tmp_path)
    result = await BashTool().run({"command": "echo out; echo err >&2; exit 3"}, ctx)
    lines = result.content.splitlines()
    assert lines == ["out", "err", "exit code: 3"]
    assert result.is_error
    assert result.metadata["exit_code"] == 3
    assert result.metadata["timed_out"] is False
    assert isinstance(result.metadata["duration_ms"], int)
    assert result.artifact is None


async def test_success_runs_in_the_workspace_with_the_given_env(tmp_path):
    ctx = make_ctx(tmp_path)
    ctx.env = {**ctx.env, "HARNESS_TOOL_TEST": "from-context"}
    result = await BashTool().run({"command": "pwd; echo $HARNESS_TOOL_TEST"}, ctx)
    assert not result.is_error
    assert result.content.splitlines() == [
        str(ctx.workspace.resolve()),
        "from-context",
        "exit code: 0",
    ]


async def test_stdin_is_empty_so_reading_it_does_not_hang(tmp_path):
    result = await BashTool().run({"command": "cat; echo after"}, make_ctx(tmp_path))
    assert result.content.splitlines() == ["after", "exit code: 0"]


async def test_no_output_is_said_plainly(tmp_path):
    result = await BashTool().run({"command": "true"}, make_ctx(tmp_path))
    assert result.content == "(no output)\nexit code: 0"


async def test_undecodable_bytes_are_replaced(tmp_path):
    result = await BashTool().run({"command": r"printf 'a\xffb\n'"}, make_ctx(tmp_path))
    assert result.content.splitlines()[0] == "a\ufffdb"


async def test_output_streams_live_to_the_callback(tmp_path):
    # The command waits for a file the callback creates when it sees the first line:
    # unless output reaches the callback while the command runs, it never finishes.
    chunks: list[tuple[str, str]] = []
    ctx = make_ctx(tmp_path)

    def on_output(stream: str, text: str) -> None:
        chunks.append((stream, text))
        if "ready" in text:
            (ctx.workspace / "go").touch()

    ctx.on_output = on_output
    command = "echo ready; while [ ! -e go ]; do sleep 0.05; done; echo finished"
    result = await BashTool().run({"command": command, "timeout_s": 60}, ctx)
    assert not result.metadata["timed_out"]
    assert result.content.splitlines() == ["ready", "finished", "exit code: 0"]
    assert len(chunks) >= 2
    assert {stream for stream, _ in chunks} == {"stdout"}
    assert "".join(text for _, text in chunks) == "ready\nfinished\n"


async def test_timeout_stops_the_whole_process_group(tmp_path):
    ctx = make_ctx(tmp_path)
    command = "echo $$ > pgid; sleep 1000 & echo $! > bg.pid; echo waiting; sleep 1000"
    result = await BashTool().run({"command": command, "timeout_s": 0.5}, ctx)
    assert result.is_error
    assert result.metadata["timed_out"] is True
    assert "waiting" in result.content
    assert "timed out after 0.5 s" in result.content
    assert result.content.splitlines()[-1].startswith("exit code: ")
    pgid = int((ctx.workspace / "pgid").read_text())
    assert not is_running(int((ctx.workspace / "bg.pid").read_text()))
    assert running_in_group(pgid) == []


async def test_timeout_kills_a_command_that_ignores_sigterm(tmp_path):
    ctx = make_ctx(tmp_path)
    command = "trap '' TERM; echo $$ > pgid; sleep 1000 & sleep 1000"
    result = await BashTool().run({"command": command, "timeout_s": 0.5}, ctx)
    assert result.metadata["timed_out"] is True
    assert running_in_group(int((ctx.workspace / "pgid").read_text())) == []


async def test_timeout_above_the_limit_is_reduced_to_it(tmp_path):
    ctx = make_ctx(tmp_path, limits=ToolLimits(bash_timeout_s=0.5))
    result = await BashTool().run({"command": "sleep 1000", "timeout_s": 10_000}, ctx)
    assert result.metadata["timed_out"] is True


async def test_cancellation_leaves_no_process_running(tmp_path):
    started = asyncio.Event()
    ctx = make_ctx(tmp_path, on_output=lambda _stream, text: started.set())
    command = "echo $$ > pgid; sleep 1000 & echo $! > bg.pid; echo started; sleep 1000"
    task = asyncio.create_task(BashTool().run({"command": command}, ctx))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pgid = int((ctx.workspace / "pgid").read_text())
    assert not is_running(int((ctx.workspace / "bg.pid").read_text()))
    assert running_in_group(pgid) == []


async def test_background_processes_do_not_outlive_the_command(tmp_path):
    ctx = make_ctx(tmp_path)
    result = await BashTool().run({"command": "sleep 1000 & echo $! > bg.pid; echo done"}, ctx)
    assert result.content.splitlines() == ["done", "exit code: 0"]
    assert not is_running(int((ctx.workspace / "bg.pid").read_text()))


async def test_huge_output_becomes_an_artifact(tmp_path):
    ctx = make_ctx(tmp_path)
    result = await BashTool().run({"command": "seq 1 100000"}, ctx)
    full = "".join(f"{i}\n" for i in range(1, 100_001))
    assert result.artifact is not None
    assert result.artifact.path.read_text() == full
    assert result.artifact.bytes == len(full)
    assert result.artifact.path.parent == ctx.artifacts_dir / ctx.session_id
    lines = result.content.splitlines()
    assert lines[:3] == ["1", "2", "3"]
    assert lines[-2:] == ["100000", "exit code: 0"]
    stubs = [line for line in lines if line.startswith("[… ")]
    assert len(stubs) == 1
    match = re.fullmatch(
        r"\[… (\d+) bytes omitted; full output \((\d+) bytes\) saved to (.+) \(artifact (\S+)\)\]",
        stubs[0],
    )
    assert match is not None
    assert int(match[2]) == len(full)
    assert match[3] == str(result.artifact.path)
    assert match[4] == result.artifact.artifact_id
    body = result.content.rsplit("\nexit code:", 1)[0]
    assert len(body.encode()) <= ctx.limits.output_limit_bytes
    # What is shown plus what is omitted is the whole output.
    shown = [line for line in lines[:-1] if line != stubs[0]]
    assert len("".join(f"{line}\n" for line in shown)) + int(match[1]) == len(full)


@pytest.mark.parametrize(
    "args, message",
    [
        ({}, "missing required argument(s): command"),
        ({"command": 42}, "'command' must be a string"),
        ({"command": "true", "timeout_s": "soon"}, "'timeout_s' must be a number"),
        ({"command": "true", "timeout_s": 0}, "'timeout_s' must be greater than 0"),
        ({"command": "true", "cwd": "/"}, "unknown argument(s): cwd"),
        ({"command": "   "}, "command is empty"),
    ],
)
async def test_bad_arguments_are_refused(tmp_path, args, message):
    with pytest.raises(ToolError) as info:
        await BashTool().run(args, make_ctx(tmp_path))
    assert message in str(info.value)


async def test_missing_workspace_is_a_tool_error(tmp_path):
    ctx = make_ctx(tmp_path)
    ctx.workspace = tmp_path / "gone"
    with pytest.raises(ToolError) as info:
        await BashTool().run({"command": "true"}, ctx)
    assert "gone" in str(info.value)


async def test_shell_process_output_sink_can_be_swapped_while_running(tmp_path):
    # What a background task does when it takes over a long-running command.
    first: list[str] = []
    second: list[str] = []
    marker = tmp_path / "go"
    shell = ShellProcess(
        f"echo one; while [ ! -e {marker} ]; do sleep 0.05; done; echo two",
        cwd=tmp_path,
        env=os.environ,
        on_output=lambda _s, text: first.append(text),
    )
    await shell.start()
    await wait_for(lambda: "one" in "".join(first), message="the first line of output")
    shell.on_output = lambda _s, text: second.append(text)
    marker.touch()
    assert await shell.wait() == 0
    assert "".join(first) == "one\n"
    assert "".join(second) == "two\n"
    assert shell.output == "one\ntwo\n"
    assert shell.done


async def test_shell_process_terminate_group(tmp_path):
    shell = ShellProcess("sleep 1000 & sleep 1000", cwd=tmp_path, env=os.environ)
    await shell.start()
    pgid = shell.pgid
    assert pgid is not None
    await shell.terminate_group()
    assert running_in_group(pgid) == []
    assert await shell.wait() == -15


async def test_binary_output_is_saved_byte_for_byte_and_only_shown_decoded(tmp_path):
    blob = bytes(range(256)) * 400  # every byte value, 102 400 bytes
    ctx = make_ctx(tmp_path)
    (ctx.workspace / "blob").write_bytes(blob)
    result = await BashTool().run({"command": "cat blob"}, ctx)
    assert result.artifact is not None
    assert result.artifact.path.read_bytes() == blob
    assert result.artifact.bytes == len(blob)
    assert result.artifact.mime == "application/octet-stream"
    assert "\ufffd" in result.content
    assert len(result.content.rsplit("\nexit code:", 1)[0].encode()) <= 30_000


async def test_output_that_fits_leaves_no_file_behind(tmp_path):
    ctx = make_ctx(tmp_path)
    result = await BashTool().run({"command": "seq 1 100"}, ctx)
    assert result.artifact is None
    assert not (ctx.artifacts_dir / ctx.session_id).exists()


async def test_only_the_head_of_the_output_is_kept_in_memory(tmp_path):
    shell = ShellProcess(
        "seq 1 200000", cwd=tmp_path, env=os.environ, max_capture_bytes=4096,
        spool_path=tmp_path / "spool", spool_after=1000,
    )  # fmt: skip
    await shell.start()
    assert await shell.wait() == 0
    full = "".join(f"{i}\n" for i in range(1, 200_001))
    assert len(shell.head_bytes) == 4096 and shell.capture_truncated
    assert shell.output == full[:4096]
    assert shell.tail_text(20) == full[-20:]
    assert shell.output_bytes == len(full)
    assert (tmp_path / "spool").read_text() == full


async def test_a_command_runs_nothing_until_its_group_is_recorded(tmp_path):
    """With on_started, the command is held at its start: whoever records its process
    group (the engine, in the log) does so before the command can do anything."""
    marker = tmp_path / "ran"
    seen: list[tuple[int, bool, bool]] = []

    async def record(pgid: int) -> None:
        await async_settle()  # time enough for an unheld command to write its marker
        seen.append((pgid, bool(running_in_group(pgid)), marker.exists()))

    shell = ShellProcess(
        f"echo $$ > {marker}; echo ok", cwd=tmp_path, env=os.environ, on_started=record
    )
    await shell.start()
    assert await shell.wait() == 0
    [(pgid, held, ran_early)] = seen
    assert held and not ran_early
    # The command ran as the group it was recorded as, with its output as usual.
    assert pgid == shell.pgid and marker.read_text() == f"{pgid}\n"
    assert shell.output == "ok\n"


async def test_a_command_whose_group_cannot_be_recorded_never_runs(tmp_path):
    marker = tmp_path / "ran"

    async def refuse(pgid: int) -> None:
        raise OSError("the log cannot be written")

    shell = ShellProcess(f"touch {marker}", cwd=tmp_path, env=os.environ, on_started=refuse)
    with pytest.raises(OSError, match="cannot be written"):
        await shell.start()
    assert shell.done and not running_in_group(shell.pgid or 0)
    assert not marker.exists()
