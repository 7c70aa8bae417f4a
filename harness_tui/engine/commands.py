"""Commands through the store: how a face acts on a session another engine runs, and how
the engine that runs it applies what was asked.

A face appends a command (resolve_approval, send, cancel, set_approval_mode) and waits
for its outcome. The engine holding the session's lease picks its commands up in the
order they were issued (woken by NOTIFY on PostgreSQL, a poll of at most COMMAND_POLL_S
on SQLite) and applies each once: the events that carry it out are appended with the
command's id, and the store marks it applied in the same transaction, so a crash either
leaves it pending (the next owner applies it) or applied (nobody applies it again). One
that can no longer apply (the approval was answered, the session ended) is rejected,
with the reason, for the face to show.

A command for a session nobody holds (its engine died and its lease ran out, or it
closed) stays pending until an engine takes the session over: one that runs it for its
own reasons (`--exec --session`, the dashboard) applies it after its own input, and
`Engine.adopt_orphans` takes over every such session to apply what waits for it. An
answer to an approval whose turn was left waiting carries that turn on in the adopting
engine; other commands find the turn a dead engine left open closed as interrupted
first. `adopt_orphans` never closes a turn that waits for an approval (recovery leaves
such a turn open so that it can still be answered); an engine that takes the session
over to run input of its own closes it, and the answers then find nothing to apply to.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from harness_tui.engine.errors import CommandRejected, EngineError
from harness_tui.store import Command, EventStore, StoreError
from harness_tui.store.control import APPLIED, PENDING, REJECTED

# How long the runner waits between looks when nothing wakes it (a backstop: the
# store's own wait is at most COMMAND_POLL_S on SQLite).
IDLE_WAIT_S = 1.0

# How long an engine that closes lets the command it is applying finish.
CLOSE_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What came of a request made through the facade: "applied" (by this engine, when
    `command_id` is None), or "pending" when the engine that runs the session has not
    applied it within the wait (it stays queued). A rejection raises CommandRejected."""

    status: str
    command_id: str | None = None
    reason: str | None = None
    settled_by: str | None = None

    @property
    def applied(self) -> bool:
        return self.status == APPLIED


APPLIED_HERE = CommandOutcome(APPLIED)


def issuer(host: str) -> str:
    """user@host of whoever issues a command from this process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{host}"


def new_command_id() -> str:
    return "cmd_" + uuid.uuid4().hex[:12]


async def issue_and_wait(
    store: EventStore,
    session_id: str,
    kind: str,
    payload: Mapping[str, object],
    issued_by: str,
    timeout: float,
) -> CommandOutcome:
    """Append a command and wait up to `timeout` seconds for its outcome. Raises
    CommandRejected with the reason the owning engine gave."""
    command = await store.issue_command(new_command_id(), session_id, kind, payload, issued_by)
    return await wait_for_outcome(store, command.command_id, timeout)


async def wait_for_outcome(store: EventStore, command_id: str, timeout: float) -> CommandOutcome:
    deadline = time.monotonic() + timeout
    while True:
        signal = store.command_signal()
        command = await store.command(command_id)
        if command is None:
            raise EngineError(f"no command {command_id!r} in {store.url}")
        if command.status == REJECTED:
            raise CommandRejected(command_id, command.reason or "no reason given")
        if command.status != PENDING:
            return CommandOutcome(command.status, command_id, command.reason, command.settled_by)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return CommandOutcome(PENDING, command_id)
        await store.wait_for_commands(signal, remaining)


class CommandRunner:
    """The engine's side: applies the pending commands of the sessions whose lease it
    holds, in order, each once.

    `apply(command)` carries one out: it hands the command's id on to whatever appends
    the events that apply it (which marks it applied), or raises EngineError when it
    cannot apply (the command is rejected with that message). `working(session_id)`
    says whether the session still has work in this engine: a command handed on whose
    events never came (its turn was cancelled first) is rejected once it has none.
    """

    def __init__(
        self,
        store: EventStore,
        held: Callable[[], set[str]],
        apply: Callable[[Command], Awaitable[None]],
        working: Callable[[str], bool],
        settled_by: str,
    ) -> None:
        self.store = store
        self._held = held
        self._apply = apply
        self._working = working
        self._settled_by = settled_by
        # Handed on and not yet applied: never handed on twice.
        self._in_flight: dict[str, Command] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # The command being applied right now, if any.
        self._applying: asyncio.Future[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="command runner")

    def wake(self) -> None:
        """Look at once (the engine just took a session over)."""
        self._wake.set()

    async def close(self) -> None:
        """Stop looking for commands. One being applied is let finish first (a cancel
        ends the session, which may be what closes the engine): it is settled, not
        left pending for a next owner to apply again."""
        if self._task is None:
            return
        if self._applying is not None:
            with contextlib.suppress(TimeoutError, Exception):
                async with asyncio.timeout(CLOSE_WAIT_S):
                    await asyncio.shield(self._applying)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            signal = self.store.command_signal()
            try:
                await self.run_once()
            except StoreError:
                pass  # the store is away: looked at again on the next round
            self._wake.clear()
            waiting = asyncio.ensure_future(self.store.wait_for_commands(signal, IDLE_WAIT_S))
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait([waiting, woken], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                woken.cancel()

    async def run_once(self) -> None:
        held = self._held()
        if not held and not self._in_flight:
            return
        pending = await self.store.commands(session_ids=held, status=PENDING) if held else []
        pending_ids = {command.command_id for command in pending}
        for command_id, command in list(self._in_flight.items()):
            if command_id not in pending_ids:
                del self._in_flight[command_id]  # applied (or settled elsewhere)
            elif not self._working(command.session_id):
                del self._in_flight[command_id]
                await self._reject(command, "the session's turn ended before it was applied")
        for command in pending:
            if command.command_id in self._in_flight:
                continue
            if command.session_id not in self._held():
                continue  # given up meanwhile: its next owner applies it
            self._in_flight[command.command_id] = command
            self._applying = asyncio.ensure_future(self._apply_one(command))
            try:
                await asyncio.shield(self._applying)
            finally:
                self._applying = None

    async def _apply_one(self, command: Command) -> None:
        try:
            await self._apply(command)
        except EngineError as exc:
            self._in_flight.pop(command.command_id, None)
            await self._reject(command, str(exc))

    async def _reject(self, command: Command, reason: str) -> None:
        await self.store.settle_command(command.command_id, REJECTED, reason, by=self._settled_by)
