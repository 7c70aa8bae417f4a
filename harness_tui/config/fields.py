"""The schema as the validator and the writers see it: the settings of a dataclass, key
paths, and a config turned back into plain tables."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple, get_origin, get_type_hints

from harness_tui.config.schema import INTERNAL

KeyPath = tuple[str | int, ...]
"""Where a value sits: section and key names, and list indices for items of a list."""


class Setting(NamedTuple):
    name: str
    type: Any
    meta: Mapping[str, Any]
    field: dataclasses.Field[Any]


@functools.cache
def settings(cls: type) -> dict[str, Setting]:
    """The fields of dataclass `cls` that a file may set, by name."""
    hints = get_type_hints(cls)
    return {
        f.name: Setting(f.name, hints[f.name], f.metadata, f)
        for f in dataclasses.fields(cls)
        if not f.metadata.get(INTERNAL)
    }


def is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def is_table(tp: Any) -> bool:
    return get_origin(tp) is dict


def has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def dotted(path: KeyPath) -> str:
    """`("projects", 1, "weight")` as the user writes it: `projects[1].weight`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def walk(cls: type, obj: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """(path, value) of every setting of `obj`, at the granularity layers merge at."""
    for setting_ in settings(cls).values():
        value = getattr(obj, setting_.name)
        sub = (*path, setting_.name)
        if is_section(setting_.type):
            yield from walk(setting_.type, value, sub)
        elif is_table(setting_.type) and value:
            for key, item in value.items():
                yield (*sub, key), item
        else:
            yield sub, value


def plain(value: Any) -> Any:
    """Dataclasses turned into dicts, so a value can be written as TOML or JSON."""
    section: type = type(value)
    if is_section(section):
        return {name: plain(getattr(value, name)) for name in settings(section)}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def as_dict(config: Any) -> dict[str, Any]:
    """A config (or one section) as the nested tables a TOML file would hold."""
    # Config's own `project` and `sources` are not settings, so `plain` leaves them out.
    result: dict[str, Any] = plain(config)
    return result
