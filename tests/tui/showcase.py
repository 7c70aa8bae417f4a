"""A store with a session in every state, written from hand-made events with fixed
timestamps. The snapshot tests and the README's screenshots draw the dashboard over
it: the dashboard renders what the log says, so a fixed log and a fixed clock give
the same picture on every run. The GC screen's store is in gc_showcase.py; both are
built with the helpers in session_log.py.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

from harness_tui import events as ev
from harness_tui.events import Event
from harness_tui.store import EventStore
from harness_tui.tui.model import Clock
from tests.tui.session_log import (
    REMOTE_HOLDER,
    REMOTE_LEASE_S,
    REMOTE_OWNER,
    T0,
    SessionLog,
    created,
    end,
    reply,
    tool_call,
    turn,
)

NOW = T0 + timedelta(minutes=42, seconds=17)
FIXED_CLOCK = Clock(now=lambda: NOW, tz=UTC)

# Session ids, fixed so tests can select them.
FIX_TEST = "a1f3c9e2b7d4"
EXPLORE_CHILD = "c7e1d2a9f480"
REVIEW_CHILD = "d9b2e8c1a356"
DEPLOY_DOCS = "b4e8a2c6d1f9"
RENAME_LOADER = "e2c4f6a8b0d1"
SUMMARISE = "f1a3b5c7d9e0"
UPGRADE = "a0b1c2d3e4f5"
RETRY = "b6c7d8e9f0a1"
PARSER = "c2d3e4f5a6b7"
FLAKY = "d8e9f0a1b2c3"
DEV_SERVER_TASK = "task-devserver"
PYTEST_TASK = "task-pytest"

# Built from lines: a diff's blank context lines are a single space.
RENAME_DIFF = "\n".join(
    [
        "--- a/harness/config_loader.py",
        "+++ b/harness/config_loader.py",
        "@@ -12,11 +12,11 @@ from pathlib import Path",
        ' DEFAULTS = Path(__file__).parent / "defaults.toml"',
        " ",
        " ",
        "-def load(path: str | None = None) -> dict:",
        '-    """Read the config at `path`, falling back to the defaults."""',
        "-    source = Path(path) if path else DEFAULTS",
        "+def load_config(path: Path | None = None) -> dict:",
        '+    """Read the config at `path`, layered over the packaged defaults."""',
        "+    source = path or DEFAULTS",
        '     with source.open("rb") as handle:',
        "         return tomllib.load(handle)",
        "",
    ]
)


def showcase_events() -> list[Event]:
    sessions: list[SessionLog] = []

    def new(session_id: str) -> SessionLog:
        session = SessionLog(session_id)
        sessions.append(session)
        return session

    # Running, with a background task, a finished subagent and a running one.
    fix = new(FIX_TEST)
    created(fix, 2, "Fix the failing mean() test in calc")
    turn(fix, 2, "The CI run on main fails in test_calc.py; find out why and fix it.")
    reply(
        fix,
        3,
        "I'll find the project's Python files and run the tests to see what fails.",
        [("call_1", "glob", {"pattern": "**/*.py"})],
        tokens=(2400, 96),
    )
    tool_call(fix, 3, "call_1", "glob", {"pattern": "**/*.py"}, "calc.py\ntest_calc.py\nserver.py")
    reply(
        fix,
        4,
        "Starting the dev server in the background while I look at the tests.",
        [("call_2", "bash", {"command": "python3 -m http.server 8000", "background": True})],
    )
    fix.add(
        4,
        ev.TOOL_REQUESTED,
        call_id="call_2",
        tool="bash",
        args={"command": "python3 -m http.server 8000"},
    )
    fix.add(
        4,
        ev.POLICY_DECIDED,
        call_id="call_2",
        decision="allow",
        rule_id="python-run",
        risk="low",
        reason="allowed by rule",
    )
    fix.add(
        4,
        ev.TASK_STARTED,
        task_id=DEV_SERVER_TASK,
        kind="shell",
        title="python3 -m http.server 8000",
        owner=REMOTE_OWNER,
    )
    fix.add(
        4,
        ev.TOOL_COMPLETED,
        call_id="call_2",
        result=f"started task {DEV_SERVER_TASK}",
        duration_ms=2000,
    )
    for minute, line in enumerate(
        [
            "Serving HTTP on 0.0.0.0 port 8000 (http://0.0.0.0:8000/) ...\n",
            '127.0.0.1 - - [14/Mar/2025 09:05:12] "GET / HTTP/1.1" 200 -\n',
            '127.0.0.1 - - [14/Mar/2025 09:05:13] "GET /calc.py HTTP/1.1" 200 -\n',
            '127.0.0.1 - - [14/Mar/2025 09:07:40] "GET /favicon.ico HTTP/1.1" 404 -\n',
        ]
    ):
        fix.add(5 + minute, ev.TASK_OUTPUT, task_id=DEV_SERVER_TASK, stream="stderr", text=line)
    reply(
        fix,
        9,
        "Two things to check in parallel: a reviewer for the test file, an explorer for callers of mean().",
        [
            (
                "call_3",
                "subagent",
                {"preset": "review", "prompt": "Review test_calc.py for wrong expectations"},
            ),
            ("call_4", "subagent", {"preset": "explore", "prompt": "Find every caller of mean()"}),
        ],
    )
    fix.add(
        9,
        ev.TOOL_REQUESTED,
        call_id="call_3",
        tool="subagent",
        args={"preset": "review", "prompt": "Review test_calc.py for wrong expectations"},
    )
    fix.add(
        9,
        ev.SUBAGENT_SPAWNED,
        child_session_id=REVIEW_CHILD,
        preset="review",
        prompt="Review test_calc.py for wrong expectations",
    )
    fix.add(
        9,
        ev.TOOL_REQUESTED,
        call_id="call_4",
        tool="subagent",
        args={"preset": "explore", "prompt": "Find every caller of mean()"},
    )
    fix.add(
        9,
        ev.SUBAGENT_SPAWNED,
        child_session_id=EXPLORE_CHILD,
        preset="explore",
        prompt="Find every caller of mean()",
    )
    fix.add(
        10,
        ev.TASK_STARTED,
        task_id=PYTEST_TASK,
        kind="shell",
        title="python3 -m pytest -x -q",
        owner=REMOTE_OWNER,
    )
    for minute, line in enumerate(
        [
            "============================= test session starts ==============================\n",
            "collected 4 items\n\n",
            "test_calc.py ..F\n",
            "=================================== FAILURES ===================================\n",
            "__________________________________ test_mean ___________________________________\n",
            "    def test_mean():\n>       assert mean([2, 4, 6]) == 4\nE       assert 6.0 == 4\n",
            "test_calc.py:14: AssertionError\n",
            "=========================== short test summary info ============================\n",
            "FAILED test_calc.py::test_mean - assert 6.0 == 4\n",
            "========================= 1 failed, 2 passed in 0.05s ==========================\n",
        ]
    ):
        fix.add(10 + minute * 0.2, ev.TASK_OUTPUT, task_id=PYTEST_TASK, stream="stdout", text=line)
    fix.add(12, ev.TASK_FAILED, task_id=PYTEST_TASK, exit_code=1, summary="1 failed, 2 passed")

    review = new(REVIEW_CHILD)
    created(
        review,
        9,
        "Review test_calc.py for wrong expectations",
        parent_id=FIX_TEST,
        preset="review",
        model="claude-haiku-5",
    )
    turn(review, 9, "Review test_calc.py for wrong expectations")
    reply(
        review,
        11,
        "The expectations are right: mean([2, 4, 6]) is 4. The bug is in calc.py.",
        tokens=(3100, 210),
        cost=0.0011,
    )
    end(review, 11, "no_tool_calls", "done")

    explore = new(EXPLORE_CHILD)
    created(
        explore,
        9,
        "Find every caller of mean()",
        parent_id=FIX_TEST,
        preset="explore",
        model="claude-haiku-5",
    )
    turn(explore, 9, "Find every caller of mean()")
    reply(
        explore,
        13,
        "Searching the code for calls to mean().",
        [("call_1", "grep", {"pattern": "mean\\(", "glob": "*.py"})],
        tokens=(2200, 60),
        cost=0.0007,
    )
    tool_call(
        explore,
        13,
        "call_1",
        "grep",
        {"pattern": "mean\\(", "glob": "*.py"},
        "calc.py:8: def mean(values):\ntest_calc.py:14:     assert mean([2, 4, 6]) == 4\nserver.py:31:     avg = mean(samples)",
    )

    # Waiting for approval of a risky command.
    deploy = new(DEPLOY_DOCS)
    created(deploy, 20, "Publish the docs site to gh-pages", mode="on-request")
    turn(deploy, 20, "Build the docs and publish them to the gh-pages branch.")
    reply(
        deploy,
        24,
        "The docs build cleanly. Publishing them needs a force-push to gh-pages.",
        [("call_1", "bash", {"command": "git push --force origin gh-pages"})],
        tokens=(5200, 140),
        cost=0.0177,
    )
    deploy.add(
        24,
        ev.TOOL_REQUESTED,
        call_id="call_1",
        tool="bash",
        args={"command": "git push --force origin gh-pages"},
    )
    deploy.add(
        24,
        ev.POLICY_DECIDED,
        call_id="call_1",
        decision="prompt",
        rule_id="git-push-force",
        risk="high",
        reason="rewrites the remote branch's history",
    )
    deploy.add(
        24,
        ev.APPROVAL_REQUESTED,
        approval_id="ap-deploy-1",
        call_id="call_1",
        summary="git push --force origin gh-pages",
        risk="high",
        rule_id="git-push-force",
        segments=[["git", "push", "--force", "origin", "gh-pages"]],
    )
    deploy.add(24, ev.SESSION_STATUS, status="waiting")

    # Waiting for approval of a file edit, shown as a diff.
    rename = new(RENAME_LOADER)
    created(rename, 26, "Rename load() to load_config() in the config loader")
    turn(rename, 26, "Rename load() in harness/config_loader.py to load_config() and take a Path.")
    reply(
        rename,
        31,
        "Here is the change to the loader; the callers come next.",
        [
            (
                "call_1",
                "edit_file",
                {
                    "path": "harness/config_loader.py",
                    "old_string": "def load(",
                    "new_string": "def load_config(",
                },
            )
        ],
        tokens=(4100, 330),
        cost=0.0173,
    )
    rename.add(
        31,
        ev.TOOL_REQUESTED,
        call_id="call_1",
        tool="edit_file",
        args={
            "path": "harness/config_loader.py",
            "old_string": "def load(",
            "new_string": "def load_config(",
        },
    )
    rename.add(
        31,
        ev.POLICY_DECIDED,
        call_id="call_1",
        decision="prompt",
        risk="medium",
        reason="file writes ask in untrusted mode",
    )
    rename.add(
        31,
        ev.APPROVAL_REQUESTED,
        approval_id="ap-rename-1",
        call_id="call_1",
        summary="edit harness/config_loader.py (+3 −3)",
        diff=RENAME_DIFF,
        risk="medium",
    )
    rename.add(31, ev.SESSION_STATUS, status="waiting")

    # Idle: the turn stopped at max_steps and waits for more input.
    summarise = new(SUMMARISE)
    created(summarise, 14, "Summarise the open issues by area", provider="openai", model="gpt-5.5")
    turn(summarise, 14, "Summarise the open issues by area.")
    reply(
        summarise,
        17,
        "Grouped 23 issues into 5 areas; stopping here as asked after 3 steps.",
        tokens=(9400, 820),
        cost=0.0318,
    )
    end(summarise, 17, "max_steps", "idle")

    # Queued: waiting for a worktree slot.
    upgrade = new(UPGRADE)
    created(upgrade, 33, "Upgrade dependencies and run the suite", mode="auto")
    upgrade.add(33, ev.SESSION_STATUS, status="queued")

    # Done, failed and cancelled.
    retry = new(RETRY)
    created(retry, 5, "Add retries with backoff to the HTTP client")
    turn(retry, 5, "Add retries with exponential backoff to http_client.py.")
    reply(
        retry,
        6,
        "Reading the client first.",
        [("call_1", "read_file", {"path": "http_client.py"})],
        tokens=(2100, 50),
        cost=0.0071,
    )
    tool_call(
        retry,
        6,
        "call_1",
        "read_file",
        {"path": "http_client.py"},
        "import httpx\n\nclass Client:\n    ...",
    )
    reply(
        retry,
        8,
        "Added retries (3 attempts, 0.5 s doubling, jitter) and a test; all 12 tests pass.",
        tokens=(6300, 410),
        cost=0.0251,
    )
    end(retry, 8, "no_tool_calls", "done")

    parser = new(PARSER)
    created(
        parser,
        1,
        "Refactor the query parser into a Pratt parser",
        provider="openai",
        model="gpt-5.5",
    )
    turn(parser, 1, "Refactor parser.py into a Pratt parser.")
    parser.add(3, ev.MODEL_FAILED, error="openai: 529 overloaded", retryable=True, attempt=1)
    parser.add(4, ev.MODEL_FAILED, error="openai: 529 overloaded", retryable=False, attempt=5)
    end(parser, 4, "failed", "failed", error="openai: 529 overloaded")

    flaky = new(FLAKY)
    created(flaky, 0, "Find out why test_upload is flaky")
    turn(flaky, 0, "test_upload fails one run in ten; find out why.")
    reply(
        flaky,
        1,
        "Running the test 50 times to catch a failure.",
        [
            (
                "call_1",
                "bash",
                {"command": "for i in $(seq 50); do pytest -q tests/test_upload.py || break; done"},
            )
        ],
        tokens=(1900, 80),
        cost=0.0069,
    )
    flaky.add(
        1,
        ev.TOOL_REQUESTED,
        call_id="call_1",
        tool="bash",
        args={"command": "for i in $(seq 50); do pytest -q tests/test_upload.py || break; done"},
    )
    flaky.add(2, ev.TOOL_FAILED, call_id="call_1", error="cancelled")
    end(flaky, 2, "cancelled", "cancelled")

    merged = [event for session in sessions for event in session.events]
    # The log's order is time order, as if every session had been writing at once.
    merged.sort(key=lambda event: event.ts)
    return merged


async def write_showcase(store: EventStore) -> None:
    events = showcase_events()
    await store.append(events)
    # The remote engine runs what it owns: it holds those sessions' leases.
    for session_id in sorted(remotely_owned(events)):
        await store.acquire_lease(session_id, REMOTE_HOLDER, REMOTE_LEASE_S)


def remotely_owned(events: list[ev.Event]) -> set[str]:
    return {e.session_id for e in events if e.data.get("owner") == REMOTE_OWNER}


def showcase_project(directory: Path) -> Path:
    """A project folder named like the screenshots' ("shop"), with a .git so the
    dashboard treats it as a repository."""
    project = directory / "shop"
    (project / ".git").mkdir(parents=True, exist_ok=True)
    return project
