"""Where things live: packaged data, the user's XDG folders, and the project's .harness/."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "harness-tui"
_PACKAGE_DIR = Path(__file__).resolve().parent


def packaged_dir(name: str) -> Path:
    """`config` or `themes`: inside an installed wheel they sit in harness_tui/_data;
    in a source checkout (editable install) at the top of the repo."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def default_config_file() -> Path:
    return packaged_dir("config") / "default.toml"


def _xdg(variable: str, fallback: str) -> Path:
    value = os.environ.get(variable)
    base = Path(value) if value and Path(value).is_absolute() else Path.home() / fallback
    return base / APP_NAME


def user_config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def user_config_file() -> Path:
    return user_config_dir() / "config.toml"


def user_themes_dir() -> Path:
    return user_config_dir() / "themes"


def user_cache_dir() -> Path:
    """What can be thrown away and made again, such as which rule files were checked."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def user_data_dir() -> Path:
    """Data that belongs to no single checkout, such as worktrees."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def demo_copies_dir() -> Path:
    """Where the offline demo seeds its own project, one git repository per session:
    outside every checkout, so the demo never touches or describes the user's."""
    return user_data_dir() / "demo"


def git_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding `.git` (a dir, or a file in a
    worktree). Walks the tree instead of running git, so start-up stays fast."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def find_project(explicit: str | Path | None = None, cwd: Path | None = None) -> Path:
    """--project DIR, else the git root of the current directory, else the directory."""
    if explicit is not None:
        return Path(explicit).expanduser().resolve()
    here = (cwd or Path.cwd()).resolve()
    return git_root(here) or here


def harness_dir(project: Path) -> Path:
    return project / ".harness"


def project_config_file(project: Path) -> Path:
    return harness_dir(project) / "config.toml"


def default_store_path(project: Path) -> Path:
    return harness_dir(project) / "harness.db"


def artifacts_dir(project: Path) -> Path:
    return harness_dir(project) / "artifacts"
