"""A second process for the store tests: opens the store at URL and appends to it.

    python tests/store/append_proc.py URL SESSION COUNT [--first-seq N] [--kill]

Appends COUNT events to SESSION, one append() call each, as an engine does, and prints
the positions it got as one JSON line. With --kill it then kills itself without
closing the store, so the test can check that what append() returned survived.
With COUNT 0 it only opens (and so migrates) the store and closes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal

from harness_tui.events import TASK_OUTPUT, Event
from harness_tui.store import open_store


async def main(args: argparse.Namespace) -> None:
    store = await open_store(args.url)
    positions: list[int] = []
    for seq in range(args.first_seq, args.first_seq + args.count):
        event = Event(args.session, seq, TASK_OUTPUT, {"task_id": "t1", "text": f"line {seq}"})
        positions += await store.append([event])
    print(json.dumps(positions), flush=True)
    if args.kill:
        os.kill(os.getpid(), signal.SIGKILL)
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("session")
    parser.add_argument("count", type=int)
    parser.add_argument("--first-seq", type=int, default=1)
    parser.add_argument("--kill", action="store_true")
    asyncio.run(main(parser.parse_args()))
