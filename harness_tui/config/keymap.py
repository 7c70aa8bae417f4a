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


# The scheme, so that a key never acts by accident:
# - On the dashboard, printable keys are text: the first one typed goes to the input
#   bar (focused, then inserted), like a chat box, so a sentence typed there can
#   never run an action. Actions are control chords and function keys, which prose
#   does not contain; they work even while the input bar has the focus, except the
#   few the bar uses for editing itself (ctrl+a, ctrl+e, ctrl+k, ctrl+x, ...).
# - Single letters act only on a screen that shows what they act on: the approval
#   prompt, the GC screen, a yes/no question. A decision on an approval is taken only
#   on its prompt, which ignores keys for a moment after it opens ([ui] key_guard_ms),
#   and "allow always" asks for a confirming chord besides.
APP = (
    KeySpec(
        "ctrl+q",
        "quit",
        "Quit",
        id="quit",
        tooltip="Close the dashboard; asks first while turns run here",
    ),
    KeySpec("f1", "help", "Help", id="help", tooltip="Every key binding and its id"),
)

DASHBOARD = (
    KeySpec("ctrl+n", "new_session", "New", id="new_session", tooltip="Start a new session"),
    KeySpec(
        "ctrl+s",
        "focus_input",
        "Type",
        id="focus_input",
        tooltip="Type a prompt, steer the running turn or queue a follow-up "
        "(typing any letter does too)",
        show=False,
    ),
    KeySpec(
        "ctrl+y",
        "answer_approval",
        "Approval",
        id="answer_approval",
        tooltip="Open the prompt of the oldest pending approval, whichever session asks",
    ),
    KeySpec("ctrl+o", "inbox", "Inbox", id="inbox", tooltip="Every pending approval, oldest first"),
    KeySpec(
        "ctrl+t",
        "tail_task",
        "Tail",
        id="tail_task",
        tooltip="Follow the selected task's output (Enter on a task does too)",
    ),
    KeySpec(
        "ctrl+x",
        "cancel_turn",
        "Cancel",
        id="cancel_turn",
        tooltip="Cancel the selected session's running turn (asks first)",
    ),
    KeySpec(
        "ctrl+r",
        "approval_mode",
        "Mode",
        id="approval_mode",
        tooltip="Switch the selected session's approval mode",
    ),
    KeySpec("ctrl+l", "filter", "Filter", id="filter", tooltip="Filter the event log by text"),
    KeySpec(
        "ctrl+k",
        "cycle_type_filter",
        "Type filter",
        id="filter_type",
        tooltip="Show only one kind of event: conversation, tools, approvals, tasks, errors",
    ),
    KeySpec(
        "escape",
        "clear_filters",
        "Clear filters",
        id="clear_filters",
        tooltip="Clear every filter of the log (text, type, session): all events again",
    ),
    KeySpec(
        "ctrl+g",
        "gc",
        "GC",
        id="gc",
        tooltip="Signals GC found in the log, its drafts to adopt or reject, the grade",
        show=False,
    ),
    KeySpec(
        "ctrl+a",
        "all_sessions",
        "All",
        id="all_sessions",
        tooltip="Show the events of every session",
        show=False,
    ),
    KeySpec(
        "ctrl+e",
        "follow",
        "Follow",
        id="follow",
        tooltip="Jump to the newest event and follow the log again (End in the log too)",
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
    KeySpec(
        "escape",
        "clear",
        "Clear text",
        id="clear_filter",
        tooltip="Clear the text filter and go back to the log",
    ),
)

APPROVAL = (
    KeySpec("y", "allow_once", "Allow once", id="allow_once", tooltip="Run this call once"),
    KeySpec(
        "a",
        "allow_always",
        "Allow always…",
        id="allow_always",
        tooltip="Offered for commands: shows the rule it would add to .harness/policy.toml; "
        "the confirming chord adds it and runs the command",
    ),
    KeySpec("n", "deny", "Deny…", id="deny", tooltip="Refuse the call; a reason is optional"),
    KeySpec("e", "edit", "Edit…", id="edit_allow", tooltip="Change the call, then allow it"),
    KeySpec("escape", "later", "Later", id="decide_later", tooltip="Leave it pending for now"),
)

APPROVAL_FORM = (
    KeySpec(
        "ctrl+s",
        "confirm",
        "Confirm",
        id="confirm_form",
        tooltip="Send the denial or the edit, or allow always",
    ),
    KeySpec("escape", "back", "Back", id="back", tooltip="Back to the choices"),
)

# The inbox answers nothing itself: a new approval arriving could move another one
# under the cursor. Its keys open the prompt, which shows what is being decided.
INBOX = (
    KeySpec(
        "enter",
        "open",
        "Answer",
        id="open_approval",
        tooltip="Open the approval's prompt to answer it",
    ),
    KeySpec(
        "n",
        "deny",
        "Deny…",
        id="deny",
        tooltip="Open the approval's prompt at the reason for refusing it",
    ),
    KeySpec(
        "e",
        "edit",
        "Edit…",
        id="edit_allow",
        tooltip="Open the approval's prompt at its arguments, to change then allow them",
    ),
    KeySpec("escape", "close", "Close", id="close", tooltip="Back to the dashboard"),
)

TAIL = (
    KeySpec(
        "ctrl+e", "follow", "Follow", id="follow", tooltip="Jump to the end and follow the output"
    ),
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

HELP = (KeySpec("escape,f1", "close", "Close", id="close", tooltip="Back to where you were"),)

# What the help screen lists, under these headings.
CONTEXTS: tuple[tuple[str, tuple[KeySpec, ...]], ...] = (
    ("Everywhere", APP),
    ("Dashboard", DASHBOARD),
    ("Input bar", INPUT),
    ("Event log", LOG),
    ("Event details", EVENT_DETAIL),
    ("Event log filter", FILTER),
    ("Approval prompt", APPROVAL),
    ("Approval prompt: allow always, deny reason or edit", APPROVAL_FORM),
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


# -- what a key may be -------------------------------------------------------------
#
# `[keys]` values are checked here, below the TUI, so that a key Textual would never
# send (`"not a key!!"`) is refused with the config's other problems rather than
# silently leaving its action without a key. These are the names Textual gives keys:
# tests/config/test_bounds.py checks them against Textual's own list.

MODIFIERS = ("alt", "ctrl", "hyper", "meta", "shift", "super")
"""Textual's modifier names; it writes them in this (alphabetical) order."""

NAMED_KEYS = frozenset(
    {
        "escape",
        "enter",
        "return",
        "tab",
        "space",
        "backspace",
        "newline",
        "left",
        "right",
        "up",
        "down",
        "home",
        "end",
        "insert",
        "delete",
        "pageup",
        "pagedown",
        *(f"f{number}" for number in range(1, 25)),
    }
)
"""Keys that are not characters, by the names Textual's key events carry."""

# Textual's friendlier names for some characters' Unicode names.
_CHARACTER_NAME_REPLACEMENTS = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}

KEY_EXAMPLES = "ctrl+q, f2, escape, question_mark"


def character_key(character: str) -> str:
    """The name Textual gives the key that types `character`: itself for a letter or
    digit, else its Unicode name in lower case with underscores (`?` is question_mark,
    `/` is slash)."""
    if character.isalnum():
        return character
    import unicodedata

    try:
        name = unicodedata.name(character).lower().replace("-", "_").replace(" ", "_")
    except ValueError:
        return character
    return _CHARACTER_NAME_REPLACEMENTS.get(name, name)


def _is_character_name(name: str) -> bool:
    """Whether `name` is what `character_key` calls some printable character."""
    import unicodedata

    original = {v: k for k, v in _CHARACTER_NAME_REPLACEMENTS.items()}.get(name, name)
    spaced = original.replace("_", " ").upper()
    # Unicode names use both spaces and hyphens (HYPHEN-MINUS, LESS-THAN SIGN), which
    # the key name writes alike; try the hyphen in each place it can have been.
    words = spaced.split(" ")
    candidates = [spaced] + [
        " ".join(words[:i]) + "-" + " ".join(words[i:]) for i in range(1, len(words))
    ]
    for candidate in candidates:
        try:
            character = unicodedata.lookup(candidate)
        except KeyError:
            continue
        if character.isprintable() and character_key(character) == name:
            return True
    return False


def _base_key(key: str) -> str | None:
    """`key` (without modifiers) as Textual names it, or None if it names no key."""
    if len(key) == 1:
        return character_key(key) if key.isprintable() and not key.isspace() else None
    if key in NAMED_KEYS or _is_character_name(key):
        return key
    return None


def _canonical_key(key: str) -> str | None:
    *modifiers, base = key.split("+")
    if len(set(modifiers)) != len(modifiers) or not set(modifiers) <= set(MODIFIERS):
        return None
    name = _base_key(base)
    if name is None:
        return None
    return "+".join([*sorted(modifiers), name])


def canonical_keys(value: str) -> str | None:
    """A `[keys]` value as Textual matches key events: comma-separated keys, each with
    its modifiers in Textual's order and a character written by its name (`?` becomes
    question_mark). None when any part of it is no key Textual can send."""
    keys = [part.strip() for part in value.split(",")]
    canonical = [_canonical_key(key) for key in keys]
    if not keys or any(key is None for key in canonical):
        return None
    return ",".join(key for key in canonical if key is not None)


def key_problem(value: str) -> str | None:
    """None when `value` binds keys Textual can send, else what was expected (the
    config check of `[keys]`)."""
    if canonical_keys(value) is None:
        return f"key names as Textual writes them, comma-separated (e.g. {KEY_EXAMPLES})"
    return None
