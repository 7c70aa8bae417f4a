"""The dashboard's key bindings as plain data: for each screen (or widget), its
bindings, each with its id, default key, action, description and tooltip.

The id is what `[keys]` in the config remaps. The bindings are data here, below the
TUI, so that the config can refuse an unknown id the way it refuses any unknown key
without importing the TUI; `harness_tui.tui.keys` builds Textual's Bindings from them.
"""

from __future__ import annotations

from typing import NamedTuple


class KeySpec(NamedTuple):
    key: str
    """The default key, in Textual's names (`question_mark`); several are comma-separated."""
    action: str
    """The action it runs on the screen or widget that has it."""
    description: str
    """The short name in the footer and the help screen."""
    id: str
    """What `[keys]` in the config remaps; several screens may share one id."""
    tooltip: str
    """What it does, in a sentence: the help screen and the command palette show it."""
    show: bool = True
    """Whether the footer shows it."""


APP = (
    KeySpec(
        "q", "quit", "Quit", id="quit", tooltip="Close the dashboard; running turns are cancelled"
    ),
    KeySpec("question_mark", "help", "Help", id="help", tooltip="Every key binding and its id"),
)

DASHBOARD = (
    KeySpec("n", "new_session", "New", id="new_session", tooltip="Start a new session"),
    KeySpec(
        "s",
        "focus_input",
        "Send",
        id="focus_input",
        tooltip="Type a prompt, steer the running turn or queue a follow-up",
    ),
    KeySpec(
        "p",
        "answer_approval",
        "Approve",
        id="answer_approval",
        tooltip="Answer the oldest pending approval",
    ),
    KeySpec("i", "inbox", "Inbox", id="inbox", tooltip="Every pending approval, oldest first"),
    KeySpec("t", "tail_task", "Tail", id="tail_task", tooltip="Follow the selected task's output"),
    KeySpec("x", "cancel_turn", "Cancel", id="cancel_turn", tooltip="Cancel the running turn"),
    KeySpec(
        "m",
        "approval_mode",
        "Mode",
        id="approval_mode",
        tooltip="Switch the selected session's approval mode",
    ),
    KeySpec("slash", "filter", "Filter", id="filter", tooltip="Filter the event log by text"),
    KeySpec(
        "f",
        "cycle_type_filter",
        "Type",
        id="filter_type",
        tooltip="Show only one kind of event: conversation, tools, approvals, tasks, errors",
    ),
    KeySpec(
        "g",
        "gc",
        "GC",
        id="gc",
        tooltip="Signals GC found in the log, its drafts to adopt or reject, the grade",
        show=False,
    ),
    KeySpec(
        "a",
        "all_sessions",
        "All",
        id="all_sessions",
        tooltip="Show the events of every session",
        show=False,
    ),
    KeySpec(
        "G",
        "follow",
        "Follow",
        id="follow",
        tooltip="Jump to the newest event and follow the log again",
        show=False,
    ),
)

INPUT = (
    KeySpec(
        "enter",
        "send",
        "Send / steer",
        id="send",
        tooltip="Steer the running turn, or prompt an idle session",
    ),
    KeySpec(
        "ctrl+f",
        "follow_up",
        "Follow-up",
        id="follow_up",
        tooltip="Queue the text to run after the current turn",
    ),
    KeySpec("escape", "leave", "Back", id="leave_input", tooltip="Back to the session list"),
)

LOG = (
    KeySpec(
        "enter",
        "open_event",
        "Details",
        id="open_event",
        tooltip="The whole event under the cursor, wrapped, with its JSON data",
    ),
    KeySpec(
        "up",
        "cursor_up",
        "Up",
        id="log_cursor_up",
        tooltip="Move the cursor to the line above (the log stops following)",
        show=False,
    ),
    KeySpec(
        "down",
        "cursor_down",
        "Down",
        id="log_cursor_down",
        tooltip="Move the cursor down; past the newest line the log follows again",
        show=False,
    ),
)

EVENT_DETAIL = (KeySpec("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),)

FILTER = (
    KeySpec("escape", "clear", "Clear filter", id="clear_filter", tooltip="Show every event again"),
)

APPROVAL = (
    KeySpec("y", "allow_once", "Allow once", id="allow_once", tooltip="Run this call once"),
    KeySpec(
        "a",
        "allow_always",
        "Allow always",
        id="allow_always",
        tooltip="Run it and add a rule that allows it from now on",
    ),
    KeySpec("n", "deny", "Deny", id="deny", tooltip="Refuse the call; a reason is optional"),
    KeySpec("e", "edit", "Edit", id="edit_allow", tooltip="Change the call, then allow it"),
    KeySpec("escape", "later", "Later", id="decide_later", tooltip="Leave it pending for now"),
)

APPROVAL_FORM = (
    KeySpec(
        "ctrl+s", "confirm", "Confirm", id="confirm_form", tooltip="Send the edit or the denial"
    ),
    KeySpec("escape", "back", "Back", id="back", tooltip="Back to the five choices"),
)

INBOX = (
    KeySpec("enter", "open", "Open", id="open_approval", tooltip="Show the approval in full"),
    *APPROVAL[:4],
    KeySpec("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
)

TAIL = (
    KeySpec("G", "follow", "Follow", id="follow", tooltip="Jump to the end and follow the output"),
    KeySpec("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
)

GC = (
    KeySpec(
        "a", "adopt", "Adopt", id="adopt_draft", tooltip="Write the selected draft into the project"
    ),
    KeySpec(
        "r",
        "reject",
        "Reject",
        id="reject_draft",
        tooltip="Reject the selected draft, saying why",
    ),
    KeySpec(
        "R",
        "run_gc",
        "Run GC",
        id="run_gc",
        tooltip="Look for signals and draft fixes now; asks before pruning old sessions",
    ),
    KeySpec("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
)

REJECT_REASON = (
    KeySpec(
        "ctrl+s",
        "confirm",
        "Reject",
        id="confirm_reject",
        tooltip="Reject the draft with this reason (Enter does too)",
    ),
    KeySpec("escape", "close", "Back", id="keep_draft", tooltip="Leave the draft pending"),
)

CONFIRM = (
    KeySpec("y", "confirm", "Yes", id="confirm", tooltip="Go ahead"),
    KeySpec("n,escape", "dismiss_no", "No", id="refuse", tooltip="Leave things as they are"),
)

NEW_SESSION = (
    KeySpec("ctrl+s", "start", "Start", id="start_session", tooltip="Start the session"),
    KeySpec("escape", "close", "Close", id="close", tooltip="Back without starting"),
)

PICKER = (
    KeySpec("escape", "close", "Close", id="close", tooltip="Back without changing anything"),
)

HELP = (KeySpec("escape,q", "close", "Close", id="close", tooltip="Back to where you were"),)

# What the help screen lists, under these headings.
CONTEXTS: tuple[tuple[str, tuple[KeySpec, ...]], ...] = (
    ("Everywhere", APP),
    ("Dashboard", DASHBOARD),
    ("Input bar", INPUT),
    ("Event log", LOG),
    ("Event details", EVENT_DETAIL),
    ("Event log filter", FILTER),
    ("Approval prompt", APPROVAL),
    ("Approval prompt: deny reason or edit", APPROVAL_FORM),
    ("Approval inbox", INBOX),
    ("Task tail", TAIL),
    ("GC", GC),
    ("GC: reason for rejecting a draft", REJECT_REASON),
    ("Confirmation", CONFIRM),
    ("New session", NEW_SESSION),
    ("Help", HELP),
)


# The mode picker's one binding shares its id (close) with screens the help lists.
BINDING_IDS: tuple[str, ...] = tuple(
    dict.fromkeys(spec.id for specs in (*(s for _, s in CONTEXTS), PICKER) for spec in specs)
)
"""Every binding id, the names `[keys]` accepts."""
