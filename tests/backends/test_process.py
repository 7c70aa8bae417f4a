"""An agent's process ends with everything it started: its group, and the tools it ran
in sessions of their own (Claude Code runs its Bash tool that way)."""

from __future__ import annotations

import sys
import textwrap

from harness_tui.backends.agent import AgentSpec
from harness_tui.backends.process import AgentProcess
from tests.support.processes import group_alive, running
from tests.support.waiting import wait_for

# An "agent" that starts one child in its own group and one in a session of its own,
# says their pids, then waits to be stopped (ignoring SIGTERM, as a busy agent may).
AGENT = textwrap.dedent(
    """
    import json, os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sleeper = [sys.executable, "-c", "import time; time.sleep(300)"]
    grouped = subprocess.Popen(sleeper)
    detached = subprocess.Popen(sleeper, start_new_session=True)
    print(json.dumps({"grouped": grouped.pid, "detached": detached.pid}), flush=True)
    time.sleep(300)
    """
)


async def test_stop_ends_the_group_and_the_tools_in_sessions_of_their_own(tmp_path):
    spec = AgentSpec(
        name="sleepy",
        protocol="acp",
        argv=(sys.executable, "-c", AGENT),
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    process = await AgentProcess.start(spec)
    pids = await anext(process.messages())
    assert running(pids["grouped"]) and running(pids["detached"])

    await process.stop(grace=0.5)

    # Killed: each is gone once the kernel has finished it off.
    await wait_for(lambda: not group_alive(process.pgid), message="the agent's group gone")
    await wait_for(lambda: not running(pids["grouped"]), message="the grouped child gone")
    await wait_for(
        lambda: not running(pids["detached"]), message=f"the detached child gone: {pids}"
    )
