"""A store with a session in every state, written from hand-made events with fixed
timestamps. The snapshot tests and the README's screenshots draw the dashboard over
it: the dashboard renders what the log says, so a fixed log and a fixed clock give
the same picture on every run. A second store, for the GC screen, holds sessions with
recurring trouble and GC's log of them (`write_gc_showcase`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness_tui import events as ev
from harness_tui.config import GCSignalsConfig
from harness_tui.events import Event
from harness_tui.gc.drafts import DEFAULT_TARGETS
from harness_tui.gc.service import gc_session_id
from harness_tui.gc.signals import Signal, find_signals
from harness_tui.store import EventStore
from harness_tui.tui.model import Clock

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
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
# Running turns and tasks belong to an engine on another machine sharing the store:
# an engine opening this store cannot check that one, so it leaves them running.
REMOTE_OWNER = {"host": "build-agent-7.example", "pid": 4242, "start": "1"}
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


@dataclass
class _Session:
    session_id: str
    events: list[Event] = field(default_factory=list)

    def add(self, at: float, type_: str, **data: Any) -> None:
        """`at`: minutes after T0."""
        seq = len(self.events) + 1
        self.events.append(Event(self.session_id, seq, type_, data, ts=T0 + timedelta(minutes=at)))


def _created(
    session: _Session,
    at: float,
    title: str,
    *,
    provider: str = "anthropic",
    model: str = "claude-sonnet-5-5",
    mode: str = "untrusted",
    **extra: Any,
) -> None:
    session.add(
        at,
        ev.SESSION_CREATED,
        title=title,
        project="/src/shop",
        workspace="/src/shop",
        provider=provider,
        model=model,
        approval_mode=mode,
        **extra,
    )
    session.add(at, ev.SESSION_STATUS, status="idle")


def _turn(session: _Session, at: float, prompt: str, mode: str = "prompt") -> None:
    session.add(at, ev.INPUT_RECEIVED, text=prompt, mode=mode)
    session.add(at, ev.TURN_STARTED, owner=REMOTE_OWNER)
    session.add(at, ev.SESSION_STATUS, status="running")


def _model(
    session: _Session,
    at: float,
    text: str,
    calls: list[tuple[str, str, dict[str, Any]]] = (),  # type: ignore[assignment]
    *,
    tokens: tuple[int, int] = (1800, 120),
    cost: float = 0.0072,
) -> None:
    session.add(
        at,
        ev.MODEL_COMPLETED,
        text=text,
        tool_calls=[{"id": cid, "name": name, "arguments": args} for cid, name, args in calls],
        usage={"input_tokens": tokens[0], "output_tokens": tokens[1], "cost_usd": cost},
        stop_reason="tool_use" if calls else "end_turn",
    )


def _tool(
    session: _Session,
    at: float,
    call_id: str,
    tool: str,
    args: dict[str, Any],
    result: str,
    *,
    rule: str | None = None,
    ms: int = 40,
) -> None:
    session.add(at, ev.TOOL_REQUESTED, call_id=call_id, tool=tool, args=args)
    decided: dict[str, Any] = {"call_id": call_id, "decision": "allow", "risk": "low"}
    decided["reason"] = "read-only tool" if tool != "bash" else "allowed by rule"
    if rule:
        decided["rule_id"] = rule
    session.add(at, ev.POLICY_DECIDED, **decided)
    session.add(at, ev.TOOL_COMPLETED, call_id=call_id, result=result, duration_ms=ms)


def _end(session: _Session, at: float, reason: str, status: str, error: str | None = None) -> None:
    data: dict[str, Any] = {"reason": reason}
    if error:
        data["error"] = error
    session.add(at, ev.TURN_COMPLETED, **data)
    session.add(at, ev.SESSION_STATUS, status=status)


def showcase_events() -> list[Event]:
    sessions: list[_Session] = []

    def new(session_id: str) -> _Session:
        session = _Session(session_id)
        sessions.append(session)
        return session

    # Running, with a background task, a finished subagent and a running one.
    fix = new(FIX_TEST)
    _created(fix, 2, "Fix the failing mean() test in calc")
    _turn(fix, 2, "The CI run on main fails in test_calc.py; find out why and fix it.")
    _model(
        fix,
        3,
        "I'll find the project's Python files and run the tests to see what fails.",
        [("call_1", "glob", {"pattern": "**/*.py"})],
        tokens=(2400, 96),
    )
    _tool(fix, 3, "call_1", "glob", {"pattern": "**/*.py"}, "calc.py\ntest_calc.py\nserver.py")
    _model(
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
    _model(
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
    _created(
        review,
        9,
        "Review test_calc.py for wrong expectations",
        parent_id=FIX_TEST,
        preset="review",
        model="claude-haiku-5",
    )
    _turn(review, 9, "Review test_calc.py for wrong expectations")
    _model(
        review,
        11,
        "The expectations are right: mean([2, 4, 6]) is 4. The bug is in calc.py.",
        tokens=(3100, 210),
        cost=0.0011,
    )
    _end(review, 11, "no_tool_calls", "done")

    explore = new(EXPLORE_CHILD)
    _created(
        explore,
        9,
        "Find every caller of mean()",
        parent_id=FIX_TEST,
        preset="explore",
        model="claude-haiku-5",
    )
    _turn(explore, 9, "Find every caller of mean()")
    _model(
        explore,
        13,
        "Searching the code for calls to mean().",
        [("call_1", "grep", {"pattern": "mean\\(", "glob": "*.py"})],
        tokens=(2200, 60),
        cost=0.0007,
    )
    _tool(
        explore,
        13,
        "call_1",
        "grep",
        {"pattern": "mean\\(", "glob": "*.py"},
        "calc.py:8: def mean(values):\ntest_calc.py:14:     assert mean([2, 4, 6]) == 4\nserver.py:31:     avg = mean(samples)",
    )

    # Waiting for approval of a risky command.
    deploy = new(DEPLOY_DOCS)
    _created(deploy, 20, "Publish the docs site to gh-pages", mode="on-request")
    _turn(deploy, 20, "Build the docs and publish them to the gh-pages branch.")
    _model(
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
    )
    deploy.add(24, ev.SESSION_STATUS, status="waiting")

    # Waiting for approval of a file edit, shown as a diff.
    rename = new(RENAME_LOADER)
    _created(rename, 26, "Rename load() to load_config() in the config loader")
    _turn(rename, 26, "Rename load() in harness/config_loader.py to load_config() and take a Path.")
    _model(
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
    _created(summarise, 14, "Summarise the open issues by area", provider="openai", model="gpt-5.5")
    _turn(summarise, 14, "Summarise the open issues by area.")
    _model(
        summarise,
        17,
        "Grouped 23 issues into 5 areas; stopping here as asked after 3 steps.",
        tokens=(9400, 820),
        cost=0.0318,
    )
    _end(summarise, 17, "max_steps", "idle")

    # Queued: waiting for a worktree slot.
    upgrade = new(UPGRADE)
    _created(upgrade, 33, "Upgrade dependencies and run the suite", mode="auto")
    upgrade.add(33, ev.SESSION_STATUS, status="queued")

    # Done, failed and cancelled.
    retry = new(RETRY)
    _created(retry, 5, "Add retries with backoff to the HTTP client")
    _turn(retry, 5, "Add retries with exponential backoff to http_client.py.")
    _model(
        retry,
        6,
        "Reading the client first.",
        [("call_1", "read_file", {"path": "http_client.py"})],
        tokens=(2100, 50),
        cost=0.0071,
    )
    _tool(
        retry,
        6,
        "call_1",
        "read_file",
        {"path": "http_client.py"},
        "import httpx\n\nclass Client:\n    ...",
    )
    _model(
        retry,
        8,
        "Added retries (3 attempts, 0.5 s doubling, jitter) and a test; all 12 tests pass.",
        tokens=(6300, 410),
        cost=0.0251,
    )
    _end(retry, 8, "no_tool_calls", "done")

    parser = new(PARSER)
    _created(
        parser,
        1,
        "Refactor the query parser into a Pratt parser",
        provider="openai",
        model="gpt-5.5",
    )
    _turn(parser, 1, "Refactor parser.py into a Pratt parser.")
    parser.add(3, ev.MODEL_FAILED, error="openai: 529 overloaded", retryable=True, attempt=1)
    parser.add(4, ev.MODEL_FAILED, error="openai: 529 overloaded", retryable=False, attempt=5)
    _end(parser, 4, "failed", "failed", error="openai: 529 overloaded")

    flaky = new(FLAKY)
    _created(flaky, 0, "Find out why test_upload is flaky")
    _turn(flaky, 0, "test_upload fails one run in ten; find out why.")
    _model(
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
    _end(flaky, 2, "cancelled", "cancelled")

    merged = [event for session in sessions for event in session.events]
    # The log's order is time order, as if every session had been writing at once.
    merged.sort(key=lambda event: event.ts)
    return merged


async def write_showcase(store: EventStore) -> None:
    await store.append(showcase_events())


def showcase_project(directory: Path) -> Path:
    """A project folder named like the screenshots' ("shop"), with a .git so the
    dashboard treats it as a repository."""
    project = directory / "shop"
    (project / ".git").mkdir(parents=True, exist_ok=True)
    return project


# -- the GC screen's store ------------------------------------------------------------
#
# Another project's store: four sessions that kept running into the same walls, and the
# GC log that noticed. A separate store, so the dashboard's pictures stay as they are.

GC_CART = "3c5e7a9b1d2f"
GC_RELEASE = "4d6f8a0c2e3b"
GC_DOCS = "5e7a9b1d3f4c"
GC_LINT = "6f8a0c2e4b5d"
# Draft ids, fixed so tests and pictures can name them.
DRAFT_EXPIRED = "d-5a0c7e2b94"
DRAFT_LINT = "d-e41b6f9d27"
DRAFT_FORCE_PUSH = "d-7c2e9a41f0"
DRAFT_NPM_CI = "d-b3d58f0e26"
DRAFT_CART = "d-9f6a2d3c81"

_PUSH = "git push --force origin main"
_FORBIDDEN_PUSH = "Force-pushing rewrites history others have pulled"


def _forced_push(session: _Session, at: float, call_id: str) -> None:
    session.add(at, ev.TOOL_REQUESTED, call_id=call_id, tool="bash", args={"command": _PUSH})
    session.add(
        at,
        ev.POLICY_DECIDED,
        call_id=call_id,
        decision="forbid",
        rule_id="git-push-force",
        risk="high",
        reason=_FORBIDDEN_PUSH,
    )
    session.add(at, ev.TOOL_FAILED, call_id=call_id, error=f"forbidden: {_FORBIDDEN_PUSH}")


def _npm_ci(session: _Session, at: float, call_id: str) -> None:
    """A package install the policy asks about, allowed once every time."""
    args = {"command": "npm ci"}
    session.add(at, ev.TOOL_REQUESTED, call_id=call_id, tool="bash", args=args)
    session.add(
        at,
        ev.POLICY_DECIDED,
        call_id=call_id,
        decision="prompt",
        rule_id="package-install",
        risk="medium",
        reason="installs packages from the network",
    )
    approval_id = f"ap_{session.session_id[:4]}_{call_id}"
    session.add(
        at,
        ev.APPROVAL_REQUESTED,
        approval_id=approval_id,
        call_id=call_id,
        summary="npm ci",
        risk="medium",
        rule_id="package-install",
    )
    session.add(at + 1, ev.APPROVAL_RESOLVED, approval_id=approval_id, decision="allow_once")
    session.add(
        at + 1,
        ev.TOOL_COMPLETED,
        call_id=call_id,
        result="added 312 packages in 9s",
        duration_ms=9200,
        metadata={"exit_code": 0, "duration_ms": 9200},
    )


def _edit_cart(session: _Session, at: float, call_id: str) -> None:
    _tool(
        session,
        at,
        call_id,
        "edit_file",
        {"path": "shop/cart.py", "old_string": "float(", "new_string": "Decimal("},
        "edited shop/cart.py",
    )


def gc_agent_events() -> list[Event]:
    """The agents' sessions, over the three days before T0."""
    day = 24 * 60.0
    cart = _Session(GC_CART)
    _created(cart, -3 * day, "Fix the cart total rounding")
    _turn(cart, -3 * day, "Cart totals are off by a cent; fix the rounding.")
    _npm_ci(cart, -3 * day + 1, "call_1")
    for n, at in enumerate((3, 5, 8), start=2):
        _edit_cart(cart, -3 * day + at, f"call_{n}")
    _forced_push(cart, -3 * day + 12, "call_5")
    _end(cart, -3 * day + 13, "no_tool_calls", "done")

    release = _Session(GC_RELEASE)
    _created(release, -2 * day, "Ship the 2.4 release notes")
    _turn(release, -2 * day, "Write the 2.4 release notes and push them.")
    _npm_ci(release, -2 * day + 1, "call_1")
    _forced_push(release, -2 * day + 6, "call_2")
    _end(release, -2 * day + 7, "no_tool_calls", "done")

    lint = _Session(GC_LINT)
    _created(lint, -day - 90, "Make the linter pass on main")
    _turn(lint, -day - 90, "make lint fails on main; make it pass.")
    for n, at in enumerate((2, 6, 11), start=1):
        lint.add(
            -day - 90 + at,
            ev.TOOL_REQUESTED,
            call_id=f"call_{n}",
            tool="bash",
            args={"command": "make lint"},
        )
        lint.add(
            -day - 90 + at,
            ev.POLICY_DECIDED,
            call_id=f"call_{n}",
            decision="allow",
            risk="low",
            rule_id="make",
            reason="allowed by rule",
        )
        lint.add(
            -day - 90 + at,
            ev.TOOL_COMPLETED,
            call_id=f"call_{n}",
            result="shop/cart.py:14:5: F401 'decimal' imported but unused\nmake: *** [lint] Error 1",
            is_error=True,
            duration_ms=1400,
            metadata={"exit_code": 2, "duration_ms": 1400},
        )
    _end(lint, -day - 75, "failed", "failed", error="gave up after three lint runs")

    docs = _Session(GC_DOCS)
    _created(docs, -day, "Publish the docs site")
    _turn(docs, -day, "Build the docs and publish them.")
    _npm_ci(docs, -day + 1, "call_1")
    for n, at in enumerate((4, 6), start=2):
        _edit_cart(docs, -day + at, f"call_{n}")
    _forced_push(docs, -day + 9, "call_4")
    _end(docs, -day + 10, "no_tool_calls", "done")

    merged = [e for s in (cart, release, lint, docs) for e in s.events]
    merged.sort(key=lambda event: event.ts)
    return merged


def gc_log_events(session_id: str, project: Path, signals: dict[str, Signal]) -> list[Event]:
    """GC's log: a run four days ago whose draft expired, one yesterday, and one this
    morning whose drafts were adopted, rejected, or wait. `signals` are the agents'
    signals by id, as GC found them."""
    log = _Session(session_id)
    day = 24 * 60.0
    log.add(
        -4 * day,
        ev.SESSION_CREATED,
        title="GC",
        project=str(project),
        workspace=str(project),
        provider="",
        model="",
        system=True,
    )
    # Sessions pruned since then were slow; their signal survives only in its draft.
    slow = Signal(
        "slow_tool", "bash", 3, [41, 57, 88], "bash took longer than 30s 3 times (slowest 95s)"
    )

    def draft(
        at: float, draft_id: str, signal: Signal, kind: str, title: str, content: Any
    ) -> None:
        log.add(at, ev.GC_SIGNAL, **signal.to_dict(), draft_id=draft_id)
        log.add(
            at,
            ev.GC_DRAFT_CREATED,
            draft_id=draft_id,
            signal=signal.to_dict(),
            kind=kind,
            target=DEFAULT_TARGETS[kind],
            title=title,
            content=content,
        )

    draft(
        -4 * day,
        DRAFT_EXPIRED,
        slow,
        "note",
        "Run long builds as background tasks",
        "- Start builds that take more than a few seconds with `background = true` and tail them.",
    )
    log.add(-4 * day, ev.GC_COMPLETED, signals=1, drafted=[DRAFT_EXPIRED], skipped=0, pruned=[])

    # Yesterday's run came between the linter session and the docs one: only the
    # failing `make lint` had recurred often enough by then.
    draft(
        -day - 60,
        DRAFT_LINT,
        signals["repeated_failing_command:make lint"],
        "note",
        "Fix lint findings before running make lint again",
        "- When `make lint` fails, run `ruff check --fix` and read what is left before running it again.",
    )
    log.add(-day - 60, ev.GC_COMPLETED, signals=1, drafted=[DRAFT_LINT], skipped=0, pruned=[])

    draft(
        38,
        DRAFT_FORCE_PUSH,
        signals["chronic_block:git-push-force"],
        "note",
        "Never force-push: open a pull request",
        "- Never force-push (`git push --force` is forbidden here). Push a new branch and open a pull request.",
    )
    draft(
        38,
        DRAFT_NPM_CI,
        signals["repeated_warning:prompt: package-install"],
        "policy_rule",
        "allow-npm-ci",
        {
            "id": "allow-npm-ci",
            "decision": "allow",
            "reason": "npm ci installs the locked versions only",
            "pattern": ["npm", "ci"],
            "match": ["npm ci"],
            "not_match": ["npm install left-pad"],
        },
    )
    draft(
        38,
        DRAFT_CART,
        signals["hot_file:shop/cart.py"],
        "code_rule",
        "CART-1: Money is Decimal",
        "## CART-1: Money is Decimal (warning)\n\nPrices and totals in shop/cart.py are "
        "`Decimal`; a float there is why the rounding keeps breaking.\n",
    )
    log.add(
        38,
        ev.GC_COMPLETED,
        signals=len(signals),
        drafted=[DRAFT_FORCE_PUSH, DRAFT_NPM_CI, DRAFT_CART],
        skipped=0,
        pruned=[],
    )
    log.add(
        40,
        ev.GC_DRAFT_ADOPTED,
        draft_id=DRAFT_NPM_CI,
        kind="policy_rule",
        target=DEFAULT_TARGETS["policy_rule"],
        by="user",
    )
    log.add(
        41,
        ev.GC_DRAFT_REJECTED,
        draft_id=DRAFT_CART,
        reason="cart.py is busy this sprint, not broken",
        by="user",
    )
    return log.events


async def write_gc_showcase(store: EventStore, project: Path) -> None:
    """The agents' sessions, then GC's log with the signals found in them: evidence is
    store positions, known once the sessions are stored."""
    await store.append(gc_agent_events())
    stored = await store.read_all(0, 10_000)
    signals = {signal.id: signal for signal in find_signals(stored, GCSignalsConfig())}
    await store.append(gc_log_events(gc_session_id(project.resolve()), project, signals))
