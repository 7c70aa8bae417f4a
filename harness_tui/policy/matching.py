"""What a command rule says, and how it matches one segment of a command.

A rule is a token-prefix pattern plus optional conditions on flags, notes, input
sources, the classes of the paths it touches, and whether a sandbox confines the
command; the language is documented at the top of the built-in config/policy.toml.
Rule files are read in `policy/rules.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from harness_tui.policy.path_classes import GLOB_CHARS, PathContext
from harness_tui.policy.shell import Segment, Word, analyze

DECISIONS = ("allow", "prompt", "forbid")
STRICTNESS = {"allow": 0, "prompt": 1, "forbid": 2}
RISKS = ("low", "medium", "high", "critical")
RISK_ORDER = {risk: i for i, risk in enumerate(RISKS)}
DEFAULT_RISK = {"allow": "low", "prompt": "medium", "forbid": "high"}

# Notes a rule may match on; the other note kinds are judged by the evaluator itself.
RULE_NOTES = frozenset(
    {
        "fork-bomb",
        "recursive-function",
        "inline-code",
        "git-config",
        "option-command",
        "function-export",
        "preload",
        "path-change",
    }
)

# Rule examples are judged as if run here.
EXAMPLE_WORKSPACE = "/home/user/project"
EXAMPLE_HOME = "/home/user"
EXAMPLE_PATHS = PathContext(EXAMPLE_WORKSPACE, EXAMPLE_HOME)

_SHORT_FLAG = re.compile(r"-[A-Za-z]")
_SHORT_CLUSTER = re.compile(r"-[A-Za-z]+")


@dataclass(frozen=True)
class Rule:
    id: str
    decision: str
    reason: str
    risk: str
    # One tuple of alternatives per leading token.
    pattern: tuple[tuple[str, ...], ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    paths: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    reads: frozenset[str] = frozenset()
    input_from: tuple[str, ...] = ()
    notes: frozenset[str] = frozenset()
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()
    source: str = ""
    enabled: bool = True
    # Written by "allow always" on an approval: a person allowed exactly this command,
    # so this allow beats prompt rules for it (never a forbid).
    approved: bool = False
    # True: the rule holds only when a sandbox confines the command; False: only when
    # none does; None: either way.
    sandbox: bool | None = None

    def applies(self, sandboxed: bool) -> bool:
        return self.sandbox is None or self.sandbox == sandboxed

    def matches(self, segment: Segment, where: PathContext) -> bool:
        argv = segment.argv
        if len(argv) < len(self.pattern):
            return False
        for alternatives, token in zip(self.pattern, argv, strict=False):
            if not any(token_matches(alt, token) for alt in alternatives):
                return False
        rest = argv[len(self.pattern) :]
        if self.any and not any(flag_matches(f, token) for f in self.any for token in rest):
            return False
        if self.none and _any_flag(self.none, rest):
            return False
        if self.notes and not any(note.kind in self.notes for note in segment.notes):
            return False
        if self.input_from and not any(
            token_matches(p, name) for p in self.input_from for name in segment.input_from
        ):
            return False
        if self.paths and not any(
            where.classify(word, segment.cwds) & self.paths for word in _path_operands(rest)
        ):
            return False
        if self.writes and not any(
            where.classify(word, segment.cwds) & self.writes for word in segment.writes
        ):
            return False
        if self.reads and not any(
            where.classify(word, segment.cwds) & self.reads for word in segment.reads
        ):
            return False
        return True

    def hits(self, command: str, where: PathContext | None = None) -> bool:
        """Does this rule match any segment of `command`?"""
        where = where or EXAMPLE_PATHS
        return any(self.matches(seg, where) for seg in analyze(command).segments)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    sources: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def matching(self, segment: Segment, where: PathContext) -> list[Rule]:
        """Every rule the segment matches, whether or not it holds with a sandbox."""
        return [rule for rule in self.rules if rule.matches(segment, where)]


def token_matches(pattern: str, token: str) -> bool:
    """A pattern token matches exactly, or as a glob when it holds * ? or [."""
    if GLOB_CHARS & set(pattern):
        return fnmatchcase(token, pattern)
    return token == pattern


def flag_matches(pattern: str, token: str) -> bool:
    """Like `token_matches`, but "-f" also finds f in a cluster of short flags ("-fdx"),
    and "--force" also matches "--force=value" and any abbreviation ("--forc", "--fo"):
    git and getopt_long take a long option by any prefix that names only it, so an
    abbreviation that is ambiguous is refused by the tool and matching it costs nothing."""
    if _SHORT_FLAG.fullmatch(pattern):
        return token == pattern or bool(_SHORT_CLUSTER.fullmatch(token) and pattern[1] in token)
    if pattern.startswith("--") and "=" not in pattern and not GLOB_CHARS & set(pattern):
        name = token.split("=", 1)[0]
        return name == pattern or (
            len(name) > 2 and name.startswith("--") and pattern.startswith(name)
        )
    return token_matches(pattern, token)


def _any_flag(flags: tuple[str, ...], tokens: tuple[Word, ...]) -> bool:
    """Does any token match one of `flags`, not undone by a later `--no-<flag>`? (`git
    clean -n --no-dry-run -f` deletes.)"""
    found = False
    for token in tokens:
        if token.startswith("--no-") and any(
            f.startswith("--") and flag_matches(f, "--" + token[5:]) for f in flags
        ):
            found = False
        elif any(flag_matches(f, token) for f in flags):
            found = True
    return found


def _path_operands(tokens: Iterable[Word]) -> list[Word]:
    """The arguments that may be paths: everything but options (all of it after --)."""
    out: list[Word] = []
    options_done = False
    for token in tokens:
        if options_done or not token.startswith("-") or token == "-":
            out.append(token)
        elif token == "--":
            options_done = True
    return out
