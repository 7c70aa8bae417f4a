"""Command rules: token-prefix patterns that allow, prompt for or forbid a command.

Rules live in TOML files (`[[rule]]` tables); the language is documented at the top of
the built-in config/policy.toml. Layers, later wins by rule id: the built-ins < the
user's file < the project's `.harness/policy.toml`. Every rule's `match` / `not_match`
examples are checked when the file loads, so a rule that does not do what its examples
say never gets used.

Pure apart from reading the rule files: paths are classified lexically against the
workspace and home they are given, never by looking at the filesystem.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cached_property
from pathlib import Path

from harness_tui import __version__
from harness_tui import paths as app_paths
from harness_tui.policy.shell import Segment, Word, analyze

DECISIONS = ("allow", "prompt", "forbid")
STRICTNESS = {"allow": 0, "prompt": 1, "forbid": 2}
RISKS = ("low", "medium", "high", "critical")
RISK_ORDER = {risk: i for i, risk in enumerate(RISKS)}
DEFAULT_RISK = {"allow": "low", "prompt": "medium", "forbid": "high"}

PATH_CLASSES = frozenset(
    """root home system sensitive outside unknown workspace workspace-root
    workspace-git""".split()
)
# Notes a rule may match on; the other note kinds are judged by the evaluator itself.
RULE_NOTES = frozenset({"fork-bomb", "recursive-function"})

# Rule examples are judged as if run here.
EXAMPLE_WORKSPACE = "/home/user/project"
EXAMPLE_HOME = "/home/user"

POLICY_FILE_NAME = "policy.toml"

_RULE_KEYS = frozenset(
    """id decision reason risk pattern any none paths writes input_from notes match
    not_match enabled approved""".split()
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_GLOB_CHARS = frozenset("*?[")
_SHORT_FLAG = re.compile(r"-[A-Za-z]")
_SHORT_CLUSTER = re.compile(r"-[A-Za-z]+")
# $HOME, ${HOME}, ${HOME:?} (fails rather than expanding to nothing), and $PWD alike.
_HOME_OR_PWD = re.compile(r"\$(HOME|PWD|\{(HOME|PWD)(:?\?[^}]*)?\})(?=/|$)")

# Directory trees that belong to the operating system: anything at or under them.
_SYSTEM_TREES = tuple(
    """/bin /boot /dev /etc /lib /lib32 /lib64 /libx32 /opt /proc /root /run /sbin /snap
    /srv /sys /usr /var /System /Library /Applications /private /nix""".split()
)
# Scratch space inside those trees.
_SYSTEM_SCRATCH = ("/var/tmp", "/var/folders", "/private/tmp", "/private/var/folders")
# Directories that must not go themselves, though what is inside them is fair game.
_SYSTEM_EXACT = frozenset({"/home", "/Users", "/tmp", "/mnt", "/media", "/Volumes", "/var/tmp"})
# Credentials and files that run code at login, relative to the home directory.
_SENSITIVE_IN_HOME = tuple(
    """.ssh .aws .gnupg .kube .docker .azure .config/gcloud .config/gh .config/harness-tui
    .password-store .netrc .pypirc .npmrc .git-credentials .gitconfig .bashrc .bash_profile
    .bash_login .bash_logout .profile .zshrc .zshenv .zprofile .zlogin .zlogout
    .config/fish .inputrc""".split()
)


class PolicyLoadError(Exception):
    """A rule file that cannot be used. The message names the file, and the rule and
    example when there is one."""

    def __init__(self, source: str, message: str, rule_id: str | None = None) -> None:
        self.source = source
        self.rule_id = rule_id
        where = f"{source}: rule {rule_id!r}" if rule_id else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class PathContext:
    """Where the command runs: paths are judged inside or outside `workspace`, `~` is
    `home`. Purely lexical: no symlinks are followed, nothing is read from disk."""

    workspace: str
    home: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "workspace", _normalise(self.workspace))
        object.__setattr__(self, "home", _normalise(self.home))

    def resolve(self, word: str, cwd: str | None = ".") -> str | None:
        """The absolute path `word` names when run in `cwd` (relative to the workspace),
        or None when it depends on something only known at run time."""
        text = str(word)
        if getattr(word, "dynamic", False):
            m = _HOME_OR_PWD.match(text)
            rest = text[m.end() :] if m else ""
            if not m or "$" in rest or "`" in rest:
                return None
            if "HOME" in m.group():
                text = self.home + rest
            else:
                base = self._cwd(cwd)
                if base is None:
                    return None
                text = base + rest
        if text == "~" or text.startswith("~/"):
            text = self.home + text[1:]
        elif text.startswith("~"):
            return None  # another user's home
        if not text.startswith("/"):
            base = self._cwd(cwd)
            if base is None:
                return None
            text = f"{base}/{text}"
        return _normalise(text)

    def _cwd(self, cwd: str | None) -> str | None:
        if cwd is None:
            return None
        if cwd == ".":
            return self.workspace
        return self.resolve(cwd, ".")

    def classify(self, word: str, cwds: Iterable[str | None] = (".",)) -> frozenset[str]:
        """The path classes `word` may fall in, over every directory it may run in."""
        classes: set[str] = set()
        for cwd in cwds:
            path = self.resolve(word, cwd)
            classes |= {"unknown"} if path is None else self._classes(path)
        return frozenset(classes)

    def _classes(self, path: str) -> set[str]:
        parts = path.split("/")
        for i, part in enumerate(parts):
            if _GLOB_CHARS & set(part):
                return self._glob_classes(parts, i)
        return self._plain_classes(path, covers=False)

    def _glob_classes(self, parts: list[str], i: int) -> set[str]:
        """A glob stands for everything it may match. `*` alone covers its directory;
        any other pattern is tried against the special places that directory holds
        (so /e* may be /etc) and against an ordinary name."""
        parent = "/".join(parts[:i]) or "/"
        pattern, rest = parts[i], parts[i + 1 :]
        if pattern in ("*", ".*", "**") and not rest:
            return self._plain_classes(parent, covers=True)
        prefix = parent.rstrip("/") + "/"
        names = {"{any}"}
        for landmark in self._landmarks:
            if landmark.startswith(prefix):
                names.add(landmark[len(prefix) :].split("/")[0])
        classes: set[str] = set()
        for name in names:
            if name == "{any}" or fnmatchcase(name, pattern):
                classes |= self._classes(posixpath.join(parent, name, *rest))
        return classes

    @cached_property
    def _landmarks(self) -> tuple[str, ...]:
        return (
            *_SYSTEM_TREES,
            *_SYSTEM_EXACT,
            self.home,
            *(f"{self.home}/{name}" for name in _SENSITIVE_IN_HOME),
            self.workspace,
            f"{self.workspace}/.git",
            f"{self.workspace}/.harness",
        )

    def _plain_classes(self, path: str, covers: bool) -> set[str]:
        """Classes of one path; `covers` when it stands for everything inside it."""
        ws, home = self.workspace, self.home
        classes = set()
        if path == "/":
            classes.add("root")
        if path == home or (home.startswith(path.rstrip("/") + "/") and path != "/"):
            classes.add("home")  # the home directory, or a directory holding it
        if _under(path, ws):
            classes.add("workspace")
            if path == ws:
                classes.add("workspace-root")
            if _under(path, ws + "/.git"):
                classes.add("workspace-git")
            if _under(path, ws + "/.harness"):
                classes.add("sensitive")
        else:
            classes.add("outside")
            in_tree = any(_under(path, tree) for tree in _SYSTEM_TREES)
            scratch = any(_under(path, tree) for tree in _SYSTEM_SCRATCH)
            exact = path in _SYSTEM_EXACT and not covers
            if not _under(path, home) and ((in_tree and not scratch) or exact):
                classes.add("system")
        if any(_under(path, f"{home}/{name}") for name in _SENSITIVE_IN_HOME):
            classes.add("sensitive")
        return classes


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
    input_from: tuple[str, ...] = ()
    notes: frozenset[str] = frozenset()
    match: tuple[str, ...] = ()
    not_match: tuple[str, ...] = ()
    source: str = ""
    enabled: bool = True
    # Written by "allow always" on an approval: a person allowed exactly this command,
    # so this allow beats prompt rules for it (never a forbid).
    approved: bool = False

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
        if self.none and any(flag_matches(f, token) for f in self.none for token in rest):
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
        return [rule for rule in self.rules if rule.matches(segment, where)]


def token_matches(pattern: str, token: str) -> bool:
    """A pattern token matches exactly, or as a glob when it holds * ? or [."""
    if _GLOB_CHARS & set(pattern):
        return fnmatchcase(token, pattern)
    return token == pattern


def flag_matches(pattern: str, token: str) -> bool:
    """Like `token_matches`, but "-f" also finds f in a cluster of short flags ("-fdx")
    and "--force" also matches "--force=value"."""
    if _SHORT_FLAG.fullmatch(pattern):
        return token == pattern or bool(_SHORT_CLUSTER.fullmatch(token) and pattern[1] in token)
    if pattern.startswith("--"):
        return token == pattern or token.startswith(pattern + "=")
    return token_matches(pattern, token)


def builtin_rules_path() -> Path:
    return app_paths.packaged_dir("config") / POLICY_FILE_NAME


def user_rules_path() -> Path:
    return app_paths.user_config_dir() / POLICY_FILE_NAME


def project_rules_path(project: Path) -> Path:
    return app_paths.harness_dir(project) / POLICY_FILE_NAME


def default_rule_paths(project: Path) -> list[Path]:
    """The rule layers in load order: built-ins, the user's, the project's."""
    return [builtin_rules_path(), user_rules_path(), project_rules_path(project)]


def load_builtin_rules() -> RuleSet:
    path = builtin_rules_path()
    if not path.is_file():
        raise PolicyLoadError(str(path), "the built-in policy file is missing")
    return load_rules([path])


def load_rules(paths: Iterable[str | Path], *, recheck: bool = False) -> RuleSet:
    """Load rule files in order; a later rule replaces an earlier one with the same id,
    and `enabled = false` drops it. Files that do not exist are skipped, since the user
    and project layers are optional.

    Every rule's examples are checked the first time a file's exact content loads;
    that content is then remembered as checked (with this version of the policy code),
    so later starts skip the work. `recheck` checks them regardless."""
    merged: dict[str, Rule] = {}
    sources: list[str] = []
    for path in map(Path, paths):
        if not path.exists():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyLoadError(str(path), f"cannot be read: {exc}") from exc
        stamp = _checked_stamp(text)
        checked_before = not recheck and stamp.exists()
        rules = parse_rules(text, str(path), check_examples=not checked_before)
        if not checked_before:
            _remember_checked(stamp)
        for rule in rules:
            if rule.enabled:
                merged[rule.id] = rule
            else:
                merged.pop(rule.id, None)
        sources.append(str(path))
    return RuleSet(tuple(merged.values()), tuple(sources))


def _policy_code_digest() -> str:
    # Examples are judged by this code: a change to it must check them again.
    here = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for name in ("shell.py", "rules.py", "evaluate.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _checked_stamp(text: str) -> Path:
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        _CODE_DIGEST = _policy_code_digest()
    key = hashlib.sha256((_CODE_DIGEST + text).encode()).hexdigest()[:32]
    return app_paths.user_cache_dir() / "policy-checked" / key


def _remember_checked(stamp: Path) -> None:
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:
        pass  # no cache, no harm: the examples are checked again next time


_CODE_DIGEST: str | None = None


def parse_rules(text: str, source: str, *, check_examples: bool = True) -> list[Rule]:
    """Parse and check one rule file's text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyLoadError(source, f"not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise PolicyLoadError(source, f"unknown top-level key {unknown[0]!r} (expected [[rule]])")
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise PolicyLoadError(source, "`rule` must be an array of tables: [[rule]]")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, 1):
        rule = _parse_rule(entry, source, index)
        if rule.id in seen:
            raise PolicyLoadError(source, "defined twice in this file", rule.id)
        seen.add(rule.id)
        if rule.enabled and check_examples:
            _check_examples(rule)
        rules.append(rule)
    return rules


def _parse_rule(entry: object, source: str, index: int) -> Rule:
    if not isinstance(entry, dict):
        raise PolicyLoadError(source, f"rule #{index} is not a table")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
        raise PolicyLoadError(
            source, f"rule #{index} needs an id of letters, digits, '-', '_' or '.'"
        )

    def fail(message: str) -> PolicyLoadError:
        return PolicyLoadError(source, message, rule_id)

    unknown = sorted(set(entry) - _RULE_KEYS)
    if unknown:
        raise fail(f"unknown field {unknown[0]!r}")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise fail("enabled must be true or false")
    if not enabled:
        return Rule(rule_id, "allow", "", "low", source=source, enabled=False)

    decision = entry.get("decision")
    if decision not in DECISIONS:
        raise fail(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise fail("reason must be a non-empty string")
    risk = entry.get("risk", DEFAULT_RISK[decision])
    if risk not in RISKS:
        raise fail(f"risk must be one of {', '.join(RISKS)}, not {risk!r}")

    raw_pattern = entry.get("pattern", [])
    if not isinstance(raw_pattern, list):
        raise fail("pattern must be a list of tokens")
    pattern: list[tuple[str, ...]] = []
    for position, item in enumerate(raw_pattern, 1):
        alternatives = [item] if isinstance(item, str) else item
        if (
            not isinstance(alternatives, list)
            or not alternatives
            or not all(isinstance(a, str) and a for a in alternatives)
        ):
            raise fail(f"pattern token {position} must be a string or a list of strings")
        pattern.append(tuple(alternatives))

    def strings(key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise fail(f"{key} must be a list of non-empty strings")
        return tuple(value)

    def classes(key: str) -> frozenset[str]:
        values = strings(key)
        bad = [v for v in values if v not in PATH_CLASSES]
        if bad:
            known = ", ".join(sorted(PATH_CLASSES))
            raise fail(f"{key}: unknown path class {bad[0]!r} (known: {known})")
        return frozenset(values)

    approved = entry.get("approved", False)
    if not isinstance(approved, bool):
        raise fail("approved must be true or false")
    if approved and decision != "allow":
        raise fail('approved goes only with decision = "allow"')
    notes = strings("notes")
    bad_notes = [n for n in notes if n not in RULE_NOTES]
    if bad_notes:
        raise fail(f"notes: unknown note {bad_notes[0]!r} (known: {', '.join(sorted(RULE_NOTES))})")
    rule = Rule(
        id=rule_id,
        decision=decision,
        reason=reason.strip(),
        risk=risk,
        pattern=tuple(pattern),
        any=strings("any"),
        none=strings("none"),
        paths=classes("paths"),
        writes=classes("writes"),
        input_from=strings("input_from"),
        notes=frozenset(notes),
        match=strings("match"),
        approved=approved,
        not_match=strings("not_match"),
        source=source,
    )
    if not (rule.pattern or rule.writes or rule.notes or rule.input_from):
        raise fail("needs a pattern, writes, notes or input_from: it would match every command")
    if not rule.match:
        raise fail("needs at least one match example")
    return rule


def _check_examples(rule: Rule) -> None:
    for example in rule.match:
        if not rule.hits(example):
            raise PolicyLoadError(
                rule.source, f"match example {example!r} does not match the rule", rule.id
            )
    for example in rule.not_match:
        if rule.hits(example):
            raise PolicyLoadError(
                rule.source, f"not_match example {example!r} matches the rule", rule.id
            )


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


def _normalise(path: str) -> str:
    path = posixpath.normpath(path)
    # POSIX keeps a leading // as implementation-defined; for judging it is just /.
    return "/" + path.lstrip("/") if path.startswith("/") else path


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


EXAMPLE_PATHS = PathContext(EXAMPLE_WORKSPACE, EXAMPLE_HOME)
