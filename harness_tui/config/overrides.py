"""Settings named one at a time rather than in a file: by a dotted key (a flag,
`set_config_value`) or an environment variable, with values often given as text."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any, NamedTuple, get_args, get_origin

from harness_tui.config.fields import KeyPath, Setting, is_section, is_table, settings
from harness_tui.config.schema import Config
from harness_tui.config.validate import (
    Invalid,
    Leaves,
    convert,
    entry_named,
    noun,
    put,
    show,
    unknown,
)


class Target(NamedTuple):
    path: KeyPath
    setting: Setting
    entry: bool
    """True when `path` names one entry of a dict field rather than the field."""

    @property
    def type(self) -> Any:
        return get_args(self.setting.type)[1] if self.entry else self.setting.type

    def put(self, value: Any, out: Leaves) -> None:
        if self.entry:
            out[self.path] = convert(self.type, value, self.setting.meta, self.path)
        else:
            put(self.setting, value, self.path, out)

    def converted(self, value: Any) -> Any:
        """A flag's value (or one given to `set_config_value`) in this setting's type;
        text is read as an environment value would be, and checked later like any."""
        value = from_flag(value)
        if isinstance(value, str) and self.type is not str:
            value = from_text(self.type, value, self.setting.meta, self.path)
        return value


def resolve(parts: list[str], join: str) -> Target:
    """The setting named by `parts`; what follows a dict field's name is one entry key."""
    cls: type = Config
    path: KeyPath = ()
    for i, part in enumerate(parts):
        known = settings(cls)
        setting_ = known.get(part)
        if setting_ is None:
            raise unknown(known, (*path, part), is_table=not path)
        path = (*path, part)
        rest = parts[i + 1 :]
        if not rest:
            return Target(path, setting_, entry=False)
        if is_section(setting_.type):
            cls = setting_.type
        elif is_table(setting_.type):
            entry = (*path, join.join(rest))
            entry_named(setting_.meta, entry)
            return Target(entry, setting_, entry=True)
        else:
            raise Invalid((*path, *rest), f"unknown key {'.'.join(parts)}", names_key=True)
    raise Invalid((), "empty key", names_key=True)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def from_text(tp: Any, text: str, meta: Mapping[str, Any], path: KeyPath) -> Any:
    """A value given as text (an environment variable or a string flag), converted to
    `tp`; `convert` checks it afterwards like any other value."""
    stripped = text.strip()
    if tp is str:
        return text
    if tp is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise Invalid(path, f"expected true or false (or yes/no, 1/0), got {show(text)}")
    if tp is int:
        if re.fullmatch(r"[+-]?\d+", stripped):
            return int(stripped)
        raise Invalid(path, f"expected an integer, got {show(text)}")
    if tp is float:
        try:
            return float(stripped)
        except ValueError:
            raise Invalid(path, f"expected a number, got {show(text)}") from None
    if get_origin(tp) is list and not stripped.startswith("["):
        # "a, b, c" is easier to type in a shell than a TOML array.
        (item,) = get_args(tp)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return [from_text(item, part, meta, (*path, i)) for i, part in enumerate(parts)]
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        raise Invalid(path, f"expected {noun(tp)} in TOML syntax, got {show(text)}") from None


def from_flag(value: Any) -> Any:
    """argparse's types made TOML's: a path is text, a tuple a list."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    return value
