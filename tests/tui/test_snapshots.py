"""Snapshot tests: the dashboard drawn over the showcase store with a fixed clock.

Each test's docstring says what a reviewer should see. Regenerate the baselines with
`pytest tests/tui/test_snapshots.py --snapshot-update` after checking the report.
"""

from __future__ import annotations

from textual.pilot import Pilot

from harness_tui.tui.app import HarnessApp
from harness_tui.tui.screens.gc import GCScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.tasks import TasksTable
from tests.tui.conftest import wait_until
from tests.tui.showcase import FIX_TEST, PYTEST_TASK

SIZE = (160, 45)


async def _ready(pilot: Pilot) -> None:
    app: HarnessApp = pilot.app  # type: ignore[assignment]
    await app.ready.wait()
    await pilot.pause()


async def _select_fix_session(pilot: Pilot) -> None:
    await _ready(pilot)
    app: HarnessApp = pilot.app  # type: ignore[assignment]
    app.dashboard.select_when_listed(FIX_TEST)
    await pilot.pause()


def test_dashboard_every_state(snap_compare, showcase_app):
    """The dashboard over ten sessions. Sessions pane: one row per state with its
    glyph: ▶ running (Fix the failing mean() test, and its explore subagent), ◆ waiting
    for approval (Publish the docs site, Rename load()), ○ idle (Summarise), ◌ queued
    (Upgrade dependencies), ✓ done (Add retries, the review subagent), ✗ failed (Refactor
    the query parser), ⊘ cancelled (Find out why test_upload is flaky); subagents sit
    under their parent with tree guides; tokens, cost and age in columns. The header
    shows project shop, store .harness/harness.db, scripted/demo (offline demo), 4
    running and "◆ 2 approvals pending" highlighted. The event log shows every session
    with a session column and follows the tail; the tasks pane lists the running dev
    server and the failed pytest run. The input bar says "Type to start a new session
    (^n: with options)"; the footer lists chords only: ^n New, ^y Approval, ^o Inbox,
    ^t Tail, ^x Cancel, ^r Mode, ^l Filter, ^k Type filter, ^q Quit, f1 Help."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_ready)


def test_subagent_tree_and_tasks(snap_compare, showcase_app):
    """ "Fix the failing mean() test in calc" is selected. The log shows only its events
    (no session column): tool calls with their arguments, results, policy decisions,
    the two subagents spawned and task output. The tasks pane lists its background
    tasks (▶ the dev server, running 38:17; ✗ pytest, failed after 2:00) and its two
    subagents ([review] done, [explore] running). The input bar offers to steer it
    ("Type to steer …"); the log's title names the session, and the footer now offers
    esc Clear filters."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_select_fix_session)


def test_approval_prompt_command(snap_compare, showcase_app):
    """ctrl+y opens the oldest pending approval: the session "Publish the docs site to
    gh-pages", tool bash, the rule git-push-force, risk high in bold, why it asks, and
    the command `git push --force origin gh-pages` syntax-highlighted. The footer shows
    y Allow once, a Allow always…, n Deny…, e Edit…, esc Later."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_ready, press=["ctrl+y"])


def test_approval_prompt_diff(snap_compare, showcase_app):
    """The approval for the file edit, opened from the inbox: session "Rename load()
    to load_config()", tool edit_file, risk medium, no rule (the approval mode asks),
    and the unified diff with removed lines red and added lines green. The footer
    offers y Allow once, n Deny…, e Edit…, esc Later, and no Allow always: a file
    edit can only be allowed once."""
    assert snap_compare(
        showcase_app(), terminal_size=SIZE, run_before=_ready, press=["ctrl+o", "down", "enter"]
    )


def test_approval_deny_with_reason(snap_compare, showcase_app):
    """After `n` on the command approval, a reason field appears under the details with
    the typed reason "use the docs workflow instead"; the footer offers ctrl+s to
    confirm and esc to go back."""
    assert snap_compare(
        showcase_app(),
        terminal_size=SIZE,
        run_before=_ready,
        press=["ctrl+y", "n", *"use the docs workflow instead"],
    )


def test_approval_allow_always_asks(snap_compare, showcase_app):
    """After `a` on the command approval, a box under the details says what allow
    always does: it runs the command now and adds to .harness/policy.toml the rule
    `allow  git push --force origin gh-pages`, which then runs without asking in every
    session of the project; ^s allows always, Esc goes back. The footer offers only
    ^s Confirm and esc Back."""
    assert snap_compare(
        showcase_app(), terminal_size=SIZE, run_before=_ready, press=["ctrl+y", "a"]
    )


def test_inbox(snap_compare, showcase_app):
    """The approval inbox lists both pending approvals oldest first (Publish the docs
    site, waiting 18m; Rename load(), 11m) with tool, what it asks, risk and rule; the
    preview below shows the highlighted one, the force-push command. The table's
    bottom border says "⏎ answers the highlighted one"; the footer offers n Deny…,
    e Edit…, esc Close: answers are given on the prompt these open."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_ready, press=["ctrl+o"])


async def _tail_pytest(pilot: Pilot) -> None:
    await _select_fix_session(pilot)
    app: HarnessApp = pilot.app  # type: ignore[assignment]
    tasks = app.dashboard.query_one(TasksTable)
    tasks.focus()
    tasks.move_cursor(row=tasks._order.index(PYTEST_TASK))
    await pilot.pause()


def test_task_tail(snap_compare, showcase_app):
    """ctrl+t on the pytest task opens its tail: the title names the session and the
    task, the log holds pytest's output (one failure, assert 6.0 == 4), and the status
    line says ✗ failed · 2:00 · exit 1 · 1 failed, 2 passed · 13 lines · following."""
    assert snap_compare(
        showcase_app(), terminal_size=SIZE, run_before=_tail_pytest, press=["ctrl+t"]
    )


def test_type_filter(snap_compare, showcase_app):
    """ctrl+k pressed five times filters the log to errors: only the failed turn, the
    failed model requests, the failed status, the cancelled tool call and the failed
    pytest task remain; the log's title says "Events · type: errors · all sessions ·
    esc clears", and the footer offers esc Clear filters."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_ready, press=["ctrl+k"] * 5)


def test_help(snap_compare, showcase_app):
    """F1 lists every binding by where it applies (Everywhere: ^q Quit, f1 Help;
    Dashboard: ^n New, ^s Type, ^y Approval, ^o Inbox, …; Input bar; Event log with
    ⏎ Details and the ↑/↓ cursor; Event details, …) with its key, what it does and its
    id for [keys] in the config."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_ready, press=["f1"])


async def _open_gc(pilot: Pilot) -> None:
    await _ready(pilot)
    await pilot.press("ctrl+g")
    screen = pilot.app.screen
    assert isinstance(screen, GCScreen)
    await wait_until(pilot, lambda: screen.status is not None)
    await pilot.pause()


def test_gc_screen(snap_compare, gc_showcase_app):
    """ctrl+g opens GC over a project whose sessions keep running into the same walls.
    The title line names the project; the Project panel shows grade C 0.63 in the
    waiting colour with security 0.79, stability 0.73, coverage 0.00, speed 1.00 (4
    sessions, 14 tool calls), the last GC run 2025-03-14 09:38 UTC · 4m ago, and drafts
    2 pending · 1 adopted · 1 rejected · 1 expired; the letter scale is in its bottom
    border. Signals · 4: repeated_warning (package-install asked 3 times), chronic_block
    (git-push-force), hot_file (shop/cart.py, 5 edits) and repeated_failing_command
    (make lint), each with its event positions and its draft with a coloured status.
    Drafts, newest first, with the newest pending one (d-7c2e9a41f0, Never force-push)
    selected; the pane beside it shows that draft's signal, events, target AGENTS.md,
    when it was drafted and the Markdown it would add. The footer offers a adopt,
    r reject, R run GC, esc close."""
    assert snap_compare(gc_showcase_app(), terminal_size=SIZE, run_before=_open_gc)


def test_new_session_dialog(snap_compare, showcase_app):
    """ctrl+n opens the new-session form: the prompt (focused), provider scripted, model
    (placeholder demo), approval mode on-request and the worktree switch off."""
    assert snap_compare(showcase_app(), terminal_size=SIZE, run_before=_ready, press=["ctrl+n"])


def test_theme_light(snap_compare, showcase_app):
    """The dashboard in harness-light: dark text on white, the same glyphs in darker
    status colours, the waiting badge in the header orange."""
    app = showcase_app(**{"ui.theme": "harness-light"})
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)


def test_theme_nord(snap_compare, showcase_app):
    """The dashboard in harness-nord: the Nord palette's slate background and frost
    blues, with the same layout as the dark theme."""
    app = showcase_app(**{"ui.theme": "harness-nord"})
    assert snap_compare(app, terminal_size=SIZE, run_before=_ready)


def test_narrow_terminal(snap_compare, showcase_app):
    """At 100×30 the panes stack: the session list (All sessions and the newest
    sessions, every column with titles cut by an ellipsis), the tasks pane under it,
    then the event log at the full width with its session column. The input bar has no
    frame (a short terminal); the footer starts with ^q Quit and f1 Help."""
    assert snap_compare(showcase_app(), terminal_size=(100, 30), run_before=_ready)


def test_dashboard_80x24(snap_compare, showcase_app):
    """80×24, stacked. Header: project shop and model scripted/demo (the store gives way
    first), then, never cut, "offline demo", "▶ 4" and "◆ 2 pending" highlighted.
    Sessions: All sessions and three sessions, the Age column whole beside the
    scrollbar. Tasks: the dev server running 38:17, the Time column whole. The event log
    takes the full width, each line with its time, session, label and text; the
    start-up notice about the 2 pending approvals sits over its bottom right. Then the
    one-line input bar and the footer starting with ^q Quit and f1 Help, the palette
    key whole at the right."""
    assert snap_compare(showcase_app(), terminal_size=(80, 24), run_before=_ready)


def test_dashboard_120x40(snap_compare, showcase_app):
    """120×40, stacked: the session list shows every session and subagent (the focused
    pane grows up to 45% of the height), the tasks pane both tasks, the log below at
    the full width with a dozen lines. Header in full: offline demo, ▶ 4 running,
    ◆ 2 approvals pending; the input bar has its frame; compact footer, quit first."""
    assert snap_compare(showcase_app(), terminal_size=(120, 40), run_before=_ready)


async def _prompt_oldest(pilot: Pilot) -> None:
    await _ready(pilot)
    app: HarnessApp = pilot.app  # type: ignore[assignment]
    app.approvals.prompt_next()
    await pilot.pause()


def test_approval_prompt_80x24(snap_compare, showcase_app):
    """The force-push approval at 80×24: the dialog, without padding on a short screen,
    shows the session, tool bash, what it asks, the rule git-push-force, risk high and
    the command, all whole; its keys are in the footer."""
    assert snap_compare(showcase_app(), terminal_size=(80, 24), run_before=_prompt_oldest)


def test_approval_prompt_120x40(snap_compare, showcase_app):
    """The force-push approval at 120×40 over the stacked dashboard: every fact on one
    line each and the syntax-highlighted command, the keys in the footer."""
    assert snap_compare(showcase_app(), terminal_size=(120, 40), run_before=_prompt_oldest)


async def _event_detail(pilot: Pilot) -> None:
    await _select_fix_session(pilot)
    app: HarnessApp = pilot.app  # type: ignore[assignment]
    log = app.dashboard.query_one(EventLog)
    log.focus()
    await pilot.pause()
    while log.cursor_line is not None and log.cursor_line.type != "model.completed":
        log.action_cursor_up()
    log.action_open_event()
    await wait_until(pilot, lambda: getattr(app.screen, "event", None) is not None)
    await pilot.pause()


def test_event_detail_80x24(snap_compare, showcase_app):
    """Enter on the newest model reply of "Fix the failing mean() test in calc" at
    80×24: a dialog titled "Event · model.completed" with the session, the time
    (2025-03-14 … UTC), position and seq, the reply's whole text wrapped under "text",
    then the event's JSON data highlighted; the footer offers esc Close."""
    assert snap_compare(showcase_app(), terminal_size=(80, 24), run_before=_event_detail)
