"""The command line's one error boundary: every domain error a subcommand lets through
becomes one line on stderr (`harness-tui: …`) and the exit code documented in --help.

Subcommands do not catch these errors themselves; they raise, and `guarded` reports.
An exception not listed here is a bug: it keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from harness_tui.cli.exitcodes import ExitCode


class UsageError(Exception):
    """A command line that asks for something impossible; the message says what."""


def exit_code_for(exc: BaseException) -> int | None:
    """The documented exit code for a domain error, or None for anything else.

    The error classes are imported here, when something failed, so that a run that
    succeeds pays only for the modules its subcommand uses."""
    from harness_tui.config import ConfigError
    from harness_tui.engine.engine import CommandRejected, EngineError
    from harness_tui.engine.worktree_sessions import WorktreeRefused
    from harness_tui.engine.worktrees import GitError
    from harness_tui.gc.drafts import DraftError
    from harness_tui.policy.rules import PolicyLoadError
    from harness_tui.providers.select import ProviderConfigError
    from harness_tui.store import StoreConfigError, StoreError

    # The engine that runs the session could not apply the command sent to it.
    if isinstance(exc, CommandRejected):
        return ExitCode.FAILURE
    # What the person asked for, or configured, cannot be done as given.
    if isinstance(
        exc,
        UsageError
        | ConfigError
        | StoreConfigError
        | PolicyLoadError
        | ProviderConfigError
        | EngineError
        | WorktreeRefused,
    ):
        return ExitCode.USAGE
    # It was a fair request, and the store, git, a draft or the filesystem failed it.
    if isinstance(exc, StoreError | GitError | DraftError | OSError):
        return ExitCode.FAILURE
    return None


def guarded(run: Callable[[], int]) -> int:
    """Run a subcommand; a domain error, Ctrl-C or a closed pipe becomes an exit code."""
    try:
        return run()
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception as exc:
        code = exit_code_for(exc)
        if code is None:
            raise
        # A config error carries every problem found; each gets its own line.
        for line in str(exc).splitlines() or [""]:
            print(f"harness-tui: {line}", file=sys.stderr)
        return code
