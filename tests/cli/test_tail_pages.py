"""`harness-tui tail --no-follow` of a session longer than one page of the store: every
event, once, in order, read a page at a time; a task of it too."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness_tui import events as ev
from harness_tui.cli import tail
from harness_tui.cli.errors import UsageError
from harness_tui.config import load_config
from harness_tui.events import Event
from harness_tui.store import open_store, sqlite_url


async def long_session(project: Path) -> str:
    url = sqlite_url(project / "harness.db")
    store = await open_store(url)
    try:
        events = [Event("5e55", 1, ev.SESSION_CREATED, {"title": "long", "project": str(project)})]
        events.append(Event("5e55", 2, ev.TASK_STARTED, {"task_id": "5e55-t1", "title": "build"}))
        for seq in range(3, 40):
            events.append(
                Event("5e55", seq, ev.TASK_OUTPUT, {"task_id": "5e55-t1", "text": f"{seq}\n"})
            )
        events.append(Event("5e55", 40, ev.TASK_COMPLETED, {"task_id": "5e55-t1", "exit_code": 0}))
        events.append(Event("5e55", 41, ev.SESSION_STATUS, {"status": "done"}))
        await store.append(events)
    finally:
        await store.close()
    return url


async def test_every_event_once_in_order_across_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = await long_session(tmp_path)
    config = load_config(project=tmp_path, flags={"store.url": url}, env={})
    monkeypatch.setattr(tail, "PAGE", 7)

    out = io.StringIO()
    code = await tail.run_tail(config, "5e55", follow=False, as_json=True, out=out)

    assert code == 0
    assert [json.loads(line)["seq"] for line in out.getvalue().splitlines()] == list(range(1, 42))
    task_out = io.StringIO()
    await tail.run_tail(config, "5e55-t1", follow=False, as_json=False, out=task_out)
    assert task_out.getvalue().startswith("3\n4\n") and "39\n" in task_out.getvalue()
    with pytest.raises(UsageError, match="has no task '5e55-t9'"):
        await tail.run_tail(config, "5e55-t9", follow=False, as_json=False, out=io.StringIO())
