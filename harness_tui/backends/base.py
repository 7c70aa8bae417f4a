"""The seam a session runs through: `SessionBackend`, and the `SessionHost` the engine
hands it.

The engine owns a session's log, its policy and its approval inbox; a backend owns the
agent that does the work. The engine drives a backend with `submit` (a prompt, a
follow-up, steering text or an automatic notice), `cancel`, `resume`, `compact`,
`detach` and `wait`; the backend reports back only through its host: `emit` appends an
event in our vocabulary (the host is the session's single writer), `judge` asks the
policy gate about a tool call or permission request, and `request_approval` puts a
request in the inbox and returns the answer a person (or the engine) gave. Answering
an approval therefore never reaches a backend as a call of its own: the backend is the
one awaiting it.

The first backend is our own loop (`harness_tui.engine.loop`: providers, tools and the
gate). An external agent process maps onto the same calls:

- A turn starts with `claim` (its input and `turn.started` in one conditional append):
  of two processes continuing a session at once, one gets it and the other's input is
  refused (SessionBusy), never interleaved.
- `submit(text, "prompt" | "follow_up")` starts a turn: ACP `session/prompt`, a user
  message on Claude Code's stream-json stdin, Codex `turn/start`. A follow-up waits for
  the turn to end (the agent's `stopReason`, `result`, `turn/completed`).
- `submit(text, "steer")` joins the running turn where the protocol can (a user message
  mid-turn for Claude Code, `turn/steer` for Codex); ACP has no steering, so it is
  queued as a follow-up.
- `cancel()`: ACP `session/cancel`, a Claude Code `interrupt` control request, Codex
  `turn/interrupt`; the backend then records the turn's end.
- Permission requests (ACP `session/request_permission`, Claude Code `can_use_tool`,
  Codex `item/*/requestApproval`): `judge` first; forbid rejects without asking, allow
  allows, prompt goes to `request_approval` and the answer becomes the reply (an
  option chosen by kind, `{"behavior": …}`, `{"decision": …}`).
- `resume()` after a restart: ACP `session/load`, `claude --resume`, Codex
  `thread/resume`, then carry on with what the log says was left open.
- Agent output (message chunks, tool calls and their results, usage) is translated
  into our events and appended with `emit`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness_tui.events import Event
from harness_tui.store import StoreError

# How input reaches a session: a new turn (prompt), steering text for the running turn,
# a follow-up for when it ends, or a notice from the engine (a background task ended).
INPUT_MODES = ("prompt", "steer", "follow_up", "auto")
APPROVAL_DECISIONS = ("allow_once", "allow_always", "deny", "edit")


class SessionTaken(Exception):
    """The host's refusal to write: another process holds the session (nothing was
    written). `fenced`: this engine held it and lost its lease; it stops for good."""

    fenced = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy gate says about one tool call or permission request."""

    decision: str  # allow | prompt | forbid
    rule_id: str | None
    reason: str
    risk: str
    # What a person approving it reads: the command, or the file and what changes.
    summary: str
    diff: str | None = None
    # For "allow always": the argv of each shell segment that asked for a prompt.
    prompted_segments: tuple[tuple[str, ...], ...] = field(default=())
    # What a shell command needs from outside its sandbox: the network (which the
    # sandbox does not give) and the paths outside the workspace it writes. Approved by
    # a person, it runs with them, this once; `granted`: a person allowed exactly it
    # always before, so it has them without asking.
    network: bool = False
    writes: tuple[str, ...] = ()
    granted: bool = False

    def to_event(self, call_id: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "call_id": call_id,
            "decision": self.decision,
            "reason": self.reason,
            "risk": self.risk,
        }
        if self.rule_id:
            data["rule_id"] = self.rule_id
        if self.network:
            data["network"] = True
        return data


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer to an approval request."""

    decision: str  # one of APPROVAL_DECISIONS
    by: str = "user"
    reason: str | None = None
    edited_args: dict[str, Any] | None = None
    # The command (store.control) the answer came in, marked applied with its event.
    command_id: str | None = None


class SessionHost(Protocol):
    """The engine's side of one session, as its backend sees it."""

    @property
    def session_id(self) -> str: ...

    async def emit(self, type_: str, data: dict[str, Any], *, command: str | None = None) -> Event:
        """Append one event for the session (redacted, committed, then folded into the
        session's state) and return it as stored. Raises SessionBusy when another
        process wrote to the session meanwhile (nothing was written). `command`: the
        command the event applies, marked applied with it."""
        ...

    async def claim(
        self,
        build: Callable[[Any], Sequence[tuple[str, dict[str, Any]]]],
        *,
        command: str | None = None,
    ) -> list[Event]:
        """Take the session over, as a turn starts: append the events `build` makes of
        the session's state (type, data pairs) in one conditional append at the next
        seq, unless another live process works on the session. A turn's input and its
        `turn.started` (with the owner) go in one claim. Raises SessionBusy when the
        session is another process's."""
        ...

    def judge(self, tool: str, args: dict[str, Any]) -> Verdict:
        """The policy gate's verdict on a call, in the session's approval mode."""
        ...

    async def request_approval(self, call_id: str, tool: str, verdict: Verdict) -> Resolution:
        """Ask for an approval of `call_id` (unless the log already has one pending for
        it, as after a restart), wait for the answer and record it."""
        ...


class SessionBackend(Protocol):
    """One session's agent, as the engine drives it. Every call returns promptly except
    the awaited ones, which return once what they describe has happened."""

    @property
    def busy(self) -> bool:
        """Whether a turn runs or input waits for one."""
        ...

    @property
    def waiting_for_approval(self) -> bool:
        """Whether the running turn waits for an answer to an approval."""
        ...

    def submit(self, text: str, mode: str, *, command: str | None = None) -> Awaitable[None]:
        """Queue input (one of INPUT_MODES); a turn starts when none is running.
        `command`: the command it came in, marked applied with its input.received.

        The input is queued at once; the awaitable says whether it was accepted: it
        returns when the session is this engine's to run it (at once if it already
        is, else when the claim of the turn that takes it committed), and raises
        SessionBusy, the input dropped unwritten, when another process holds the
        session. Nobody need await it."""
        ...

    async def cancel(self) -> None:
        """Stop the running turn and drop queued input; the turn's end is recorded.
        Idempotent."""
        ...

    def resume(self) -> Awaitable[None]:
        """Carry on the turn a previous process left waiting for an approval, whose
        answer the host now holds. Awaitable as `submit`'s: SessionBusy when another
        process took the session over first."""
        ...

    async def close_interrupted(self) -> None:
        """Record the end of the turn a dead process left open, so the session can take
        new input."""
        ...

    async def settle(self) -> None:
        """Once nothing of the session runs any more (its background work was stopped),
        show the status its last turn left."""
        ...

    async def detach(self) -> None:
        """Stop this process's work without recording an end: a turn waiting for an
        approval stays waiting, for whoever opens the store next."""
        ...

    async def wait(self) -> None:
        """Until no turn runs and no input waits. Raises StoreError when the session
        stopped because its log could not be written (the turn is left open in the
        log, for the next engine to recover), UnknownSessionError in particular when the
        session was deleted (GC retention) before the input could be recorded."""
        ...

    def store_failed(self, exc: StoreError) -> None:
        """The session's log cannot be written by this engine any more (the store gave
        up, or another engine took the session's lease): nothing more is attempted,
        and wait() raises `exc` for whoever waits."""
        ...

    async def compact(self) -> bool:
        """Shorten the conversation now, or before the running turn's next request;
        False when nothing could be (or the agent compacts by itself)."""
        ...
