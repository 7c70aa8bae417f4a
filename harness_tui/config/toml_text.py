"""TOML as text: a value written on one line, and where in a file a key is written.

tomllib reports neither where keys are nor, other than inside its message, where a
syntax error is; problems name a line, so these scan the text. They only run when
something is wrong or being shown, never on a valid start-up.
"""

from __future__ import annotations

import re
from typing import Any

from harness_tui.config.fields import KeyPath, is_section, plain


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_repr(key)


def toml_repr(value: Any) -> str:
    """A value written as TOML, on one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        import json

        # JSON string escapes are valid TOML basic-string escapes, and keep one line.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_repr(item) for item in value) + "]"
    if isinstance(value, dict) or is_section(type(value)):
        table = plain(value)
        return "{" + ", ".join(f"{toml_key(k)} = {toml_repr(v)}" for k, v in table.items()) + "}"
    return str(value)


def syntax_error_position(message: str) -> tuple[str, int | None]:
    """A tomllib error message split into its reason (lower-cased first letter, the
    column kept) and its line; tomllib puts the position in the message only:
    "... (at line 3, column 9)"."""
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not found:
        return message, None
    reason = message[: found.start()]
    reason = reason[:1].lower() + reason[1:]
    return f"{reason} (column {found[2]})", int(found[1])


# Patterns for finding a key's line; kept as strings so that a valid config, the only
# kind most start-ups see, never pays for compiling them.
_TOML_KEY = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_HEADER = rf"""\s*(\[\[?)\s*((?:{_TOML_KEY}|[\s.])+?)\s*\]\]?\s*(?:#.*)?$"""
_KEY_LINE = rf"""\s*((?:{_TOML_KEY})(?:\s*\.\s*(?:{_TOML_KEY}))*)\s*="""


def _key_parts(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_TOML_KEY, text))


def line_of(text: str, path: KeyPath) -> int | None:
    """The line where `path` (or failing that, the nearest enclosing key or table) is
    written in the TOML `text`."""
    for length in range(len(path), 0, -1):
        line = _scan_for(text, path[:length])
        if line is not None:
            return line
    return None


def _scan_for(text: str, wanted: KeyPath) -> int | None:
    table: KeyPath = ()
    seen_arrays: dict[tuple[str, ...], int] = {}
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        # Lines inside a multi-line string are text, not keys.
        quotes = line.count('"""') + line.count("'''")
        if in_multiline:
            in_multiline = quotes % 2 == 0
            continue
        in_multiline = quotes % 2 == 1
        header = re.match(_HEADER, line)
        if header:
            name = _key_parts(header[2])
            if header[1] == "[[":
                index = seen_arrays.get(name, 0)
                seen_arrays[name] = index + 1
                table = (*name, index)
            else:
                table = name
            if table[: len(wanted)] == wanted:
                return number
            continue
        key = re.match(_KEY_LINE, line)
        if key and (*table, *_key_parts(key[1]))[: len(wanted)] == wanted:
            return number
    return None
