"""Every argument of every subcommand, parsed in one place, and how flags become
config overrides."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness_tui import __version__
from harness_tui.cli.errors import UsageError

EPILOG = """\
exit codes:
  0    done
  1    agent or provider failure
  2    usage or config error
  3    an approval was needed and nobody could give it (--approvals none, or stdin ended)
  4    budget or max steps reached
  130  interrupted: Ctrl-C, SIGTERM, or stdout/stderr closed by its reader (`| head`)

configuration layers (later wins): packaged defaults, $XDG_CONFIG_HOME/harness-tui/config.toml,
<project>/.harness/config.toml, HARNESS_<SECTION>__<KEY> environment variables, flags.
See `harness-tui config show`.
"""


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options accepted before or after a subcommand. Below the top level they
    default to SUPPRESS so a subcommand does not overwrite what was given before it."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--project",
        metavar="DIR",
        default=default,
        help="the project (default: the git root of the current directory, else it)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        default=default,
        help="sqlite:///PATH or postgresql://HOST/DB (default: <project>/.harness/harness.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness-tui",
        description="A terminal dashboard for supervising AI coding-agent sessions. "
        "Without a subcommand it opens the dashboard; with --exec it runs one prompt "
        "headless.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"harness-tui {__version__}")
    _common(parser, top=True)
    run = parser.add_argument_group("running a session")
    run.add_argument(
        "--exec",
        metavar="PROMPT",
        dest="exec_prompt",
        help="run PROMPT headless; --exec - reads the prompt from stdin and --exec @FILE "
        "from FILE (for prompts longer than the command line allows, or that start with @)",
    )
    run.add_argument(
        "--provider",
        metavar="P",
        help="scripted, anthropic or openai (default: [provider] name; auto picks by API key)",
    )
    run.add_argument("--model", metavar="M", help="model name, passed through to the provider")
    run.add_argument("--session", metavar="ID", help="continue session ID with the prompt")
    run.add_argument(
        "--json", action="store_true", help="with --exec: print every event as one JSON line"
    )
    run.add_argument("--max-steps", metavar="N", type=int, help="model requests per turn")
    run.add_argument(
        "--worktree",
        action="store_true",
        default=None,
        help="with --exec: run in a git worktree of its own on branch <prefix><session> "
        "(default: [git] worktree)",
    )
    run.add_argument(
        "--approval-mode",
        choices=("untrusted", "on-request", "auto", "never"),
        help="untrusted: prompt for anything no rule allows; on-request (default): prompt "
        "where a rule says so; auto: allow all but forbidden; never: prompts become denials",
    )
    run.add_argument(
        "--approvals",
        choices=("none", "stdin"),
        default="none",
        help="with --exec: stdin prints approval requests as JSON lines on stderr and reads "
        'answers ({"approval_id": …, "decision": "allow_once|allow_always|deny|edit", '
        '"reason": …}) from stdin, until it ends (then as none; the prompt must not come '
        "from stdin: use --exec @FILE); none (default) exits 3 when an approval is needed",
    )

    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    config = commands.add_parser("config", help="show or check the merged configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser(
        "show", help="print the merged config and where each value came from"
    )
    _common(show, top=False)
    show.add_argument("--json", action="store_true", help="print as JSON")
    check = config_commands.add_parser(
        "check",
        help="list every problem in the config files, environment and flags (exit 2 if any)",
    )
    _common(check, top=False)

    tail = commands.add_parser(
        "tail",
        help="follow a task's output or a session's events live, until it ends",
        description="Follow a background task's output (ID like 3f2a9c1b0d12-t1) or a "
        "session's events (a session id) from the store, including a run in another "
        "process; exits when the task or session ends.",
    )
    tail.add_argument("target", metavar="ID", help="a task id or a session id")
    tail.add_argument("--no-follow", action="store_true", help="print what exists and exit")
    tail.add_argument("--json", action="store_true", help="print events as JSON lines")
    _common(tail, top=False)

    worktrees = commands.add_parser("worktrees", help="list session worktrees, or prune stale ones")
    worktrees.add_argument(
        "action", nargs="?", choices=("list", "prune"), default="list", help="default: list"
    )
    worktrees.add_argument("--json", action="store_true", help="print as JSON lines")
    _common(worktrees, top=False)

    gc = commands.add_parser("gc", help="signals, remediation drafts, grades and retention")
    gc_commands = gc.add_subparsers(dest="gc_command", metavar="ACTION", required=True)
    gc_status = gc_commands.add_parser("status", help="signals with their evidence, and grades")
    gc_status.add_argument("--json", action="store_true", help="print as JSON")
    _common(gc_status, top=False)
    gc_drafts = gc_commands.add_parser("drafts", help="remediation drafts and their status")
    gc_drafts.add_argument(
        "--status", choices=("pending", "adopted", "rejected", "expired"), help="only these"
    )
    _common(gc_drafts, top=False)
    gc_adopt = gc_commands.add_parser("adopt", help="write a pending draft into the project")
    gc_adopt.add_argument("draft_id", metavar="ID")
    _common(gc_adopt, top=False)
    gc_reject = gc_commands.add_parser("reject", help="reject a pending draft")
    gc_reject.add_argument("draft_id", metavar="ID")
    gc_reject.add_argument("--reason", default="", help="why, kept in the log")
    _common(gc_reject, top=False)
    gc_run = gc_commands.add_parser(
        "run", help="find signals, draft remediations, prune sessions past retention_days"
    )
    gc_run.add_argument("--dry-run", action="store_true", help="say what would happen only")
    _common(gc_run, top=False)

    rules = commands.add_parser("rules", help="code rules: run the project's guards")
    rules_commands = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    rules_check = rules_commands.add_parser(
        "check",
        help="run .harness/guards/*, print violations (FILE:LINE RULE severity message); "
        "exit 1 when there are violations",
    )
    rules_check.add_argument("--json", action="store_true", help="print the report as JSON")
    _common(rules_check, top=False)

    policy = commands.add_parser("policy", help="check commands against the policy rules")
    policy_commands = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    check = policy_commands.add_parser(
        "check", help="the decision for a shell command, its segments and the rules that matched"
    )
    check.add_argument("shell_command", metavar="CMD", help="the command, quoted as one argument")
    check.add_argument(
        "--mode",
        choices=("untrusted", "on-request", "auto", "never"),
        help="approval mode (default: [policy] approval_mode)",
    )
    check.add_argument("--json", action="store_true", help="last line: the decision as JSON")
    _common(check, top=False)
    test = policy_commands.add_parser("test", help="run every rule's match/not_match examples")
    _common(test, top=False)

    return parser


# Options of the headless runner that mean nothing without --exec.
_EXEC_ONLY = (
    ("--json", lambda args: args.json),
    ("--session", lambda args: args.session),
    ("--max-steps", lambda args: args.max_steps is not None),
    ("--approvals", lambda args: args.approvals != "none"),
    ("--worktree", lambda args: args.worktree is not None),
)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed arguments. A flag that goes only with --exec ends the process as
    argparse's own checks do (the usage line, exit 2); an empty prompt is a UsageError."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.exec_prompt is not None:
        if args.exec_prompt == "-" and args.approvals == "stdin":
            raise UsageError(
                "--exec - reads the prompt from stdin, where --approvals stdin reads the "
                "answers: put the prompt in a file and use --exec @FILE"
            )
        args.exec_prompt = _prompt_text(args.exec_prompt)
        if not args.exec_prompt.strip():
            raise UsageError("--exec needs a non-empty prompt")
    elif args.command is None:
        for flag, given in _EXEC_ONLY:
            if given(args):
                parser.error(f"{flag} goes with --exec")
    return args


def _prompt_text(value: str) -> str:
    """The prompt --exec was given: the argument itself, stdin for `-`, or the file
    named after `@`, exactly as written."""
    if value == "-":
        if sys.stdin is None:
            raise UsageError("--exec -: stdin is closed; nothing to read the prompt from")
        data, where = sys.stdin.buffer.read(), "stdin"
    elif value.startswith("@"):
        path = Path(value[1:])
        try:
            data, where = path.read_bytes(), str(path)
        except OSError as exc:
            raise UsageError(f"--exec {value}: cannot read {path}: {exc.strerror}") from None
    else:
        return value
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise UsageError(f"--exec {value}: {where} is not UTF-8 text ({exc.reason})") from None


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line flags as config overrides ("section.key" -> value)."""
    flags: dict[str, Any] = {}
    if getattr(args, "store", None):
        flags["store.url"] = args.store
    if getattr(args, "provider", None):
        flags["provider.name"] = args.provider
    if getattr(args, "model", None):
        flags["provider.model"] = args.model
    if getattr(args, "max_steps", None) is not None:
        flags["engine.max_steps"] = args.max_steps
    if getattr(args, "approval_mode", None):
        flags["policy.approval_mode"] = args.approval_mode
    return flags
