"""Writing config (and other TOML) files with the user's comments, key order and quoting
kept. `tomlkit` is imported only here and only when writing, so reading stays fast."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui.atomic import write_atomic
from harness_tui.config.errors import ConfigError, ConfigProblem
from harness_tui.config.fields import dotted, is_section, plain
from harness_tui.config.overrides import resolve
from harness_tui.config.validate import Invalid, convert

if TYPE_CHECKING:
    import tomlkit


def update_toml(path: Path, mutate: Callable[[tomlkit.TOMLDocument], None]) -> None:
    """Read `path` with tomlkit (an empty document if it does not exist), let `mutate`
    edit it, and write it back atomically: a crash leaves the old file or the new one,
    never half of one. Comments, key order and quoting survive."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(
            ConfigProblem(f"cannot read: {reason}", source=str(path), file=path)
        ) from None
    try:
        document = tomlkit.parse(text)
    except ParseError as exc:
        reason = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise ConfigError(
            ConfigProblem(f"invalid TOML: {reason}", source=str(path), file=path, line=exc.line)
        ) from None
    mutate(document)
    write_atomic(path, tomlkit.dumps(document))


def set_config_value(path: Path, key: str, value: Any) -> None:
    """Set dotted `key` in the config file at `path`, validated against the schema first
    (a string is converted as an environment value would be), keeping everything else."""
    path = Path(path)
    try:
        target = resolve(key.split("."), join=".")
        value = target.converted(value)
        if is_section(target.type) and not target.entry:
            target.put(value, {})  # checks every key of the table
            stored = value
        else:
            stored = plain(convert(target.type, value, target.setting.meta, target.path))
    except Invalid as exc:
        raise ConfigError(exc.problems(str(path), file=path)) from None

    def mutate(document: tomlkit.TOMLDocument) -> None:
        import tomlkit

        table: Any = document
        for depth, part in enumerate(target.path[:-1]):
            if part not in table:
                # Intermediate sections ([gc] above [gc.signals]) need no header of their own.
                last_parent = depth == len(target.path) - 2
                table[part] = tomlkit.table(is_super_table=not last_parent)
            table = table[part]
            if not isinstance(table, dict):
                where = dotted(target.path[: depth + 1])
                raise ConfigError(
                    ConfigProblem(
                        f"{where}: expected a table, found a value",
                        source=str(path),
                        file=path,
                        key=where,
                    )
                )
        table[target.path[-1]] = stored

    update_toml(path, mutate)
