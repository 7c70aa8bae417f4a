"""Every wait the tests do, bounded and in one place.

A test that sleeps for a fixed time asserts that the machine is fast enough: on a loaded
runner it fails for no reason, on an idle one it wastes the time. These helpers poll a
condition instead, so a slow machine makes a test slower, not red, and a fast one does
not wait at all. Each wait has a deadline and, when it passes, fails naming what it
waited for.

`wait_until` polls from plain code (state another process or thread changes);
`wait_for` is its twin for coroutines, and accepts a predicate that is itself a
coroutine (a store read). `settle` is the one fixed duration:
to show that something does *not* happen, there is nothing to wait on but time.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

TIMEOUT = 30.0
"""Seconds a wait may take before the test has failed: generous, because reaching it
means a failure anyway, and a loaded machine is slow."""

INTERVAL = 0.02
"""Seconds between two looks at the condition."""

SETTLE = 0.3
"""Seconds given to something that must not happen, before asserting it did not."""

Message = str | Callable[[], str] | None
Predicate = Callable[[], bool | Awaitable[bool]]


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
    message: Message = None,
) -> None:
    """Return as soon as `predicate()` is true; raise AssertionError after `timeout`
    seconds, naming `message` (a string, or a callable that describes the state then)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(_timed_out(predicate, timeout, message))
        time.sleep(interval)


async def wait_for(
    predicate: Predicate,
    *,
    timeout: float = TIMEOUT,
    interval: float = INTERVAL,
    message: Message = None,
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """`wait_until` for coroutines: the event loop runs between looks, and `predicate`
    may return an awaitable. `pause` is how to let time pass, e.g. a Textual pilot's
    `pause`, which also lets the app process its messages."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _holds(predicate):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(_timed_out(predicate, timeout, message))
        await pause(interval)


def settle(seconds: float = SETTLE) -> None:
    """Give something that must not happen the time to happen, before asserting it did
    not: the one wait nothing can end early."""
    time.sleep(seconds)


async def async_settle(seconds: float = SETTLE) -> None:
    """`settle` for coroutines: the event loop runs meanwhile."""
    await asyncio.sleep(seconds)


async def _holds(predicate: Predicate) -> bool:
    result = predicate()
    if inspect.isawaitable(result):
        result = await result
    return bool(result)


def _timed_out(predicate: Callable[[], object], timeout: float, message: Message) -> str:
    if callable(message):
        message = message()
    what = message or getattr(predicate, "__qualname__", repr(predicate))
    return f"timed out after {timeout:g}s waiting for {what}"
