"""Every argument of every subcommand, parsed in one place, and how flags become
config overrides.

A mistake on the command line is a UsageError, so the error boundary reports it as it
reports any other: one line, exit 2. argparse would print its usage page instead, and
for a mistyped flag it would blame whatever came next (`--exex "hi"` reads as an
unknown --exex and then "invalid choice: 'hi'" for the subcommand).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from harness_tui import __version__
from harness_tui.cli.errors import UsageError
from harness_tui.sandbox.modes import MODES as SANDBOX_MODES

EPILOG = """\
exit codes:
  0    done
  1    agent or provider failure
  2    usage or config error; with --exec also: no model provider configured, or a
       cost budget ([engine] max_cost_usd) for a model without a known price
  3    an approval was needed and nobody could give it (--approvals none, stdin ended,
       or --approvals wait and nobody answered within --approval-timeout)
  4    budget or max steps reached
  5    approve, send, cancel: not applied within --timeout (the command stays queued)
  130  interrupted: Ctrl-C, SIGTERM, or stdout/stderr closed by its reader (`| head`)

configuration layers (later wins): packaged defaults, $XDG_CONFIG_HOME/harness-tui/config.toml,
<project>/.harness/config.toml, HARNESS_<SECTION>__<KEY> environment variables, flags.
See `harness-tui config show`.
"""

POLICY_CHECK_EPILOG = """\
exit codes (the decision, with or without --json):
  0    allow
  1    prompt
  3    forbid
  2    usage or config error (a rule file that does not load)
"""

TAIL_EPILOG = """\
exit codes (following: how the task or session stopped, as --exec says it):
  0    the session is done, or the task completed; always 0 with --no-follow
  1    it failed, or the process running it was killed (the next run recovers it)
  2    usage or config error (no such session or task)
  3    the session waits for an approval
  4    the session is idle: its turn stopped at max steps or a budget
  130  it was cancelled, or tail itself was interrupted (Ctrl-C)
"""

CONTROL_EPILOG = """\
It works for any session in the store, whichever process runs it: the engine that runs
the session applies the command (once, in order) and this waits for it. A session that
no engine runs gets the command when one next takes it over.

exit codes:
  0    applied; the line says by whom
  1    rejected by the engine that runs the session; the line says why (the approval
       was already answered, the session ended, ...)
  2    usage or config error (no such session or pending approval)
  5    not applied within --timeout: no engine runs the session now, or it has not got
       to the command yet; the command stays queued in the store
"""

SESSIONS_EPILOG = """\
RUNNER is the engine holding the session's lease: host and pid, "orphaned" when its
lease ran out or its process on this machine is gone (the next engine that adopts the
session recovers it), "-" when no engine runs it. A session `submit` queued that no
worker has started yet is listed first, status queued, "queued for a worker".
"""

PROG = "harness-tui"


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but its errors are UsageErrors naming the subcommand they are
    about (`tail: the following arguments are required: ID`). Subparsers are of the
    same class, so this holds at every level."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix(PROG).strip()
        raise UsageError(f"{where}: {message}" if where else message)


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
    parser = _Parser(
        prog=PROG,
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
        help="scripted, anthropic or openai (default: [provider] name; auto picks by "
        "ANTHROPIC_API_KEY, OPENAI_API_KEY or [openai] base_url, and with none of them "
        "--exec exits 2). scripted plays the offline demo, on a seeded copy of its own "
        "project and never on yours; --model PATH plays a script of your own in the project",
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
        "--agent",
        metavar="NAME",
        help="with --exec, for a new session: run it on the external agent [agents.NAME] "
        "names instead of our own loop (built in: claude, codex, opencode, gemini, "
        "claude-acp, codex-acp; `harness-tui agents` lists them). Its permission "
        "requests are judged by our policy first; prompts go to the inbox",
    )
    run.add_argument(
        "--approval-mode",
        choices=("untrusted", "on-request", "auto", "never"),
        help="untrusted: prompt for anything no rule allows; on-request (default): prompt "
        "where a rule says so; auto: allow all but forbidden; never: prompts become denials",
    )
    run.add_argument(
        "--sandbox",
        choices=SANDBOX_MODES,
        metavar="MODE",
        help="with --exec, for a new session: how the agent's commands run (default: "
        "[sandbox] mode). read-only: they write nothing but a private /tmp; "
        "workspace-write (default): they write the workspace too, not its .harness/, "
        ".git/hooks or .git/config; danger-full-access: no sandbox at all. Inside, the "
        "home is empty, the network is off and other processes are invisible. Without a "
        "working bubblewrap (bwrap) the policy alone judges commands, and any command "
        "no rule allows needs approval",
    )
    run.add_argument(
        "--approvals",
        choices=("none", "stdin", "wait"),
        default="none",
        help="with --exec: stdin prints approval requests as JSON lines on stderr and reads "
        'answers ({"approval_id": …, "decision": "allow_once|allow_always|deny|edit", '
        '"reason": …}) from stdin, until it ends (then as none; the prompt must not come '
        "from stdin: use --exec @FILE); wait says each request on stderr and waits for an "
        "answer from any face (`harness-tui approve ID`, the dashboard), on this machine "
        "or any sharing the store; none (default) exits 3 when an approval is needed",
    )
    run.add_argument(
        "--approval-timeout",
        metavar="S",
        type=float,
        help="with --approvals wait: exit 3 when a request has waited S seconds "
        "unanswered (default: wait as long as it takes)",
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
        help="follow a task's output or a session's events live, until it stops",
        description="Follow a background task's output (ID like 3f2a9c1b0d12-t1) or a\n"
        "session's events (a session id) from the store, including a run in another\n"
        "process. Exits when the task ends or the session stops running: done, failed,\n"
        "cancelled, waiting for an approval, idle after max steps or a budget, or its\n"
        "process gone. The last line says which.",
        epilog=TAIL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "check",
        help="the decision for a shell command, its segments and the rules that matched "
        "(exit 0 allow, 1 prompt, 3 forbid)",
        description="The decision the policy makes for a shell command, each segment of it\n"
        "and the rules that matched.",
        epilog=POLICY_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("shell_command", metavar="CMD", help="the command, quoted as one argument")
    check.add_argument(
        "--mode",
        choices=("untrusted", "on-request", "auto", "never"),
        help="approval mode (default: [policy] approval_mode)",
    )
    check.add_argument(
        "--json", action="store_true", help="print only the decision, as one JSON document"
    )
    check.add_argument(
        "--no-sandbox",
        action="store_true",
        help="judge as if no sandbox confined the command: commands no allow rule "
        "covers prompt, as do tools that run the workspace's own code",
    )
    _common(check, top=False)
    test = policy_commands.add_parser("test", help="run every rule's match/not_match examples")
    _common(test, top=False)

    _control_commands(commands)
    _fleet_commands(commands)
    _agents_command(commands)
    return parser


AGENTS_EPILOG = """\
STATUS: ok (it printed its version); missing (not on the PATH the agent gets:
the npm package to install is listed); timeout (`COMMAND --version` gave no
answer within --timeout, and its process group was killed); error (it failed,
or printed no version); no command. `--version` runs with a fresh temporary
HOME, the agent's own clean environment and stdin closed: it writes nothing
into your configuration.

AUTH names the key variables the agent would get ([agents.NAME] pass_env and
env), and says `login` when its own credential file exists under HOME
(~/.claude/.credentials.json, ~/.claude.json, ~/.codex/auth.json,
~/.local/share/opencode/auth.json, ~/.gemini/oauth_creds.json): names and
presence only, never a value or a file's content.

exit codes:
  0    listed, whatever is installed or not
  2    usage or config error
"""


def _agents_command(commands: Any) -> None:
    agents = commands.add_parser(
        "agents",
        help="list the agent runtimes ([agents.NAME]): installed, version, authentication",
        description="Every configured agent ([agents.NAME], and the built-in claude, codex,\n"
        "opencode, gemini, claude-acp and codex-acp): whether its command is installed,\n"
        "its version, how it is authenticated, and which of its own configuration files\n"
        "(opencode.json, .claude/, .codex/config.toml, .gemini/settings.json) the project\n"
        "has. All are asked at once.",
        epilog=AGENTS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    agents.add_argument(
        "--json",
        action="store_true",
        help="print one JSON array: name, protocol, command, args, path, installed, status, "
        "version, auth{env, files}, project_config, package, description, error (when any)",
    )
    agents.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        help="seconds each `COMMAND --version` may take (default: 5)",
    )
    _common(agents, top=False)


def _timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        help="seconds to wait for the engine that runs the session to apply it "
        "(default: [control] command_timeout_s)",
    )


def _control_commands(commands: Any) -> None:
    """The faces of the control plane: act on any session in the store."""
    formatter = argparse.RawDescriptionHelpFormatter
    sessions = commands.add_parser(
        "sessions",
        help="list the sessions in the store, with the host and engine that runs each",
        description="Every session in the store, newest first, with its status and the\n"
        "engine that runs it.",
        epilog=SESSIONS_EPILOG,
        formatter_class=formatter,
    )
    sessions.add_argument("--json", action="store_true", help="print one JSON line per session")
    sessions.add_argument(
        "--status",
        metavar="S",
        choices=("idle", "queued", "running", "waiting", "done", "failed", "cancelled"),
        help="only sessions with this status (idle, queued, running, waiting, done, "
        "failed, cancelled)",
    )
    _common(sessions, top=False)

    approvals = commands.add_parser(
        "approvals",
        help="list the approvals waiting for an answer, across every session in the store",
    )
    approvals.add_argument("--json", action="store_true", help="print one JSON line each")
    _common(approvals, top=False)

    approve = commands.add_parser(
        "approve",
        help="answer a pending approval (allow once by default), whichever process asked",
        description="Answer a pending approval (see `harness-tui approvals`): allow the\n"
        "call once (default), allow it always, deny it, or run an edited command instead.",
        epilog=CONTROL_EPILOG,
        formatter_class=formatter,
    )
    approve.add_argument("approval_id", metavar="ID", help="the approval's id (ap_…)")
    answer = approve.add_mutually_exclusive_group()
    answer.add_argument(
        "--always",
        action="store_true",
        help="allow always: a rule for exactly this command is written to the project's "
        "policy file",
    )
    answer.add_argument(
        "--deny", nargs="?", const="", metavar="REASON", help="deny it, saying why (optional)"
    )
    answer.add_argument(
        "--edit", metavar="COMMAND", help="run COMMAND instead (shell commands only)"
    )
    _timeout(approve)
    _common(approve, top=False)

    send = commands.add_parser(
        "send",
        help="send a session a follow-up, or steer its running turn (--steer)",
        description="Send TEXT to a session: a follow-up, taken when its turn ends (or at\n"
        "once when it is idle), or with --steer, into the running turn before its next\n"
        "model request.",
        epilog=CONTROL_EPILOG,
        formatter_class=formatter,
    )
    send.add_argument("session_id", metavar="SID", help="the session's id")
    send.add_argument("text", metavar="TEXT", help="what to say, quoted as one argument")
    send.add_argument("--steer", action="store_true", help="steer the running turn")
    _timeout(send)
    _common(send, top=False)

    cancel = commands.add_parser(
        "cancel",
        help="cancel a session's turn, its background tasks and subagents",
        epilog=CONTROL_EPILOG,
        formatter_class=formatter,
    )
    cancel.add_argument("session_id", metavar="SID", help="the session's id")
    _timeout(cancel)
    _common(cancel, top=False)


SUBMIT_EPILOG = """\
The session waits, status queued, in the store's queue until a `harness-tui worker`
sharing the store claims it: highest priority first, then the oldest. Only its id is
printed (on stdout), so a script can capture it.

exit codes:
  0    queued; its id printed
  1    the store failed
  2    usage or config error
"""

WORKER_EPILOG = """\
It claims queued sessions (highest priority first, then the oldest) while it runs
fewer than --max-sessions, within the limits every worker on the store shares
([concurrency] fleet_sessions and fleet_per_project, [[projects]] max_fleet), and
adopts a session whose worker died once that worker's lease ([control] lease_s) ran
out: its interrupted call is recorded and the session carried on. Every third of a
lease it also takes over any session nobody runs that an answer, steer or cancel waits
for (a run outside the queue whose process died), and applies them. Progress lines go
to stderr. SIGTERM or Ctrl-C: it takes no more work and hands back what it runs (each
turn left open, its lease given up) for another worker to adopt, then exits.

exit codes:
  0    stopped by SIGTERM or Ctrl-C, its sessions handed back
  1    the store failed (past [store] retry_s)
  2    usage or config error
"""


def _fleet_commands(commands: Any) -> None:
    """Queueing sessions, and the workers that run them."""
    formatter = argparse.RawDescriptionHelpFormatter
    submit = commands.add_parser(
        "submit",
        help="queue a session for a worker (see `worker`) and print its id",
        description="Queue PROMPT as a new session for the workers sharing the store.",
        epilog=SUBMIT_EPILOG,
        formatter_class=formatter,
    )
    submit.add_argument("prompt", metavar="PROMPT", help="what to ask, quoted as one argument")
    submit.add_argument(
        "--priority",
        metavar="N",
        type=int,
        help="higher is claimed first (default: the project's [[projects]] priority, else 0)",
    )
    submit.add_argument(
        "--worktree",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run it in a git worktree of its own (default: [git] worktree)",
    )
    submit.add_argument(
        "--provider",
        metavar="P",
        default=argparse.SUPPRESS,
        help="scripted, anthropic or openai (default: the worker's [provider] name)",
    )
    submit.add_argument(
        "--model",
        metavar="M",
        default=argparse.SUPPRESS,
        help="model name; with scripted, a script file (queued as its absolute path)",
    )
    submit.add_argument(
        "--approval-mode",
        choices=("untrusted", "on-request", "auto", "never"),
        default=argparse.SUPPRESS,
        help="how its tool calls are approved (default: the worker's [policy] approval_mode)",
    )
    submit.add_argument(
        "--sandbox",
        choices=SANDBOX_MODES,
        metavar="MODE",
        default=argparse.SUPPRESS,
        help="how its commands run (default: the worker's [sandbox] mode)",
    )
    _common(submit, top=False)

    queue = commands.add_parser(
        "queue",
        help="list the submitted sessions not yet run to their end (--all: every one)",
        description="The sessions `submit` queued: those a worker runs (claimed), then\n"
        "those waiting, in the order workers take them.",
    )
    queue.add_argument("--json", action="store_true", help="print one JSON line each")
    queue.add_argument("--all", action="store_true", help="the finished ones too")
    _common(queue, top=False)

    worker = commands.add_parser(
        "worker",
        help="run queued sessions from the store until stopped",
        description="Run the sessions `harness-tui submit` queued in the store.",
        epilog=WORKER_EPILOG,
        formatter_class=formatter,
    )
    worker.add_argument(
        "--max-sessions",
        metavar="N",
        type=int,
        help="sessions this worker runs at once (default: [concurrency] worker_sessions)",
    )
    _common(worker, top=False)


# Options of the headless runner that mean nothing without --exec.
_EXEC_ONLY = (
    ("--json", lambda args: args.json),
    ("--session", lambda args: args.session is not None),
    ("--max-steps", lambda args: args.max_steps is not None),
    ("--approvals", lambda args: args.approvals != "none"),
    ("--approval-timeout", lambda args: args.approval_timeout is not None),
    ("--worktree", lambda args: args.worktree is not None),
    ("--sandbox", lambda args: args.sandbox is not None),
    ("--agent", lambda args: args.agent is not None),
)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed arguments. Anything wrong with them is a UsageError: an unknown flag
    (with the known one closest to it), whatever argparse refuses, a flag that goes only
    with --exec, an empty prompt."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    _refuse_unknown_flags(parser, argv)
    args = parser.parse_args(argv)
    if args.session is not None and not args.session.strip():
        # An empty id is a mistake (an unset shell variable), never "a new session".
        raise UsageError("--session needs a session id")
    if args.exec_prompt is not None:
        if args.exec_prompt == "-" and args.approvals == "stdin":
            raise UsageError(
                "--exec - reads the prompt from stdin, where --approvals stdin reads the "
                "answers: put the prompt in a file and use --exec @FILE"
            )
        if args.approval_timeout is not None and args.approvals != "wait":
            raise UsageError("--approval-timeout goes with --approvals wait")
        if args.approval_timeout is not None and not 0 < args.approval_timeout < 1e9:
            raise UsageError(
                f"--approval-timeout {args.approval_timeout:g}: expected seconds above 0"
            )
        if args.sandbox is not None and args.session is not None:
            raise UsageError(
                "--sandbox chooses a new session's sandbox; a continued session keeps the "
                "one it started with (see its session.created)"
            )
        if args.agent is not None and args.session is not None:
            raise UsageError(
                "--agent chooses a new session's agent; a continued session keeps the one "
                "it started on"
            )
        args.exec_prompt = _prompt_text(args.exec_prompt)
        if not args.exec_prompt.strip():
            raise UsageError("--exec needs a non-empty prompt")
    elif args.command == "submit":
        if not args.prompt.strip():
            raise UsageError("submit needs a non-empty prompt")
    elif args.command == "agents":
        if args.timeout is not None and not 0 < args.timeout <= 600:
            raise UsageError(f"agents --timeout {args.timeout:g}: expected 0 < seconds <= 600")
    elif args.command == "worker":
        if args.max_sessions is not None and not 1 <= args.max_sessions <= 1000:
            raise UsageError(f"--max-sessions {args.max_sessions}: expected 1 to 1000")
    elif args.command is None:
        for flag, given in _EXEC_ONLY:
            if given(args):
                raise UsageError(f"{flag} goes with --exec")
    return args


def _refuse_unknown_flags(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Raise a UsageError for the first `--flag` that neither the top level nor the
    subcommands named in `argv` know, naming the known flag closest to it.

    Checked before argparse parses, because argparse sets an unknown flag aside and
    fails on what follows it instead. Abbreviations argparse accepts are known here
    too; whether one is ambiguous is left to argparse."""
    chosen = [parser]  # the top level, then each subcommand as argv names it
    value_next = False
    for token in argv:
        if value_next:
            value_next = False
            continue
        if token == "--":
            return
        # argparse reads a token with a space in it as a value even if it starts with --.
        if token.startswith("--") and len(token) > 2 and " " not in token:
            name, has_value, _ = token.partition("=")
            action = _option(chosen, name)
            if action is None:
                raise UsageError(_unknown_flag(chosen, name))
            value_next = not has_value and action.nargs != 0
        elif not token.startswith("-"):
            subcommand = _subcommand(chosen[-1], token)
            if subcommand is not None:
                chosen.append(subcommand)


def _option(parsers: list[argparse.ArgumentParser], name: str) -> argparse.Action | None:
    """The option `name` is, or abbreviates, in any of `parsers`."""
    for parser in parsers:
        for option, action in parser._option_string_actions.items():
            if option == name or (parser.allow_abbrev and option.startswith(name)):
                return action
    return None


def _subcommand(parser: argparse.ArgumentParser, token: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser | None = action.choices.get(token)
            return found
    return None


def _unknown_flag(parsers: list[argparse.ArgumentParser], name: str) -> str:
    known = [
        option
        for parser in parsers
        for option in parser._option_string_actions
        if option.startswith("--")
    ]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"see {parsers[-1].prog} --help"
    return f"unknown flag {name} ({hint})"


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
    if getattr(args, "sandbox", None):
        flags["sandbox.mode"] = args.sandbox
    return flags
