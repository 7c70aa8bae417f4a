"""The GC screen's store: another project's, with four sessions that kept running into
the same walls, and the GC log that noticed. A store of its own, so the dashboard's
pictures stay as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness_tui import events as ev
from harness_tui.config import GCSignalsConfig
from harness_tui.events import Event
from harness_tui.gc.drafts import DEFAULT_TARGETS
from harness_tui.gc.service import gc_session_id
from harness_tui.gc.signals import Signal, find_signals
from harness_tui.store import EventStore
from tests.tui.session_log import SessionLog, created, end, tool_call, turn

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


def _forced_push(session: SessionLog, at: float, call_id: str) -> None:
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


def _npm_ci(session: SessionLog, at: float, call_id: str) -> None:
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


def _edit_cart(session: SessionLog, at: float, call_id: str) -> None:
    tool_call(
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
    cart = SessionLog(GC_CART)
    created(cart, -3 * day, "Fix the cart total rounding")
    turn(cart, -3 * day, "Cart totals are off by a cent; fix the rounding.")
    _npm_ci(cart, -3 * day + 1, "call_1")
    for n, at in enumerate((3, 5, 8), start=2):
        _edit_cart(cart, -3 * day + at, f"call_{n}")
    _forced_push(cart, -3 * day + 12, "call_5")
    end(cart, -3 * day + 13, "no_tool_calls", "done")

    release = SessionLog(GC_RELEASE)
    created(release, -2 * day, "Ship the 2.4 release notes")
    turn(release, -2 * day, "Write the 2.4 release notes and push them.")
    _npm_ci(release, -2 * day + 1, "call_1")
    _forced_push(release, -2 * day + 6, "call_2")
    end(release, -2 * day + 7, "no_tool_calls", "done")

    lint = SessionLog(GC_LINT)
    created(lint, -day - 90, "Make the linter pass on main")
    turn(lint, -day - 90, "make lint fails on main; make it pass.")
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
    end(lint, -day - 75, "failed", "failed", error="gave up after three lint runs")

    docs = SessionLog(GC_DOCS)
    created(docs, -day, "Publish the docs site")
    turn(docs, -day, "Build the docs and publish them.")
    _npm_ci(docs, -day + 1, "call_1")
    for n, at in enumerate((4, 6), start=2):
        _edit_cart(docs, -day + at, f"call_{n}")
    _forced_push(docs, -day + 9, "call_4")
    end(docs, -day + 10, "no_tool_calls", "done")

    merged = [e for s in (cart, release, lint, docs) for e in s.events]
    merged.sort(key=lambda event: event.ts)
    return merged


def gc_log_events(session_id: str, project: Path, signals: dict[str, Signal]) -> list[Event]:
    """GC's log: a run four days ago whose draft expired, one yesterday, and one this
    morning whose drafts were adopted, rejected, or wait. `signals` are the agents'
    signals by id, as GC found them."""
    log = SessionLog(session_id)
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
