"""Rule files: where they live, how their layers merge, and the check of every rule's
examples.

Rules live in TOML files (`[[rule]]` tables); the language is documented at the top of
the built-in config/policy.toml and matched in `policy/matching.py`. Layers, later wins
by rule id: the built-ins < the user's file < the project's `.harness/policy.toml`.
Every rule's `match` / `not_match` examples are checked when the file loads, so a rule
that does not do what its examples say never gets used.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path

from harness_tui import __version__
from harness_tui import paths as app_paths
from harness_tui.policy.matching import (
    DECISIONS,
    DEFAULT_RISK,
    RISKS,
    RULE_NOTES,
    Rule,
    RuleSet,
)
from harness_tui.policy.path_classes import PATH_CLASSES

POLICY_FILE_NAME = "policy.toml"

_RULE_KEYS = frozenset(
    """id decision reason risk pattern any none paths writes reads input_from notes match
    not_match enabled approved sandbox""".split()
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# The modules whose code judges the examples: a change to any of them must check the
# examples again.
_POLICY_CODE = ("shell.py", "path_classes.py", "matching.py", "rules.py", "evaluate.py")


class PolicyLoadError(Exception):
    """A rule file that cannot be used. The message names the file, and the rule and
    example when there is one."""

    def __init__(self, source: str, message: str, rule_id: str | None = None) -> None:
        self.source = source
        self.rule_id = rule_id
        where = f"{source}: rule {rule_id!r}" if rule_id else source
        super().__init__(f"{where}: {message}")


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
    here = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for name in _POLICY_CODE:
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
    sandbox = entry.get("sandbox")
    if sandbox is not None and not isinstance(sandbox, bool):
        raise fail("sandbox must be true (only inside a sandbox) or false (only without one)")
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
        reads=classes("reads"),
        input_from=strings("input_from"),
        notes=frozenset(notes),
        match=strings("match"),
        approved=approved,
        not_match=strings("not_match"),
        source=source,
        sandbox=sandbox,
    )
    if not (rule.pattern or rule.writes or rule.reads or rule.notes or rule.input_from):
        raise fail(
            "needs a pattern, writes, reads, notes or input_from: it would match every command"
        )
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
