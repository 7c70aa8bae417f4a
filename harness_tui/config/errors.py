"""What is wrong with a configuration: each problem on its own, and the error that
carries all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigError", "ConfigProblem"]


@dataclass(frozen=True)
class ConfigProblem:
    """One problem, with where it is. `str()` gives the one line the user sees, e.g.
    `/p/.harness/config.toml:3: engine.max_steps: expected an integer ≥ 1, got 0`."""

    message: str
    """What is wrong, naming the key unless `source` already does (a variable or flag
    names its key): `engine.max_steps: expected an integer ≥ 1, got 0` or
    `unknown key engine.max_stepz (did you mean engine.max_steps?)`."""
    source: str = ""
    """Where the value came from, as the user names it: a file's path, `environment
    HARNESS_ENGINE__MAX_STEPS`, `flag engine.max_steps`; empty when the problem is not
    about one layer (a missing project directory)."""
    file: Path | None = None
    """The file the problem is in, when it is in one."""
    line: int | None = None
    """The line of `file` where the key (or its nearest enclosing table) is written."""
    key: str = ""
    """The dotted key the problem is about (`projects[1].weight`); empty when the
    problem is about no key (a TOML syntax error, an unreadable file)."""

    def __str__(self) -> str:
        if not self.source:
            return self.message
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.message}"


class ConfigError(Exception):
    """Bad configuration, with every problem found. The message is one line per problem,
    each naming the file (and line where it is known) or the variable or flag, the key,
    and what was expected; with one problem it is exactly that problem's line."""

    def __init__(self, problems: ConfigProblem | Sequence[ConfigProblem]) -> None:
        self.problems = [problems] if isinstance(problems, ConfigProblem) else list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))
