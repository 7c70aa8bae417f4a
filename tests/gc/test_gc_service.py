"""GC as a user drives it: `gc run|status|drafts|adopt|reject`, `rules check`, and the
engine's own GC after a session ends and code-rule feedback after an edit."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.engine.engine import Engine
from harness_tui.events import Event
from harness_tui.gc.service import gc_session_id
from harness_tui.store import open_store
from tests.gc.eventlog import Log
from tests.support.loopback import LoopbackAnthropic, Reply
from tests.support.projects import cli_env, harness_cmd, init_repo, write_script
from tests.support.waiting import wait_for


def cli(project: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        harness_cmd(*args, "--project", str(project)),
        cwd=project,
        env=cli_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def planted_log() -> Log:
    """Three recurring patterns: a chronic block, a repeated warning, a failing command."""
    log = Log()
    for session in ("s1", "s2", "s3"):
        log.add(
            session,
            ev.SESSION_CREATED,
            title=session,
            project="p",
            provider="scripted",
            model="demo",
        )
        log.turn(session)
        log.call(
            session,
            "bash",
            decision="forbid",
            rule_id="git-force-push",
            reason="Force-pushing rewrites history",
            command="git push -f",
        )
        log.call(
            session,
            "bash",
            decision="prompt",
            rule_id="write-outside-workspace",
            reason="Writes files outside the workspace",
            approve="deny",
            command="echo x > ../x",
        )
        log.end_turn(session)
        log.add(session, ev.SESSION_STATUS, status="done")
    log.turn("s1", "again")
    for _ in range(3):
        log.call("s1", "bash", exit_code=1, command="make lint")
    log.end_turn("s1")
    return log


async def plant(project: Path, log: Log, *, age_days: float = 0) -> None:
    store = await open_store(f"sqlite:///{project}/.harness/harness.db")
    shift = (datetime.now(UTC) - log.events[-1].ts) - timedelta(days=age_days)
    try:
        await store.append(
            [Event(e.session_id, e.seq, e.type, e.data, e.ts + shift) for e in log.events]
        )
    finally:
        await store.close()


def gc_log(project: Path) -> list[tuple[str, dict]]:
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute(
            "SELECT type, data FROM events WHERE session_id = ? ORDER BY seq",
            (gc_session_id(project.resolve()),),
        ).fetchall()
    return [(kind, json.loads(data)) for kind, data in rows]


def test_gc_run_finds_the_planted_signals_and_the_budget_stops_the_third_draft(tmp_path):
    project = init_repo(tmp_path / "p")
    asyncio.run(plant(project, planted_log()))
    (project / ".harness" / "config.toml").write_text("[gc]\nbudget_total = 2\n")
    done = cli(project, tmp_path, "gc", "run")
    assert done.returncode == 0, done.stderr
    signals = [data for kind, data in gc_log(project) if kind == ev.GC_SIGNAL]
    assert {s["kind"] for s in signals} >= {
        "chronic_block",
        "repeated_warning",
        "repeated_failing_command",
    }
    assert done.stdout.startswith(f"{len(signals)} signals")
    drafted = [s for s in signals if "draft_id" in s]
    skipped = [s for s in signals if "skipped" in s]
    assert len(drafted) == 2 and len(skipped) == len(signals) - 2
    assert all("budget_total" in s["skipped"] for s in skipped)
    assert all(s["evidence"] for s in signals)
    created = [data for kind, data in gc_log(project) if kind == ev.GC_DRAFT_CREATED]
    assert sorted(d["draft_id"] for d in created) == sorted(s["draft_id"] for s in drafted)
    listing = cli(project, tmp_path, "gc", "drafts", "--status", "pending")
    assert all(d["draft_id"] in listing.stdout for d in created)
    status = cli(project, tmp_path, "gc", "status")
    assert "chronic_block ×3" in status.stdout and "project grade:" in status.stdout


def test_adopting_a_policy_rule_draft_changes_the_next_decision(tmp_path):
    project = init_repo(tmp_path / "p")
    asyncio.run(plant(project, planted_log()))
    (project / ".harness" / "policy.toml").write_text("# our team rules\n")
    rule = {
        "id": "no-make-deploy",
        "decision": "forbid",
        "reason": "deploys go through CI",
        "pattern": ["make", "deploy"],
        "match": ["make deploy"],
        "not_match": ["make test"],
    }
    draft = {
        "kind": "policy_rule",
        "title": "stop deploys",
        "target": ".harness/policy.toml",
        "content": rule,
    }
    outside = {"kind": "note", "title": "escape", "target": "../elsewhere.md", "content": "- hi"}
    replies = [Reply("```json\n" + json.dumps(draft) + "\n```"), Reply(json.dumps(outside))]
    before = cli(project, tmp_path, "policy", "check", "make deploy", "--json")
    assert json.loads(before.stdout.splitlines()[-1])["decision"] == "allow"
    (project / ".harness" / "config.toml").write_text("[gc]\nmax_drafts_per_run = 2\n")
    with LoopbackAnthropic(replies) as server:
        ran = cli(project, tmp_path, "gc", "run", **server.env())
    assert ran.returncode == 0, ran.stderr
    created = [d for kind, d in gc_log(project) if kind == ev.GC_DRAFT_CREATED]
    by_kind = {d["kind"]: d["draft_id"] for d in created}

    refused = cli(project, tmp_path, "gc", "adopt", by_kind["note"])
    assert refused.returncode == 1 and "outside the project" in refused.stderr
    assert not (tmp_path / "elsewhere.md").exists()

    adopted = cli(project, tmp_path, "gc", "adopt", by_kind["policy_rule"])
    assert adopted.returncode == 0, adopted.stderr
    after = cli(project, tmp_path, "policy", "check", "make deploy", "--json")
    verdict = json.loads(after.stdout.splitlines()[-1])
    assert verdict["decision"] == "forbid" and verdict["rule"] == "no-make-deploy"
    assert (project / ".harness" / "policy.toml").read_text().startswith("# our team rules")
    again = cli(project, tmp_path, "gc", "adopt", by_kind["policy_rule"])
    assert again.returncode == 1 and "not pending" in again.stderr
    rejected = cli(project, tmp_path, "gc", "reject", by_kind["note"], "--reason", "wrong place")
    assert rejected.returncode == 0
    kinds = [kind for kind, _ in gc_log(project)]
    assert ev.GC_DRAFT_ADOPTED in kinds and ev.GC_DRAFT_REJECTED in kinds


def test_retention_dry_run_then_real_run_never_touching_a_running_session(tmp_path):
    project = init_repo(tmp_path / "p")
    old = Log()
    for session, status in (("old-done", "done"), ("old-running", "running")):
        old.add(
            session,
            ev.SESSION_CREATED,
            title=session,
            project="p",
            provider="scripted",
            model="demo",
        )
        old.add(session, ev.SESSION_STATUS, status=status)
    new = Log()
    new.add(
        "new-done", ev.SESSION_CREATED, title="new", project="p", provider="scripted", model="demo"
    )
    new.add("new-done", ev.SESSION_STATUS, status="done")
    asyncio.run(plant(project, old, age_days=40))
    asyncio.run(plant(project, new))
    artifacts = project / ".harness" / "artifacts" / "old-done"
    artifacts.mkdir(parents=True)
    (artifacts / "art_1").write_text("old output")
    demo_copy = tmp_path / "xdg-data" / "harness-tui" / "demo" / "old-done"
    demo_copy.mkdir(parents=True)
    (demo_copy / "calc.py").write_text("def mean(values): ...\n")

    dry = cli(project, tmp_path, "gc", "run", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would prune 1 sessions older than 30 days" in dry.stdout
    assert "old-done" in dry.stdout and "old-running" not in dry.stdout
    assert artifacts.exists()

    real = cli(project, tmp_path, "gc", "run")
    assert "prune 1 sessions" in real.stdout
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        left = {row[0] for row in db.execute("SELECT DISTINCT session_id FROM events")}
    assert "old-done" not in left
    assert {"old-running", "new-done"} <= left
    assert not artifacts.exists()
    assert not demo_copy.exists()


GUARD = """#!/bin/sh
# Flags every TODO in Python files.
grep -Hn TODO *.py | while IFS=: read -r file line _; do
  echo "$file:$line:NO-TODO:a TODO was left in"
done
"""


def guarded_project(tmp_path: Path) -> Path:
    project = init_repo(tmp_path / "p")
    (project / ".harness" / "rules").mkdir(parents=True)
    (project / ".harness" / "rules" / "style.md").write_text(
        "# Style\n\n## NO-TODO: No TODO comments (error)\nFinish the work instead.\n"
    )
    (project / ".harness" / "guards").mkdir()
    guard = project / ".harness" / "guards" / "no-todo"
    guard.write_text(GUARD)
    guard.chmod(0o755)
    return project


def test_rules_check_reports_a_guards_violation_with_its_rule_id(tmp_path):
    project = guarded_project(tmp_path)
    (project / "app.py").write_text("x = 1\n# TODO: tidy\n")
    done = cli(project, tmp_path, "rules", "check")
    assert done.returncode == 1
    assert "app.py:2" in done.stdout and "NO-TODO" in done.stdout and "error" in done.stdout
    assert [k for k, _ in gc_log(project)] == [ev.SESSION_CREATED, ev.RULES_CHECKED]
    clean = init_repo(tmp_path / "clean")
    assert cli(clean, tmp_path, "rules", "check").returncode == 0


async def test_violations_after_an_edit_go_back_to_the_agent(tmp_path):
    project = guarded_project(tmp_path)
    script = write_script(
        tmp_path / "s.toml",
        textwrap.dedent(
            """
            [[turn]]
            text = "writing"
            [[turn.tool_calls]]
            name = "write_file"
            arguments = { path = "app.py", content = "x = 1  # TODO later\\n" }

            [[turn]]
            text = "fixing it"
            [[turn.tool_calls]]
            name = "write_file"
            arguments = { path = "app.py", content = "x = 1\\n" }

            [[turn]]
            text = "clean now"
            """
        ),
    )
    engine = await Engine.open(load_config(project=project, flags={"gc.auto": False}, env={}))
    try:
        sid = await engine.start_session("write app", provider="scripted", model=str(script))
        state = await engine.wait(sid)
    finally:
        await engine.close()
    fed_back = [m.content for m in state.messages if m.role == "user" and "NO-TODO" in m.content]
    assert len(fed_back) == 1 and "app.py:1" in fed_back[0]
    assert state.final_text == "clean now"


async def test_gc_runs_by_itself_after_a_session_ends(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(tmp_path / "s.toml", '[[turn]]\ntext = "done"\n')
    engine = await Engine.open(load_config(project=project, flags={"gc.cooldown_s": 0}, env={}))
    try:
        sid = await engine.start_session("hi", provider="scripted", model=str(script))
        await engine.wait(sid)

        async def gc_completed() -> bool:
            log = await engine.store.read(gc_session_id(project.resolve()))
            return any(e.type == ev.GC_COMPLETED for e in log)

        await wait_for(gc_completed, timeout=5, message="GC to complete by itself")
    finally:
        await engine.close()
