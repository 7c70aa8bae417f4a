"""Adopting a GC draft: its artifact written into the project, checked before it lands.

A policy rule is appended to .harness/policy.toml only if the file would still load
with it (fields, ids, the rule's own examples); a code rule only if its heading parses
and its id is new; a note is appended to the agent instructions. Writes are atomic, so
a crash leaves the old file or the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui.atomic import write_atomic
from harness_tui.config import update_toml
from harness_tui.gc.coderules import load_code_rules, parse_rule_file
from harness_tui.gc.drafts import Draft, DraftError, DraftsState
from harness_tui.policy.rules import (
    PolicyLoadError,
    load_rules,
    parse_rules,
    project_rules_path,
)

if TYPE_CHECKING:
    import tomlkit


def validate_draft_target(project: Path, path: str | Path) -> Path:
    """The absolute file `path` (relative to the project, or absolute) names, after
    following symlinks; DraftError when that is outside the project or inside .git."""
    root = Path(project).resolve()
    target = (root / Path(path).expanduser()).resolve()
    if not target.is_relative_to(root) or target == root:
        raise DraftError(f"draft target {path} is outside the project {root}")
    if target.is_relative_to(root / ".git"):
        raise DraftError(f"draft target {path} is inside .git")
    if target.is_dir():
        raise DraftError(f"draft target {path} is a directory, not a file")
    return target


def adopt_draft(
    project: Path, state: DraftsState, draft_id: str, *, by: str = "user"
) -> dict[str, Any]:
    """Write a pending draft's artifact into the project and return the data of its
    gc.draft.adopted event, for the caller to append. Nothing is written when the
    draft is not pending, its target is outside the project, or the artifact would not
    load (a policy rule whose examples fail, a code rule heading that does not parse)."""
    draft = state.pending(draft_id, "adopted")
    target = validate_draft_target(project, draft.target)
    note = f"adopted from GC draft {draft.draft_id}"
    if draft.kind == "policy_rule":
        # Only the project's own policy file is loaded; a rule anywhere else would
        # look adopted and change nothing.
        if target != project_rules_path(Path(project).resolve()):
            raise DraftError(f"draft {draft_id}: a policy rule goes in .harness/policy.toml")
        if not isinstance(draft.content, Mapping):
            raise DraftError(f"draft {draft_id}: a policy rule needs a rule table")
        apply_policy_rule_draft(target, dict(draft.content), comment=note)
    elif draft.kind == "code_rule":
        _apply_code_rule(Path(project), target, draft)
    elif draft.kind == "note":
        _append_markdown(target, str(draft.content))
    else:
        raise DraftError(f"draft {draft_id} has unknown kind {draft.kind!r}")
    return {"draft_id": draft.draft_id, "kind": draft.kind, "target": draft.target, "by": by}


def apply_policy_rule_draft(
    policy_path: Path, rule: dict[str, Any], *, comment: str | None = None
) -> None:
    """Append `rule` as a `[[rule]]` table to the policy file, keeping the user's
    comments and layout. The file as it would be is checked first (fields, a duplicate
    id, the rule's match / not_match examples), so a bad rule never reaches the disk;
    afterwards `load_rules` must accept the file, else the old text is put back."""
    import tomlkit
    from tomlkit.exceptions import ParseError
    from tomlkit.items import AoT

    policy_path = Path(policy_path)
    try:
        before = policy_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = None

    def append(document: tomlkit.TOMLDocument) -> None:
        table = tomlkit.table()
        table.update(rule)
        if comment:
            table.comment(comment)
        rules = document.get("rule")
        if rules is None:
            rules = tomlkit.aot()
            document.append("rule", rules)
        elif not tomlkit.dumps(document).endswith("\n\n"):
            # A blank line before the new table, as between the user's own rules.
            table.trivia.indent = "\n"
        if not isinstance(rules, AoT):
            raise DraftError(f"{policy_path}: `rule` is not an array of tables ([[rule]])")
        rules.append(table)

    try:
        preview = tomlkit.parse(before or "")
    except ParseError as exc:
        raise DraftError(f"{policy_path}: invalid TOML: {exc}") from None
    append(preview)
    try:
        parse_rules(tomlkit.dumps(preview), str(policy_path))
    except PolicyLoadError as exc:
        raise DraftError(str(exc)) from None
    update_toml(policy_path, append)
    try:
        load_rules([policy_path])
    except PolicyLoadError as exc:
        # Someone changed the file between the check and the write: restore it.
        if before is None:
            policy_path.unlink(missing_ok=True)
        else:
            write_atomic(policy_path, before)
        raise DraftError(str(exc)) from None


def _apply_code_rule(project: Path, target: Path, draft: Draft) -> None:
    if target.suffix != ".md" or target.parent.name != "rules":
        raise DraftError(f"draft {draft.draft_id}: a code rule goes in .harness/rules/*.md")
    text = str(draft.content)
    rules, errors = parse_rule_file(text, draft.target)
    if errors:
        raise DraftError(f"draft {draft.draft_id}: {errors[0]}")
    if not rules:
        raise DraftError(f"draft {draft.draft_id}: no `## ID: Title (severity)` section")
    existing, _ = load_code_rules(project)
    for rule in rules:
        if rule.id in existing:
            first = existing[rule.id]
            raise DraftError(
                f"draft {draft.draft_id}: rule {rule.id} is already defined at "
                f"{first.file}:{first.line}"
            )
    _append_markdown(target, text)


def _append_markdown(target: Path, text: str) -> None:
    try:
        before = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        before = ""
    # A blank line between what was there and what is added keeps both readable.
    if not before or before.endswith("\n\n"):
        separator = ""
    elif before.endswith("\n"):
        separator = "\n"
    else:
        separator = "\n\n"
    write_atomic(target, before + separator + text.strip("\n") + "\n")
