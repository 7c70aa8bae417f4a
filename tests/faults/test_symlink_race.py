"""A directory in the workspace swapped for a symlink to outside, again and again, while
the agent writes into it or reads from it: no write may land outside, no read may
return what is outside.

The swapper is its own process, so it runs truly alongside the writes. It exchanges a
real directory and a symlink to the outside directory under the one name `flip`
(renameat2 RENAME_EXCHANGE: at every instant `flip` is one or the other). Every write goes through the policy gate and then the real tool, as the
engine runs it; edits too, of a file that exists both inside and (as a canary) outside.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness_tui.engine.gate import PolicyGate
from harness_tui.tools.base import ToolContext, ToolError
from harness_tui.tools.files import EditFileTool, ReadFileTool, WriteFileTool
from harness_tui.tools.search import GrepTool

WRITES = 10_000
READS = 2_000
CANARY = "canary: must never change\n"
SECRET = "outside-secret-0451"

SWAPPER = r"""
import ctypes, os, sys
ws, outside = sys.argv[1], sys.argv[2]
os.chdir(ws)
os.symlink(outside, "flip.link")
libc = ctypes.CDLL(None, use_errno=True)
RENAME_EXCHANGE = 2
AT_FDCWD = -100
renameat2 = getattr(libc, "renameat2", None)

if renameat2 is None or renameat2(AT_FDCWD, b"flip", AT_FDCWD, b"flip.link", RENAME_EXCHANGE):
    print("unsupported", flush=True)
    sys.exit(0)
swaps = 1
print("ready", flush=True)
stop = os.path.join(ws, "..", "stop-swapping")
while not os.path.exists(stop):
    for _ in range(50):
        renameat2(AT_FDCWD, b"flip", AT_FDCWD, b"flip.link", RENAME_EXCHANGE)
        swaps += 1
# Leave `flip` as the real directory.
if os.path.islink("flip"):
    renameat2(AT_FDCWD, b"flip", AT_FDCWD, b"flip.link", RENAME_EXCHANGE)
    swaps += 1
print(swaps, flush=True)
"""


@contextmanager
def swapping(tmp_path: Path, ws: Path, outside: Path) -> Iterator[list[int]]:
    """Run the swapper while the block runs; the list it yields gets the swap count."""
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(ws), str(outside)],
        stdout=subprocess.PIPE,
        text=True,
    )
    swaps: list[int] = []
    try:
        assert swapper.stdout is not None
        first = swapper.stdout.readline()
        if first.startswith("unsupported"):
            pytest.skip("this kernel or filesystem cannot exchange two names (renameat2)")
        assert first.startswith("ready"), "the swapper did not start"
        yield swaps
    finally:
        (tmp_path / "stop-swapping").touch()
        out, _ = swapper.communicate(timeout=60)
    swaps.append(int(out.split()[-1]))


def test_a_concurrent_symlink_swap_never_redirects_a_write_outside(tmp_path):
    ws = tmp_path / "ws"
    outside = tmp_path / "outside"
    (ws / "flip").mkdir(parents=True)
    (ws / "flip" / "edit-me.txt").write_text("count 0\n")
    outside.mkdir()
    (outside / "edit-me.txt").write_text(CANARY)
    ctx = ToolContext(session_id="ses_race", workspace=ws, artifacts_dir=tmp_path / "a", env={})
    gate = PolicyGate(ws)
    with swapping(tmp_path, ws, outside) as counted:
        started = time.monotonic()
        outcomes = asyncio.run(_write_many(gate, ctx, ws))
        elapsed = time.monotonic() - started
    [swaps] = counted
    print(f"\n{WRITES} gated writes in {elapsed:.2f} s against {swaps} swaps: {outcomes}")

    # Nothing landed outside: the canary is untouched and alone.
    assert sorted(p.name for p in outside.iterdir()) == ["edit-me.txt"]
    assert (outside / "edit-me.txt").read_text() == CANARY
    assert not any(p.name.endswith(".tmp") for p in ws.rglob("*"))
    # Every call was carried out inside or refused, and the race was really run: some
    # calls met the link (refused), some the directory (written).
    assert sum(outcomes.values()) == WRITES
    assert outcomes["written"] > 0, outcomes
    assert outcomes["denied"] + outcomes["failed"] > 0, outcomes
    assert swaps > 0
    written = {p.name for p in (ws / "flip").rglob("*") if p.is_file()}
    assert len(written) > 1


async def _write_many(gate: PolicyGate, ctx: ToolContext, ws: Path) -> dict[str, int]:
    outcomes = {"written": 0, "denied": 0, "failed": 0}
    count = 0
    for i in range(WRITES):
        if i % 10 == 0:
            tool, name = EditFileTool(), "edit_file"
            args = {"path": "flip/edit-me.txt", "old_string": f"count {count}\n"}
            args["new_string"] = f"count {count + 1}\n"
        elif i % 10 == 1:
            tool, name = WriteFileTool(), "write_file"
            args = {"path": f"flip/sub{i % 7}/file-{i}.txt", "content": f"{i}\n"}
        else:
            tool, name = WriteFileTool(), "write_file"
            args = {"path": f"flip/file-{i}.txt", "content": f"{i}\n"}
        verdict = gate.judge(name, args, ws, "on-request")
        if verdict.decision != "allow":
            outcomes["denied"] += 1
            continue
        try:
            await tool.run(args, ctx)
        except ToolError:
            outcomes["failed"] += 1
            continue
        outcomes["written"] += 1
        if name == "edit_file":
            count += 1
    return outcomes


def test_a_concurrent_symlink_swap_never_redirects_a_read_outside(tmp_path):
    ws = tmp_path / "ws"
    outside = tmp_path / "outside"
    (ws / "flip").mkdir(parents=True)
    (ws / "flip" / "notes.txt").write_text("inside\n")
    outside.mkdir()
    (outside / "notes.txt").write_text(f"{SECRET}\n")
    ctx = ToolContext(session_id="ses_race", workspace=ws, artifacts_dir=tmp_path / "a", env={})
    gate = PolicyGate(ws)
    with swapping(tmp_path, ws, outside) as counted:
        started = time.monotonic()
        outcomes, leaked = asyncio.run(_read_many(gate, ctx, ws))
        elapsed = time.monotonic() - started
    print(f"\n{READS} gated reads in {elapsed:.2f} s against {counted[0]} swaps: {outcomes}")
    assert leaked == 0
    assert sum(outcomes.values()) == READS
    assert outcomes["read"] > 0 and outcomes["denied"] + outcomes["failed"] > 0, outcomes


async def _read_many(gate: PolicyGate, ctx: ToolContext, ws: Path) -> tuple[dict[str, int], int]:
    outcomes = {"read": 0, "denied": 0, "failed": 0}
    leaked = 0
    for i in range(READS):
        if i % 2:
            tool, name, args = ReadFileTool(), "read_file", {"path": "flip/notes.txt"}
        else:
            tool, name, args = GrepTool(), "grep", {"pattern": ".", "path": "flip"}
        if gate.judge(name, args, ws, "on-request").decision != "allow":
            outcomes["denied"] += 1
            continue
        try:
            result = await tool.run(args, ctx)
        except ToolError as exc:
            outcomes["failed"] += 1
            leaked += SECRET in str(exc)
            continue
        outcomes["read"] += 1
        leaked += SECRET in result.content
    return outcomes, leaked
