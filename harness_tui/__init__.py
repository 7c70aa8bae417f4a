"""harness-tui: a terminal dashboard for supervising AI coding-agent sessions."""

__version__ = "0.1.0"
