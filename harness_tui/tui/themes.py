"""Colour themes: TOML files in the packaged themes/ folder and the user's theme folder.

A theme file names the Textual base colours under [colors] and the dashboard's own
tokens (status glyphs, event-log kinds) under [variables]; `.tcss` refers to them as
`$status-running`, `$log-tool` and so on. Every colour is checked with Color.parse
when the file loads, so a typo is reported with its file and key instead of turning
into a wrong colour later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from harness_tui.config import set_config_value
from harness_tui.paths import packaged_dir, user_config_file, user_themes_dir

DEFAULT_THEME = "harness-dark"

BASE_COLORS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)

# The dashboard's own tokens, and where each comes from in a theme that does not set
# it (Textual's built-in themes, or a user theme that only sets base colours).
TOKEN_FALLBACKS: dict[str, str] = {
    "status-running": "primary",
    "status-waiting": "warning",
    "status-idle": "foreground-muted",
    "status-queued": "text-secondary",
    "status-done": "success",
    "status-failed": "error",
    "status-cancelled": "foreground-disabled",
    "log-input": "text-accent",
    "log-model": "foreground",
    "log-tool": "text-primary",
    "log-result": "foreground-muted",
    "log-policy": "text-secondary",
    "log-approval": "warning",
    "log-task": "text-success",
    "log-status": "foreground-muted",
    "log-error": "text-error",
}


class ThemeError(Exception):
    """A theme file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class LoadedThemes:
    themes: dict[str, Theme]
    # Where each theme came from, so a reload knows what changed and errors can say.
    sources: dict[str, Path]
    errors: list[str]


def theme_dirs() -> list[Path]:
    """Built-in themes first, then the user's: a user theme of the same name wins."""
    return [packaged_dir("themes"), user_themes_dir()]


def _color(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{where}: expected a colour string, got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{where}: {value!r} is not a colour") from None
    return value


def load_theme_file(path: Path) -> Theme:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - {"name", "dark", "colors", "variables"})
    if unknown:
        raise ThemeError(
            f"{path}: unknown key {unknown[0]!r} (expected name, dark, [colors], [variables])"
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"{path}: name must be a non-empty string")
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeError(f"{path}: dark must be true or false")
    colors = data.get("colors", {})
    if not isinstance(colors, dict):
        raise ThemeError(f"{path}: [colors] must be a table")
    for key in colors:
        if key not in BASE_COLORS:
            raise ThemeError(
                f"{path}: colors.{key}: unknown colour (expected {', '.join(BASE_COLORS)})"
            )
    if "primary" not in colors:
        raise ThemeError(f"{path}: colors.primary is required")
    # Any: Theme takes each base colour as a keyword of its own, next to non-colour ones.
    base: dict[str, Any] = {
        key: _color(value, f"{path}: colors.{key}") for key, value in colors.items()
    }
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{path}: [variables] must be a table")
    tokens = {}
    for key, value in variables.items():
        if key not in TOKEN_FALLBACKS:
            raise ThemeError(
                f"{path}: variables.{key}: unknown token (expected one of "
                f"{', '.join(TOKEN_FALLBACKS)})"
            )
        tokens[key] = _color(value, f"{path}: variables.{key}")
    return Theme(name=name, dark=dark, variables=tokens, **base)


def load_themes(directories: Iterable[Path] | None = None) -> LoadedThemes:
    """Every *.toml theme in `directories`; broken files are reported, not fatal."""
    themes: dict[str, Theme] = {}
    sources: dict[str, Path] = {}
    errors: list[str] = []
    for directory in theme_dirs() if directories is None else directories:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                theme = load_theme_file(path)
            except ThemeError as exc:
                errors.append(str(exc))
                continue
            themes[theme.name] = theme
            sources[theme.name] = path
    return LoadedThemes(themes, sources, errors)


def token_defaults(generated: dict[str, str]) -> dict[str, str]:
    """The dashboard tokens for a theme that does not set them, from its generated
    colour system (`ColorSystem.generate()`)."""
    return {token: generated[source] for token, source in TOKEN_FALLBACKS.items()}


def save_theme(name: str) -> Path:
    """Make `name` the theme of the next start: `[ui] theme` in the user's config
    file, with their comments kept. Raises ConfigError or OSError."""
    path = user_config_file()
    set_config_value(path, "ui.theme", name)
    return path
