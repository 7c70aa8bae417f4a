"""Process exit codes of the command line, documented in --help and the README."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # the agent or the provider failed
    USAGE = 2  # bad usage or configuration
    APPROVAL_NEEDED = 3  # an approval was needed and nobody could give it
    BUDGET = 4  # a budget or max steps was reached
    INTERRUPTED = 130  # Ctrl-C, SIGTERM, or stdout/stderr closed by their reader
