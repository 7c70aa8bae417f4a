"""Every key binding of the dashboard, in one place.

Each binding has an id (what `[keys]` in config remaps), a description (footer, help
screen, command palette) and a tooltip. Screens take their BINDINGS from here, so the
help screen and the keymap check see exactly what the screens use.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.binding import Binding


def bind(
    key: str,
    action: str,
    description: str,
    *,
    id: str,
    tooltip: str,
    show: bool = True,
    priority: bool = False,
    key_display: str | None = None,
) -> Binding:
    return Binding(
        key,
        action,
        description,
        show=show,
        priority=priority,
        key_display=key_display,
        tooltip=tooltip,
        id=id,
    )


APP = [
    bind(
        "q", "quit", "Quit", id="quit", tooltip="Close the dashboard; running turns are cancelled"
    ),
    bind("question_mark", "help", "Help", id="help", tooltip="Every key binding and its id"),
]

DASHBOARD = [
    bind("n", "new_session", "New", id="new_session", tooltip="Start a new session"),
    bind(
        "s",
        "focus_input",
        "Send",
        id="focus_input",
        tooltip="Type a prompt, steer the running turn or queue a follow-up",
    ),
    bind(
        "p",
        "answer_approval",
        "Approve",
        id="answer_approval",
        tooltip="Answer the oldest pending approval",
    ),
    bind("i", "inbox", "Inbox", id="inbox", tooltip="Every pending approval, oldest first"),
    bind("t", "tail_task", "Tail", id="tail_task", tooltip="Follow the selected task's output"),
    bind("x", "cancel_turn", "Cancel", id="cancel_turn", tooltip="Cancel the running turn"),
    bind(
        "m",
        "approval_mode",
        "Mode",
        id="approval_mode",
        tooltip="Switch the selected session's approval mode",
    ),
    bind("slash", "filter", "Filter", id="filter", tooltip="Filter the event log by text"),
    bind(
        "f",
        "cycle_type_filter",
        "Type",
        id="filter_type",
        tooltip="Show only one kind of event: conversation, tools, approvals, tasks, errors",
    ),
    bind(
        "g",
        "gc",
        "GC",
        id="gc",
        tooltip="Signals GC found in the log, its drafts to adopt or reject, the grade",
        show=False,
    ),
    bind(
        "a",
        "all_sessions",
        "All",
        id="all_sessions",
        tooltip="Show the events of every session",
        show=False,
    ),
    bind(
        "G",
        "follow",
        "Follow",
        id="follow",
        tooltip="Jump to the newest event and follow the log again",
        show=False,
    ),
]

INPUT = [
    bind(
        "enter",
        "send",
        "Send / steer",
        id="send",
        tooltip="Steer the running turn, or prompt an idle session",
    ),
    bind(
        "ctrl+f",
        "follow_up",
        "Follow-up",
        id="follow_up",
        tooltip="Queue the text to run after the current turn",
    ),
    bind("escape", "leave", "Back", id="leave_input", tooltip="Back to the session list"),
]

FILTER = [
    bind("escape", "clear", "Clear filter", id="clear_filter", tooltip="Show every event again"),
]

APPROVAL = [
    bind("y", "allow_once", "Allow once", id="allow_once", tooltip="Run this call once"),
    bind(
        "a",
        "allow_always",
        "Allow always",
        id="allow_always",
        tooltip="Run it and add a rule that allows it from now on",
    ),
    bind("n", "deny", "Deny", id="deny", tooltip="Refuse the call; a reason is optional"),
    bind("e", "edit", "Edit", id="edit_allow", tooltip="Change the call, then allow it"),
    bind("escape", "later", "Later", id="decide_later", tooltip="Leave it pending for now"),
]

APPROVAL_FORM = [
    bind("ctrl+s", "confirm", "Confirm", id="confirm_form", tooltip="Send the edit or the denial"),
    bind("escape", "back", "Back", id="back", tooltip="Back to the five choices"),
]

INBOX = [
    bind("enter", "open", "Open", id="open_approval", tooltip="Show the approval in full"),
    *APPROVAL[:4],
    bind("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
]

TAIL = [
    bind("G", "follow", "Follow", id="follow", tooltip="Jump to the end and follow the output"),
    bind("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
]

GC = [
    bind(
        "a", "adopt", "Adopt", id="adopt_draft", tooltip="Write the selected draft into the project"
    ),
    bind(
        "r",
        "reject",
        "Reject",
        id="reject_draft",
        tooltip="Reject the selected draft, saying why",
    ),
    bind(
        "R",
        "run_gc",
        "Run GC",
        id="run_gc",
        tooltip="Look for signals and draft fixes now; asks before pruning old sessions",
    ),
    bind("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
]

REJECT_REASON = [
    bind(
        "ctrl+s",
        "confirm",
        "Reject",
        id="confirm_reject",
        tooltip="Reject the draft with this reason (Enter does too)",
    ),
    bind("escape", "close", "Back", id="keep_draft", tooltip="Leave the draft pending"),
]

CONFIRM = [
    bind("y", "confirm", "Yes", id="confirm", tooltip="Go ahead"),
    bind("n,escape", "dismiss_no", "No", id="refuse", tooltip="Leave things as they are"),
]

NEW_SESSION = [
    bind("ctrl+s", "start", "Start", id="start_session", tooltip="Start the session"),
    bind("escape", "close", "Close", id="close", tooltip="Back without starting"),
]

PICKER = [
    bind("escape", "close", "Close", id="close", tooltip="Back without changing anything"),
]

HELP = [
    bind("escape,q", "close", "Close", id="close", tooltip="Back to where you were"),
]

# What the help screen lists, under these headings.
CONTEXTS: tuple[tuple[str, list[Binding]], ...] = (
    ("Everywhere", APP),
    ("Dashboard", DASHBOARD),
    ("Input bar", INPUT),
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


def binding_ids() -> set[str]:
    return {b.id for _, bindings in CONTEXTS for b in bindings if b.id}


def check_keymap(keymap: Mapping[str, str]) -> list[str]:
    """Problems with a `[keys]` table, one message each; the rest of it still applies."""
    known = binding_ids()
    return [
        f"[keys] {binding_id}: no binding has this id (press ? for the list)"
        for binding_id in keymap
        if binding_id not in known
    ]
