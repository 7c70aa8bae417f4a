"""Tests find the processes they started by pid or process group, never by a pattern on
command lines: `pgrep -f`/`pkill -f` on a test's command also match the same test in a
parallel run, and would judge, or kill, that run's processes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support.processes import group_alive, kill_group

TESTS = Path(__file__).parent

# pgrep or pkill run by a test: the first word of an argv list or of a shell command.
BY_PATTERN = re.compile(r"""["'](?:pkill|pgrep)(?:["'],|\s+-)""")


def test_no_test_looks_processes_up_by_command_line():
    found = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if BY_PATTERN.search(line)
    ]
    assert found == [], "use tests/support/processes.py instead"


def test_group_alive_follows_the_group_it_was_given():
    leader = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        assert group_alive(leader.pid)
        kill_group(leader.pid)
        leader.wait(timeout=10)
        assert not group_alive(leader.pid)
    finally:
        leader.kill()
        leader.wait()
