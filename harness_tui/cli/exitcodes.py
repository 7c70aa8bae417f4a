"""Process exit codes of the command line, documented in --help and the README."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # the agent or the provider failed
    USAGE = 2  # bad usage or configuration
    APPROVAL_NEEDED = 3  # an approval was needed and nobody could give it
    BUDGET = 4  # a budget or max steps was reached
    PENDING = 5  # a command was not applied in time: it stays queued in the store
    INTERRUPTED = 130  # Ctrl-C, SIGTERM, or stdout/stderr closed by their reader


class PolicyCheckExit(IntEnum):
    """`policy check` answers with its exit code too, so a script can branch on the
    decision without reading the output; 2 stays a usage or config error."""

    ALLOW = 0
    PROMPT = 1
    FORBID = 3
