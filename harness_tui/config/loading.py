"""Loading: the layers merged into one validated `Config`, and where each value came from.

Layers, later wins: the packaged `config/default.toml` < the user file
(`$XDG_CONFIG_HOME/harness-tui/config.toml`) < the project file
(`<project>/.harness/config.toml`) < environment variables `HARNESS_<SECTION>__<KEY>`
< command-line flags ("section.key" -> value).

How layers merge: section fields are merged key by key, and so are the entries of a
dict-typed field (a user file may add `keys.quit` and a project file `keys.help`); any
other value, lists and records included, is replaced whole by the later layer.

Every layer is checked in full before anything is refused, so one ConfigError lists
every problem of every file, variable and flag.

Reading uses `tomllib` because every start-up, the headless runner included, reads
config; the writers' `tomlkit` is never imported here.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from harness_tui import paths
from harness_tui.config.errors import ConfigError, ConfigProblem
from harness_tui.config.fields import KeyPath, dotted, walk
from harness_tui.config.overrides import from_text, resolve
from harness_tui.config.schema import Config
from harness_tui.config.toml_text import syntax_error_position
from harness_tui.config.validate import Invalid, Leaves, build, record, section_leaves

_T = TypeVar("_T")

ENV_PREFIX = "HARNESS_"
"""Environment variables `HARNESS_<SECTION>__<KEY>` are config; the double underscore is
what marks them, so variables such as HARNESS_TEST_POSTGRES_URL are left alone."""

Sources = dict[KeyPath, str]


def load_config(
    project: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge every layer into a validated `Config`; raise ConfigError with every problem
    found (see `check_config`).

    `project` is --project (default: the git root of the working directory, else the
    directory). `flags` maps "section.key" to a value; None means the flag was not
    given. `env` supplies the HARNESS_<SECTION>__<KEY> variables (default: os.environ);
    where the user file lives follows the process environment (XDG_CONFIG_HOME), like
    every other path of the application.
    """
    root = _project_root(project)
    env = os.environ if env is None else env

    leaves: Leaves = {}
    sources: Sources = {}
    problems: list[ConfigProblem] = []
    for path, label in _layer_files(root):
        layer: Leaves = {}
        try:
            found = _file_layer(path, layer)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if not found and label == "default":
            raise ConfigError(
                ConfigProblem(
                    "the packaged defaults are missing; reinstall harness-tui",
                    source=str(path),
                    file=path,
                )
            )
        leaves.update(layer)
        sources.update(dict.fromkeys(layer, label))
    problems += _env_layer(env, leaves, sources)
    problems += _flag_layer(flags or {}, leaves, sources)
    if problems:
        raise ConfigError(problems)

    config = Config(project=root, **build(Config, leaves, ()))
    for key_path, _ in walk(Config, config):
        config.sources[dotted(key_path)] = sources.get(key_path, "default")
    return config


def check_config(
    project: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> list[ConfigProblem]:
    """Every problem `load_config` would refuse, with the same arguments: each file in
    full (unknown keys with their "did you mean", wrong types, values out of range, …),
    then every HARNESS_<SECTION>__<KEY> variable and flag. An empty list means the
    configuration loads.

    Meant for `harness-tui config check [--project DIR]`: print each problem on its own
    line as every error is printed (`harness-tui: {problem}`) and exit 2 when there are
    any; otherwise print `config OK: ` followed by `config_files(project)` joined with
    ", ", and exit 0.
    """
    try:
        load_config(project, flags, env)
    except ConfigError as exc:
        return exc.problems
    return []


def config_files(project: str | Path | None = None) -> list[Path]:
    """The config files that exist, in layer order: the packaged defaults, the user
    file, the project file."""
    return [path for path, _ in _layer_files(paths.find_project(project)) if path.is_file()]


def load_toml(cls: type[_T], path: Path) -> _T | None:
    """`parse_table` for a TOML file, with each problem naming the file and line; None
    when the file does not exist."""
    path = Path(path)
    read = _read_toml(path)
    if read is None:
        return None
    text, table = read
    try:
        return record(cls, table)
    except Invalid as exc:
        raise ConfigError(exc.problems(str(path), file=path, text=text)) from None


def _project_root(project: str | Path | None) -> Path:
    if project is not None and not Path(project).expanduser().is_dir():
        raise ConfigError(ConfigProblem(f"project directory {project} does not exist"))
    return paths.find_project(project)


def _layer_files(root: Path) -> list[tuple[Path, str]]:
    """Each config file with the label `Config.sources` gives its values."""
    user_file = paths.user_config_file()
    project_file = paths.project_config_file(root)
    return [
        (paths.default_config_file(), "default"),
        (user_file, f"user file {user_file}"),
        (project_file, f"project file {project_file}"),
    ]


def _read_toml(path: Path) -> tuple[str, dict[str, Any]] | None:
    """The text and the parsed table of a TOML file; None when it does not exist."""

    def error(message: str, line: int | None = None) -> ConfigError:
        return ConfigError(ConfigProblem(message, source=str(path), file=path, line=line))

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"invalid TOML: not UTF-8 (byte {exc.start})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason, line = syntax_error_position(str(exc))
        raise error(f"invalid TOML: {reason}", line) from None


def _file_layer(path: Path, out: Leaves) -> bool:
    """Add a TOML file's settings to `out`; False when the file does not exist."""
    read = _read_toml(path)
    if read is None:
        return False
    text, table = read
    try:
        section_leaves(Config, table, (), out)
    except Invalid as exc:
        raise ConfigError(exc.problems(str(path), file=path, text=text)) from None
    return True


def _env_layer(env: Mapping[str, str], out: Leaves, sources: Sources) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for name in sorted(env):
        rest = name[len(ENV_PREFIX) :]
        if not name.startswith(ENV_PREFIX) or "__" not in rest:
            continue
        parts = [part.lower() for part in rest.split("__")]
        leaves: Leaves = {}
        target = None
        try:
            target = resolve(parts, join="__")
            target.put(from_text(target.type, env[name], target.setting.meta, target.path), leaves)
        except Invalid as exc:
            implied = target.path if target else None
            problems += exc.problems(f"environment {name}", implied=implied)
            continue
        out.update(leaves)
        sources.update(dict.fromkeys(leaves, f"env {name}"))
    return problems


def _flag_layer(flags: Mapping[str, Any], out: Leaves, sources: Sources) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for key, value in flags.items():
        if value is None:  # a flag that was not given
            continue
        leaves: Leaves = {}
        target = None
        try:
            target = resolve(key.split("."), join=".")
            target.put(target.converted(value), leaves)
        except Invalid as exc:
            implied = target.path if target else None
            problems += exc.problems(f"flag {key}", implied=implied)
            continue
        out.update(leaves)
        sources.update(dict.fromkeys(leaves, "flag"))
    return problems
