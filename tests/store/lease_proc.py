"""A second process for the lease tests: opens the store at URL and tries to take each
session's lease once, as an engine adopting orphaned sessions does.

    python tests/store/lease_proc.py URL OWNER SESSION...

Prints the sessions it won as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from harness_tui.store import LeaseHolder, open_store


async def main(url: str, owner: str, sessions: list[str]) -> None:
    store = await open_store(url)
    holder = LeaseHolder(owner, f"host-{owner}", os.getpid())
    won = []
    for session_id in sessions:
        lease = await store.acquire_lease(session_id, holder, 30)
        if lease.held_by(owner):
            won.append(session_id)
    print(json.dumps(won), flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
