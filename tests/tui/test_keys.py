"""No key acts by accident: text typed on the dashboard is text, a decision is taken
only on the approval prompt (which holds keys for a moment after it opens, and asks
for a chord to allow always), and every filter on the log is in its title."""

from __future__ import annotations

import random
import string

from textual.command import CommandList, CommandPalette

from harness_tui import events as ev
from harness_tui.config import load_config
from harness_tui.tui.app import HarnessApp
from harness_tui.tui.approvals import asks
from harness_tui.tui.model import ApprovalView
from harness_tui.tui.render import TYPE_FILTERS, render_event
from harness_tui.tui.screens.approval import ApprovalScreen
from harness_tui.tui.screens.confirm import ConfirmScreen
from harness_tui.tui.screens.dashboard import DashboardScreen
from harness_tui.tui.widgets.event_log import EventLog
from harness_tui.tui.widgets.input_bar import InputBar
from harness_tui.tui.widgets.sessions import SessionsTable
from harness_tui.tui.widgets.tasks import TasksTable
from tests.support.projects import write_script
from tests.support.waiting import async_settle
from tests.tui.conftest import live_app, live_config, wait_until
from tests.tui.showcase import FIX_TEST, NOW
from tests.tui.test_live import CLEANUP_SCRIPT, _stored

SIZE = (160, 45)
STRAY = "git clean -f stray.log"


def _random_text(seed: int, length: int) -> str:
    """Printable text with every letter in it, upper and lower case, digits,
    punctuation and spaces, in a repeatable order."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + string.punctuation + " " * 10
    text = list(string.ascii_letters)
    text += rng.choices(alphabet, k=length - len(text))
    rng.shuffle(text)
    return "".join(text)


def _unseen_filters(app: HarnessApp) -> list[str]:
    """Filters on the log that its title does not show."""
    dashboard = app.dashboard
    title = str(dashboard.query_one(EventLog).border_title)
    unseen = []
    type_name = TYPE_FILTERS[dashboard._type_filter][0]
    if type_name != "all" and f"type: {type_name}" not in title:
        unseen.append(f"type {type_name}")
    needle = dashboard.query_one("#filter").value.strip()
    if needle and needle[:20] not in title:
        unseen.append(f"text {needle!r}")
    if dashboard.selected is not None and "all sessions" in title:
        unseen.append(f"session {dashboard.selected}")
    return unseen


async def _pending_cleanup(pilot, app: HarnessApp) -> ApprovalScreen:
    """Start a session whose first command asks for approval; return its prompt."""
    await app.ready.wait()
    await pilot.press(*"clean up the stray log", "enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ApprovalScreen), timeout=60)
    screen = app.screen
    assert isinstance(screen, ApprovalScreen)
    return screen


async def test_typing_on_the_dashboard_never_answers_an_approval(demo_project, tmp_path):
    """An approval waits; the user puts its prompt off with Esc and types `fix it
    anyway`, then 80 random printable characters (every letter among them), with
    the focus on each pane in turn. Every character lands in the input bar; the prompt
    does not come back, nothing opens, no filter goes on, and the store holds no
    answer: the approval is still pending."""
    script = write_script(tmp_path / "cleanup.toml", CLEANUP_SCRIPT)
    app = live_app(live_config(demo_project, script=script), key_guard_ms=400)
    typed = "fix it anyway" + _random_text(seed=14, length=80)
    async with app.run_test(size=SIZE) as pilot:
        await _pending_cleanup(pilot, app)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)

        dashboard = app.dashboard
        # The session just started is selected: its events are shown, and the title
        # says so (and, from the next read of the store's leases, who runs it).
        # Typing must leave that as it is and turn no other filter on.
        await wait_until(pilot, lambda: app.model.runners.of(dashboard.selected or "") is not None)
        before = (
            dashboard.selected,
            dashboard._type_filter,
            str(dashboard.query_one(EventLog).border_title),
        )
        assert before[0] is not None and before[1] == 0
        panes = [
            dashboard.query_one(SessionsTable),
            dashboard.query_one(TasksTable),
            dashboard.query_one(EventLog),
        ]
        # In chunks, each typed with the focus back on one of the panes: every chunk's
        # first key is typed on the dashboard itself, not in the input bar.
        chunks = ["fix it anyway"] + [typed[i : i + 40] for i in range(13, len(typed), 40)]
        for number, chunk in enumerate(chunks):
            panes[number % len(panes)].focus()
            await pilot.pause()
            await pilot.press(*chunk)
            assert isinstance(app.screen, DashboardScreen), (chunk, app.screen)
            assert isinstance(app.focused, InputBar), chunk
        await pilot.pause()
        assert dashboard.query_one(InputBar).value == typed
        after = (
            dashboard.selected,
            dashboard._type_filter,
            str(dashboard.query_one(EventLog).border_title),
        )
        assert after == before and _unseen_filters(app) == []
        assert before[2] == "Events · clean up the stray log · run by this dashboard"
        assert dashboard.query_one("#filter").value == ""
        await async_settle()
        assert len(app.approvals.pending()) == 1
        assert isinstance(app.screen, DashboardScreen)
        await app.shutdown()

    stored = await _stored(demo_project)
    assert [e for e in stored if e.type == ev.APPROVAL_RESOLVED] == []
    assert [e for e in stored if e.type == ev.APPROVAL_REQUESTED]


async def test_the_prompt_ignores_a_key_pressed_right_after_it_opens(demo_project, tmp_path):
    """`y` pressed the moment the prompt opens is ignored (the footer shows the choices
    dimmed, the border says keys work in a moment), and a key pressed meanwhile holds
    keys again; once the keyboard has been quiet for key_guard_ms, `y` allows once."""
    script = write_script(tmp_path / "cleanup.toml", CLEANUP_SCRIPT)
    app = live_app(live_config(demo_project, script=script), key_guard_ms=1500)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _pending_cleanup(pilot, app)
        assert screen.holding_keys
        assert screen.query_one("#approval-dialog").border_subtitle == "keys work in a moment"
        await pilot.press("y")
        assert app.screen is screen and screen.holding_keys
        assert app.approvals.answered == set()

        await wait_until(pilot, lambda: not screen.holding_keys, timeout=10)
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.model.approvals, timeout=30)
        await app.shutdown()

    stored = await _stored(demo_project)
    decisions = [e.data["decision"] for e in stored if e.type == ev.APPROVAL_RESOLVED]
    assert decisions == ["allow_once"]


async def test_allow_always_needs_the_confirming_chord(demo_project, tmp_path):
    """`a` does not answer: it shows the rule allow always would add to
    .harness/policy.toml. Letters do nothing there (`y`, `a`), Esc goes back to the
    choices, and only ctrl+s allows always; the rule is then in the policy file and a
    notification says so."""
    script = write_script(tmp_path / "cleanup.toml", CLEANUP_SCRIPT)
    app = live_app(live_config(demo_project, script=script))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _pending_cleanup(pilot, app)
        await pilot.press("a")
        assert app.screen is screen and screen.mode == "always"
        note = str(screen.query_one("#always-note").render())
        assert f"allow  {STRAY}" in note and ".harness/policy.toml" in note
        await pilot.press("y", "a", "n")
        assert app.screen is screen and screen.mode == "always"
        await pilot.press("escape")
        assert app.screen is screen and screen.mode == "choose"
        await pilot.press("a", "ctrl+s")
        await wait_until(pilot, lambda: not app.model.approvals, timeout=30)
        await wait_until(pilot, lambda: any("from now on" in n for n in app.notices))
        await app.shutdown()

    stored = await _stored(demo_project)
    decisions = [e.data["decision"] for e in stored if e.type == ev.APPROVAL_RESOLVED]
    assert decisions == ["allow_always"]
    assert STRAY in (demo_project / ".harness" / "policy.toml").read_text()
    notice = next(n for n in app.notices if "from now on" in n)
    assert notice == f"Allowed {STRAY} from now on: the rule is in .harness/policy.toml."


async def test_a_file_edit_is_not_offered_allow_always(showcase_app):
    """Allow always writes a rule for a command; a file edit has none to write, so its
    prompt does not offer it and `a` does nothing."""
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await pilot.press("ctrl+o", "down", "enter")
        screen = app.screen
        assert isinstance(screen, ApprovalScreen) and screen.approval.tool == "edit_file"
        assert "allow_always" not in {b.binding.action for b in screen.active_bindings.values()}
        await pilot.press("a")
        assert app.screen is screen and screen.mode == "choose"


async def test_every_filter_is_in_the_title_and_esc_clears_them_all(showcase_app):
    """A session, a type and a text filter on: the log's title names each and says
    Esc clears them; Esc on the log clears all three and shows every event again."""
    app = showcase_app()
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        log = app.dashboard.query_one(EventLog)
        everything = log.line_count
        app.dashboard.select_when_listed(FIX_TEST)
        await pilot.press("ctrl+k", "ctrl+k", "ctrl+l", *"pytest", "enter")
        title = str(log.border_title)
        assert title.startswith("Events · type: tools · text: “pytest” · Fix the failing")
        assert title.endswith(" · esc clears")
        assert _unseen_filters(app) == []
        assert app.focused is log
        await pilot.press("escape")
        assert not app.dashboard.filters_on
        assert str(log.border_title) == "Events · all sessions"
        assert log.line_count == everything


def _palette_offers(app: HarnessApp, text: str) -> bool:
    """Whether the command palette's highlighted command is `text`."""
    if not isinstance(app.screen, CommandPalette):
        return False
    commands = app.screen.query_one(CommandList)
    option = commands.highlighted_option
    return option is not None and str(option.prompt).startswith(text)


def _approval(tool: str, summary: str, **args: str) -> ApprovalView:
    return ApprovalView("ap_1", "s1", "c1", summary, "medium", None, None, tool, dict(args), NOW, 1)


def test_the_approval_toast_names_the_tool_once():
    assert asks(_approval("edit_file", "edit_file calc.py", path="calc.py")) == (
        "edit_file calc.py"
    )
    assert asks(_approval("bash", STRAY, command=STRAY)) == f"bash: {STRAY}"


def test_an_edited_answer_shows_what_runs_instead():
    event = ev.Event(
        "s1",
        5,
        ev.APPROVAL_RESOLVED,
        {
            "approval_id": "ap_1",
            "decision": "edit",
            "by": "user",
            "edited_args": {"command": "git clean -n stray.log"},
        },
        ts=NOW,
    )
    [line] = render_event(event, {})
    assert line.text == "edit by user → git clean -n stray.log"


async def test_quit_says_a_waiting_session_stays_pending(demo_project, tmp_path):
    """ctrl+q while this dashboard's session waits for an approval: the question says
    the approval stays pending and can be answered later, not that the turn is
    cancelled."""
    script = write_script(tmp_path / "cleanup.toml", CLEANUP_SCRIPT)
    app = live_app(live_config(demo_project, script=script))
    async with app.run_test(size=SIZE) as pilot:
        await _pending_cleanup(pilot, app)
        await pilot.press("escape", "ctrl+q")
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert screen.question == (
            "“clean up the stray log” waits for an approval and stays pending: answer it "
            "when the dashboard opens again, and the turn goes on. Background tasks "
            "started here are stopped."
        )
        await pilot.press("y")
    assert app.return_code == 0


async def test_a_theme_chosen_in_the_palette_is_kept(showcase_config, tmp_path, monkeypatch):
    """harness-nord chosen in the command palette is written to [ui] theme of the
    user's config file, its comments kept, and the next start uses it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    user_file = tmp_path / "xdg" / "harness-tui" / "config.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text('# my settings\n[ui]\ntheme = "harness-dark"  # for now\n')
    app = live_app(showcase_config())
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        assert app.theme == "harness-dark"
        await pilot.press("ctrl+p", *"Theme: harness-nord")
        await wait_until(pilot, lambda: _palette_offers(app, "Theme: harness-nord"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.theme == "harness-nord")
        assert any("Saved in" in notice for notice in app.notices)
    text = user_file.read_text()
    assert text.startswith("# my settings\n") and 'theme = "harness-nord"' in text
    assert "# for now" in text

    config = load_config(project=showcase_config().project)
    assert config.ui.theme == "harness-nord"
    again = live_app(config)
    async with again.run_test(size=SIZE):
        await again.ready.wait()
        assert again.theme == "harness-nord"
