"""Checking values against the schema and building the dataclasses from them.

A problem is found at a key path (`Invalid`) before anyone knows which file, variable
or flag the value came from; the loader adds that. Checking does not stop at the first
problem: every key of a table, item of a list and entry of a dict is checked, and all
their problems are raised together, so one run shows everything wrong with a file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, TypeVar, get_args, get_origin

from harness_tui.config.errors import ConfigError, ConfigProblem
from harness_tui.config.fields import (
    KeyPath,
    Setting,
    default_of,
    dotted,
    has_default,
    is_section,
    is_table,
    settings,
)
from harness_tui.config.toml_text import line_of, toml_repr

_T = TypeVar("_T")

Leaves = dict[KeyPath, Any]
"""One layer's values by key path, at the granularity layers merge at: a section's
fields one by one, a dict field's entries one by one, any other value whole."""


class Issue(NamedTuple):
    path: KeyPath
    message: str
    names_key: bool
    """The message already names the key (`unknown key engine.max_stepz`)."""

    def render(self, *, implied: KeyPath | None = None) -> str:
        """The message with its key in front, unless the message names it already or
        the source does (`implied`: the key a variable or flag names)."""
        if self.names_key or not self.path or self.path == implied:
            return self.message
        return f"{dotted(self.path)}: {self.message}"


class Invalid(Exception):
    """Problems at key paths, not yet tied to a file, variable or flag."""

    def __init__(self, path: KeyPath, message: str, *, names_key: bool = False) -> None:
        super().__init__(message)
        self.issues = [Issue(path, message, names_key)]

    @classmethod
    def gathered(cls, issues: Sequence[Issue]) -> Invalid:
        first = issues[0]
        error = cls(first.path, first.message, names_key=first.names_key)
        error.issues = list(issues)
        return error

    def problems(
        self,
        source: str,
        *,
        file: Path | None = None,
        text: str | None = None,
        implied: KeyPath | None = None,
    ) -> list[ConfigProblem]:
        """Each issue as a problem of `source`; given the file's `text`, each names its
        line, and they come in the order of their lines."""
        found = [
            ConfigProblem(
                issue.render(implied=implied),
                source=source,
                file=file,
                line=line_of(text, issue.path) if text is not None else None,
                key=dotted(issue.path),
            )
            for issue in self.issues
        ]
        return sorted(found, key=lambda problem: problem.line or 0)


class Gather:
    """Keeps checking past a bad value: wrap each check in `with gather:`, then
    `gather.done()` raises every problem found together."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if isinstance(error, Invalid):
            self.issues.extend(error.issues)
            return True
        return False

    def done(self) -> None:
        if self.issues:
            raise Invalid.gathered(self.issues)


_NOUNS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def noun(tp: Any) -> str:
    if tp in _NOUNS:
        return _NOUNS[tp]
    if get_origin(tp) is list:
        (item,) = get_args(tp)
        return f"a list of {_PLURALS.get(item, 'tables' if is_section(item) else 'lists')}"
    return "a table"


_LOWER = (("gt", ">"), ("ge", "≥"))
_UPPER = (("lt", "<"), ("le", "≤"))


def _expected(tp: Any, meta: Mapping[str, Any], *, bounds: Sequence[str] = ()) -> str:
    """What a value of `tp` was expected to be, with the constraints named in `bounds`."""
    if meta.get("choices") and tp is str:
        return "one of " + ", ".join(meta["choices"])
    text = noun(tp)
    limits = [
        f"{symbol} {_number(meta[name])}"
        for name, symbol in (*_LOWER, *_UPPER)
        if name in meta and name in bounds
    ]
    return " ".join([text, " and ".join(limits)]) if limits else text


def _broken_bounds(value: float, meta: Mapping[str, Any]) -> tuple[str, ...]:
    """The bounds to name for a number outside them: the side it fell off (a value
    that is too big needs only the ceiling), or both for NaN, which is on neither."""
    if value != value:
        return tuple(name for name, _ in (*_LOWER, *_UPPER))
    lower = tuple(name for name, _ in _LOWER)
    upper = tuple(name for name, _ in _UPPER)
    if not _within(value, {k: v for k, v in meta.items() if k in lower}):
        return lower
    if not _within(value, {k: v for k, v in meta.items() if k in upper}):
        return upper
    return lower + upper


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def show(value: Any) -> str:
    """A value as the user wrote it, on one line and not too long."""
    if isinstance(value, dict):
        return "a table"
    text = toml_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def convert(tp: Any, value: Any, meta: Mapping[str, Any], path: KeyPath) -> Any:
    """`value` as read from TOML (or built by the caller), checked against `tp`."""
    origin = get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise Invalid(path, f"expected {noun(tp)}, got {show(value)}")
        (item,) = get_args(tp)
        items: list[Any] = []
        gather = Gather()
        for i, v in enumerate(value):
            with gather:
                items.append(convert(item, v, meta, (*path, i)))
        gather.done()
        return items
    if origin is dict:
        if not isinstance(value, dict):
            raise Invalid(path, f"expected a table, got {show(value)}")
        _, item = get_args(tp)
        entries: dict[str, Any] = {}
        gather = Gather()
        for key, v in value.items():
            with gather:
                entry_named(meta, (*path, key))
                entries[key] = convert(item, v, meta, (*path, key))
        gather.done()
        return entries
    if is_section(tp):
        return _record(tp, value, path)
    return _scalar(tp, value, meta, path)


def _scalar(tp: Any, value: Any, meta: Mapping[str, Any], path: KeyPath) -> Any:
    shown = value
    if tp is bool:
        ok = type(value) is bool
    elif tp is int:
        # bool is a subclass of int in Python, but `max_steps = true` is a mistake.
        ok = type(value) is int
    elif tp is float:
        if type(value) is int:
            value = float(value)
        ok = type(value) is float
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"config field {dotted(path)}: type {tp!r} is not supported")
    if not ok:
        raise Invalid(path, f"expected {_expected(tp, meta)}, got {show(shown)}")
    choices = meta.get("choices")
    if choices and tp is str and value not in choices:
        raise Invalid(path, f"expected {_expected(tp, meta)}, got {show(shown)}")
    # NaN and the infinities are never a useful setting (`request_timeout_s = inf` is
    # not "no timeout"): refused with the bounds, like any number past them.
    if tp in (int, float) and not (math.isfinite(value) and _within(value, meta)):
        bounded = _expected(tp, meta, bounds=_broken_bounds(value, meta))
        raise Invalid(path, f"expected {bounded}, got {show(shown)}")
    check = meta.get("check")
    expected = check(value) if check is not None else None
    if expected is not None:
        raise Invalid(path, f"expected {expected}, got {show(shown)}")
    return value


def _within(value: float, meta: Mapping[str, Any]) -> bool:
    return not (
        ("ge" in meta and value < meta["ge"])
        or ("gt" in meta and value <= meta["gt"])
        or ("le" in meta and value > meta["le"])
        or ("lt" in meta and value >= meta["lt"])
    )


def _record(cls: type, table: Any, path: KeyPath) -> Any:
    """One list item or dict value that is a dataclass: a whole object, defaults filled,
    required fields (those without a default) checked."""
    if not isinstance(table, dict):
        raise Invalid(path, f"expected a table, got {show(table)}")
    leaves: Leaves = {}
    section_leaves(cls, table, path, leaves)
    return cls(**build(cls, leaves, path))


def section_leaves(cls: type, table: Mapping[str, Any], path: KeyPath, out: Leaves) -> None:
    """Check one layer's table for section `cls`, every key of it; put its values into
    `out`, keyed by path, at the granularity layers merge at."""
    known = settings(cls)
    gather = Gather()
    for key, value in table.items():
        with gather:
            setting_ = known.get(key)
            if setting_ is None:
                raise unknown(known, (*path, key), is_table=isinstance(value, dict))
            put(setting_, value, (*path, key), out)
    gather.done()


def put(setting_: Setting, value: Any, path: KeyPath, out: Leaves) -> None:
    if is_section(setting_.type):
        if not isinstance(value, dict):
            raise Invalid(path, f"expected a table, got {show(value)}")
        section_leaves(setting_.type, value, path, out)
    elif is_table(setting_.type):
        value = _over_built_ins(setting_, value)
        for key, item in convert(setting_.type, value, setting_.meta, path).items():
            out[(*path, key)] = item
    else:
        out[path] = convert(setting_.type, value, setting_.meta, path)


def _over_built_ins(setting_: Setting, value: Any) -> Any:
    """A file's entry for a built-in record (`[agents.claude] command = …`) changes the
    keys it sets and keeps the built-in's others: replacing the whole entry would lose
    its protocol, its variables and its package for one changed key."""
    if not isinstance(value, dict) or not has_default(setting_.field):
        return value
    built_ins = default_of(setting_.field)
    merged: dict[str, Any] = {}
    for key, entry in value.items():
        base = built_ins.get(key)
        if isinstance(entry, dict) and dataclasses.is_dataclass(base):
            fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
            entry = {**fields, **entry}
        merged[key] = entry
    return merged


def entry_named(meta: Mapping[str, Any], path: KeyPath) -> None:
    """Refuse a dict field's entry whose key is not one of the field's `names`, when the
    schema names them (the binding ids of `[keys]`), as an unknown key is refused."""
    names = meta.get("names")
    if names is not None and path[-1] not in names:
        raise unknown(names, path, is_table=False)


def unknown(known: Iterable[str], path: KeyPath, *, is_table: bool) -> Invalid:
    import difflib

    name = str(path[-1])
    close = difflib.get_close_matches(name, list(known), n=1)
    if len(path) == 1 and is_table:
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        return Invalid(path, f"unknown section [{name}]{hint}", names_key=True)
    hint = f" (did you mean {dotted((*path[:-1], close[0]))}?)" if close else ""
    return Invalid(path, f"unknown key {dotted(path)}{hint}", names_key=True)


def build(cls: type, leaves: Mapping[KeyPath, Any], path: KeyPath) -> dict[str, Any]:
    """Keyword arguments for `cls` from merged leaves; missing settings keep defaults,
    and every missing required one is a problem."""
    kwargs: dict[str, Any] = {}
    gather = Gather()
    for setting_ in settings(cls).values():
        sub = (*path, setting_.name)
        with gather:
            if is_section(setting_.type):
                kwargs[setting_.name] = setting_.type(**build(setting_.type, leaves, sub))
            elif is_table(setting_.type):
                merged = default_of(setting_.field) if has_default(setting_.field) else {}
                for key_path, item in leaves.items():
                    if len(key_path) == len(sub) + 1 and key_path[:-1] == sub:
                        merged[key_path[-1]] = item
                kwargs[setting_.name] = merged
            elif sub in leaves:
                kwargs[setting_.name] = leaves[sub]
            elif not has_default(setting_.field):
                raise Invalid(sub, f"missing required key {dotted(sub)}", names_key=True)
    gather.done()
    return kwargs


def record(cls: type[_T], table: Mapping[str, Any]) -> _T:
    """A whole dataclass `cls` built from a table, or Invalid with every problem."""
    built: _T = _record(cls, dict(table), ())
    return built


def parse_table(cls: type[_T], table: Mapping[str, Any], where: str) -> _T:
    """Validate `table` against the dataclass `cls` with the same rules as the config
    (unknown keys, types, constraints, required fields) and build it. For other TOML
    data that has a schema; errors read `{where}: key: expected ...`, one per problem."""
    try:
        return record(cls, table)
    except Invalid as exc:
        raise ConfigError(exc.problems(where)) from None
