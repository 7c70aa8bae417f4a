"""Typed, layered, validated configuration.

Layers, later wins: the packaged `config/default.toml` < the user file
(`$XDG_CONFIG_HOME/harness-tui/config.toml`) < the project file
(`<project>/.harness/config.toml`) < environment variables `HARNESS_<SECTION>__<KEY>`
< command-line flags ("section.key" -> value).

The schema is the dataclasses below and nothing else: the validator walks their fields
and type hints, so a new section is a new dataclass, a field on `Config` and its defaults
in `default.toml` (a test checks that the two agree). Supported field types: bool, int,
float (an int is accepted), str, list[T], dict[str, T], a nested section dataclass, and
dataclasses as list items or dict values ("records", e.g. `[[projects]]` or
`[presets.NAME]`). Constraints live in field metadata, declared with `setting()`.

How layers merge: section fields are merged key by key, and so are the entries of a
dict-typed field (a user file may add `keys.quit` and a project file `keys.help`); any
other value, lists and records included, is replaced whole by the later layer.

Reading uses `tomllib` because every start-up, the headless runner included, reads
config; `tomlkit` keeps comments when a file is written, and is imported only then.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, get_args, get_origin, get_type_hints

from harness_tui import paths

if TYPE_CHECKING:
    import tomlkit

__all__ = [
    "AnthropicConfig",
    "Config",
    "ConfigError",
    "EngineConfig",
    "OpenAIConfig",
    "ProviderConfig",
    "ScriptedConfig",
    "StoreConfig",
    "ToolsConfig",
    "as_dict",
    "format_config",
    "load_config",
    "load_toml",
    "parse_table",
    "set_config_value",
    "setting",
    "update_toml",
]

ENV_PREFIX = "HARNESS_"
"""Environment variables `HARNESS_<SECTION>__<KEY>` are config; the double underscore is
what marks them, so variables such as HARNESS_TEST_POSTGRES_URL are left alone."""

PROVIDER_NAMES = ("auto", "scripted", "anthropic", "openai")

_T = TypeVar("_T")


class ConfigError(Exception):
    """Bad configuration. The message is one line naming the file (and line where it is
    known) or the variable or flag, the key, and what was expected."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A config field with its constraints: bounds (`ge` ≥, `gt` >, `le` ≤, `lt` <) for
    numbers, `choices` for strings. On a list field they apply to every item. A list or
    dict default is copied for each instance, as dataclasses require."""
    metadata = {
        name: value
        for name, value in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt), ("choices", choices))
        if value is not None
    }
    if isinstance(default, list | dict):
        template = default
        return field(default_factory=lambda: _copy(template), metadata=metadata)
    return field(default=default, metadata=metadata)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


# Fields of `Config` that are facts about the load, not settings a file may hold.
_NOT_A_SETTING = {"internal": True}


@dataclass(frozen=True)
class StoreConfig:
    url: str = ""
    """Where every event is kept. Empty means <project>/.harness/harness.db.
    `sqlite:///absolute/path/harness.db` or `postgresql://user@host:5432/database`."""


@dataclass(frozen=True)
class ProviderConfig:
    name: str = setting("auto", choices=PROVIDER_NAMES)
    """auto: anthropic when ANTHROPIC_API_KEY is set, else openai when OPENAI_API_KEY is
    set, else the offline scripted demo. Or name one: scripted, anthropic, openai."""
    model: str = ""
    """Empty means the chosen provider's own default model (see its section)."""
    max_tokens: int = setting(8192, ge=1)
    """Largest reply the model may write in one request."""
    max_retries: int = setting(4, ge=0)
    """Transient failures (429, 5xx, connection reset, timeout) are retried this many
    times with exponential backoff and jitter; retry-after is honoured."""
    retry_base_delay_s: float = setting(0.5, ge=0)
    """The first delay of the exponential backoff."""
    retry_max_delay_s: float = setting(30.0, ge=0)
    """Backoff never waits longer than this."""
    circuit_breaker_failures: int = setting(6, ge=1)
    """After this many consecutive failed requests the session fails."""
    request_timeout_s: float = setting(300.0, gt=0)
    """Seconds one model request may take before it counts as a timeout."""


@dataclass(frozen=True)
class AnthropicConfig:
    base_url: str = ""
    """Empty means ANTHROPIC_BASE_URL, else the SDK default."""
    model: str = "claude-sonnet-5-5"
    """The model used when [provider] model is empty."""
    prompt_caching: bool = True
    """Cache the system prompt and tool definitions between requests."""


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str = ""
    """Empty means OPENAI_BASE_URL, else the SDK default. For Ollama use
    http://localhost:11434/v1, for vLLM http://HOST:8000/v1."""
    model: str = "gpt-5.5"
    """The model used when [provider] model is empty."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable that holds the key. Local servers that need no
    key work without it."""


@dataclass(frozen=True)
class ScriptedConfig:
    script: str = "demo"
    """A built-in script name (demo) or the path of a .toml or .jsonl script."""
    delay_ms: int = setting(0, ge=0)
    """Pause before each scripted reply, so a demo can be watched; 0 in tests."""
    slow_step_s: float = setting(6.0, ge=0)
    """Seconds a script's slow step takes: `{slow_step_s}` in a tool call's arguments
    stands for it. The demo's background check sleeps this long; tests shorten it."""


@dataclass(frozen=True)
class EngineConfig:
    max_steps: int = setting(40, ge=1)
    """A turn stops after this many model requests (exit reason max_steps)."""
    max_total_tokens: int = setting(0, ge=0)
    """Token budget for one session; 0 means no limit (exit reason budget)."""
    max_cost_usd: float = setting(0.0, ge=0)
    """Cost budget for one session in US dollars; 0 means no limit."""
    system_prompt: str = ""
    """Extra instructions appended to the built-in system prompt."""


@dataclass(frozen=True)
class ToolsConfig:
    bash_timeout_s: int = setting(600, gt=0)
    """Seconds a bash command may run in the foreground before it is stopped."""
    output_limit_bytes: int = setting(30000, ge=1)
    """Tool output above this many bytes goes to an artifact file; the transcript gets
    the head, the tail and the artifact's path."""
    max_read_lines: int = setting(2000, ge=1)
    """read_file returns at most this many lines per call."""
    inline_ms: int = setting(5000, ge=0)
    """A bash command still running after this many milliseconds becomes a background
    task; the agent gets its id at once and is told when it finishes."""


@dataclass(frozen=True)
class PolicyConfig:
    approval_mode: str = setting("on-request", choices=("untrusted", "on-request", "auto", "never"))
    """untrusted: prompt for anything no rule allows; on-request: prompt where a rule
    says prompt; auto: allow all but forbidden; never: a prompt becomes a denial."""
    allow_env: list[str] = setting([])
    """Secret-looking environment variables tools may still see, by name."""


@dataclass(frozen=True)
class UIConfig:
    theme: str = "harness-dark"
    """A built-in theme (themes/*.toml) or one in $XDG_CONFIG_HOME/harness-tui/themes."""


@dataclass(frozen=True)
class GCSignalsConfig:
    """Thresholds of the GC signals: a pattern becomes a signal at this many sightings."""

    repeated_warning: int = setting(3, ge=1)
    """The same policy prompt or approval-denial reason this many times."""
    chronic_block: int = setting(3, ge=1)
    """The same rule forbidding commands this many times."""
    hot_file: int = setting(5, ge=1)
    """The same file edited this many times, across sessions."""
    slow_tool_ms: int = setting(30000, ge=0)
    """A tool call that takes longer than this many milliseconds is slow."""
    slow_tool: int = setting(3, ge=1)
    """This many slow calls of one tool make a signal."""
    failure_window: int = setting(20, ge=2)
    """The most recent tool results compared, half against half, for a rising failure rate."""
    failure_rise: float = setting(1.5, ge=1)
    """The second half of the window failing this many times as often as the first."""
    repeated_failing_command: int = setting(3, ge=1)
    """The same shell command failing this many times in one session."""


@dataclass(frozen=True)
class GCGradeConfig:
    """Weights of the grade's dimensions; only their ratios matter."""

    security: float = setting(0.4, ge=0)
    """Forbidden and denied actions against tool calls."""
    stability: float = setting(0.3, ge=0)
    """Failed tool calls and failed turns."""
    coverage: float = setting(0.2, ge=0)
    """Turns that edited files and also ran tests or validation."""
    speed: float = setting(0.1, ge=0)
    """Tool calls and turns within their time limits."""


@dataclass(frozen=True)
class GCConfig:
    retention_days: int = setting(30, ge=1)
    """`gc run` prunes sessions, artifacts and worktrees older than this; a running
    session is never touched."""
    cooldown_s: int = setting(300, ge=0)
    """After a session ends, GC runs at most once in this many seconds."""
    max_drafts_per_run: int = setting(3, ge=0)
    """At most this many remediation drafts in one GC run."""
    draft_ttl_hours: int = setting(72, ge=1)
    """A draft nobody adopted or rejected expires after this many hours."""
    budget_per_signal: int = setting(1, ge=0)
    """Drafts one signal may ever get, whatever became of them."""
    budget_per_run: int = setting(3, ge=0)
    """Drafts one GC run may create."""
    budget_total: int = setting(20, ge=0)
    """Drafts the project may ever get; past it, signals are recorded without a draft."""
    auto: bool = True
    """Run GC by itself after a session ends; false leaves it to `harness-tui gc run`."""
    signals: GCSignalsConfig = field(default_factory=GCSignalsConfig)
    grade: GCGradeConfig = field(default_factory=GCGradeConfig)


@dataclass(frozen=True)
class GitConfig:
    worktree: bool = False
    """Run this project's sessions in their own git worktree unless told otherwise
    (`--worktree` / `--no-worktree`, or the dashboard's option)."""
    base_branch: str = ""
    """The branch (or any ref) a session's worktree starts from; empty means the branch
    checked out when the session starts."""
    branch_prefix: str = "harness/"
    """A session's branch is this prefix followed by the session id."""
    cleanup: bool = True
    """Remove the worktree when its session ends; the branch, with its commit, stays."""


@dataclass(frozen=True)
class ConcurrencyConfig:
    max_worktree_sessions: int = setting(4, ge=1)
    """Worktree sessions running at once, all projects together; more wait, queued."""
    per_project: int = setting(2, ge=1)
    """Worktree sessions of one project running at once, unless its [[projects]] entry
    says otherwise."""
    queue_cap: int = setting(50, ge=0)
    """Worktree sessions that may wait at once; one more is refused with a message."""


@dataclass(frozen=True)
class ProjectConfig:
    """One `[[projects]]` entry: scheduling for the project at `path`."""

    path: str
    """The project folder, as an absolute path or starting with ~."""
    max_concurrent: int = setting(0, ge=0)
    """Its worktree sessions running at once; 0 means [concurrency] per_project."""
    priority: int = 0
    """Queued sessions of higher-priority projects start first; ties go to the oldest."""


@dataclass(frozen=True)
class ValidationConfig:
    commands: list[str] = setting([])
    """Shell commands run in the worktree, in order, after the agent finishes; the first
    failure stops the rest and goes back to the agent."""
    timeout_s: int = setting(600, gt=0)
    """Seconds one command may run before it is stopped (and counts as failed)."""
    max_retries: int = setting(2, ge=0)
    """Times a failure goes back to the agent as a new turn before the session fails."""
    retry_backoff_s: float = setting(1.0, ge=0)
    """Pause before the first retry, doubled for each one after it."""
    output_tail_bytes: int = setting(4000, ge=1)
    """The last this many bytes of a command's output are kept and shown to the agent."""


@dataclass(frozen=True)
class PresetConfig:
    description: str = ""
    """What the preset is for, shown to the model in spawn_subagent's choices."""
    system_prompt: str = ""
    """Instructions added to the subagent's system prompt."""
    tools: list[str] = setting([])
    """The tools the subagent may call; empty means all but spawn_subagent."""
    provider: str = ""
    """Empty means the parent session's provider."""
    model: str = ""
    """Empty means the parent session's model."""
    max_steps: int = setting(20, ge=1)
    """Model requests per turn of the subagent."""


BUILTIN_PRESETS = {
    "explore": PresetConfig(
        description="Read-only exploration: finds and reads code and reports what it found",
        system_prompt=(
            "You are exploring the codebase for another agent. Read, search and report "
            "concisely; you cannot change files."
        ),
        tools=["read_file", "glob", "grep"],
        max_steps=20,
    ),
    "worker": PresetConfig(
        description="A self-contained piece of work, with every tool",
        system_prompt=(
            "You are doing one self-contained task for another agent. Finish it, check "
            "it, and report what you changed."
        ),
        max_steps=40,
    ),
}


@dataclass(frozen=True)
class SubagentsConfig:
    max_depth: int = setting(1, ge=0)
    """How deep subagents may nest: 1 lets a session spawn subagents that cannot
    spawn their own."""


@dataclass(frozen=True)
class CompactionConfig:
    context_window: int = setting(200000, ge=1000)
    """Tokens the model can take in one request."""
    threshold: float = setting(0.8, gt=0, le=1)
    """Compact when the last request's input passes this share of the window."""
    keep_replies: int = setting(4, ge=1)
    """The newest model replies, with their tool results, are never summarised."""
    elide_bytes: int = setting(2000, ge=100)
    """Older tool outputs above this size are the first to be replaced by stubs."""


@dataclass(frozen=True)
class Config:
    """The merged configuration. Build it with `load_config()`."""

    project: Path = field(metadata=_NOT_A_SETTING)
    """The project directory: --project, else the git root of the working directory."""
    store: StoreConfig = field(default_factory=StoreConfig)
    provider: ProviderConfig = field(default_factory=ProviderConfig)
    anthropic: AnthropicConfig = field(default_factory=AnthropicConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    scripted: ScriptedConfig = field(default_factory=ScriptedConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    gc: GCConfig = field(default_factory=GCConfig)
    git: GitConfig = field(default_factory=GitConfig)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    subagents: SubagentsConfig = field(default_factory=SubagentsConfig)
    compaction: CompactionConfig = field(default_factory=CompactionConfig)
    presets: dict[str, PresetConfig] = setting(BUILTIN_PRESETS)
    """Subagent presets by name; explore and worker are built in."""
    projects: list[ProjectConfig] = setting([])
    """Per-project scheduling of worktree sessions; see ProjectConfig."""
    keys: dict[str, str] = setting({})
    """Binding id -> key, e.g. quit = "ctrl+q". `?` in the dashboard lists the ids."""
    sources: dict[str, str] = field(
        default_factory=dict, compare=False, repr=False, metadata=_NOT_A_SETTING
    )
    """Dotted key ("engine.max_steps") -> the layer its value came from: "default",
    "user file PATH", "project file PATH", "env NAME" or "flag"."""

    @property
    def store_url(self) -> str:
        """store.url, else the project's own SQLite file."""
        if self.store.url:
            return self.store.url
        return f"sqlite:///{paths.default_store_path(self.project)}"


# ---------------------------------------------------------------------------------------
# The schema, read from the dataclasses.


class _Setting(NamedTuple):
    name: str
    type: Any
    meta: Mapping[str, Any]
    field: dataclasses.Field[Any]


@functools.cache
def _settings(cls: type) -> dict[str, _Setting]:
    hints = get_type_hints(cls)
    return {
        f.name: _Setting(f.name, hints[f.name], f.metadata, f)
        for f in dataclasses.fields(cls)
        if not f.metadata.get("internal")
    }


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _is_table(tp: Any) -> bool:
    return get_origin(tp) is dict


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


# A key path: section and key names, and list indices for items of a list.
_Path = tuple[str | int, ...]


class _Invalid(Exception):
    """A problem at `path`, before anyone has said which file or variable it came from."""

    def __init__(self, path: _Path, message: str, *, names_key: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.names_key = names_key

    def render(self, where: str, *, implied: _Path | None = None) -> str:
        """`where` is the file (with its line), variable or flag. The key is left out when
        the message already names it, or when `where` does (a variable names its key)."""
        if self.names_key or not self.path or self.path == implied:
            return f"{where}: {self.message}"
        return f"{where}: {_dotted(self.path)}: {self.message}"


def _dotted(path: _Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


# ---------------------------------------------------------------------------------------
# Checking and converting values.

_NOUNS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_PLURALS = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}


def _noun(tp: Any) -> str:
    if tp in _NOUNS:
        return _NOUNS[tp]
    if get_origin(tp) is list:
        (item,) = get_args(tp)
        return f"a list of {_PLURALS.get(item, 'tables' if _is_section(item) else 'lists')}"
    return "a table"


def _expected(tp: Any, meta: Mapping[str, Any], *, bounds: bool = False) -> str:
    if meta.get("choices") and tp is str:
        return "one of " + ", ".join(meta["choices"])
    noun = _noun(tp)
    if bounds:
        limits = [
            f"{symbol} {_number(meta[name])}"
            for name, symbol in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"))
            if name in meta
        ]
        noun = " ".join([noun, " and ".join(limits)]) if limits else noun
    return noun


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(value: Any) -> str:
    """A value as the user wrote it, on one line and not too long."""
    if isinstance(value, dict):
        return "a table"
    text = _toml_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(tp: Any, value: Any, meta: Mapping[str, Any], path: _Path) -> Any:
    """`value` as read from TOML (or built by the caller), checked against `tp`."""
    origin = get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise _Invalid(path, f"expected {_noun(tp)}, got {_show(value)}")
        (item,) = get_args(tp)
        return [_convert(item, v, meta, (*path, i)) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected a table, got {_show(value)}")
        _, item = get_args(tp)
        return {key: _convert(item, v, meta, (*path, key)) for key, v in value.items()}
    if _is_section(tp):
        return _record(tp, value, path)
    return _scalar(tp, value, meta, path)


def _scalar(tp: Any, value: Any, meta: Mapping[str, Any], path: _Path) -> Any:
    shown = value
    if tp is bool:
        ok = type(value) is bool
    elif tp is int:
        # bool is a subclass of int in Python, but `max_steps = true` is a mistake.
        ok = type(value) is int
    elif tp is float:
        if type(value) is int:
            value = float(value)
        ok = type(value) is float and value == value  # NaN is never a useful setting
    elif tp is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"config field {_dotted(path)}: type {tp!r} is not supported")
    if not ok:
        raise _Invalid(path, f"expected {_expected(tp, meta)}, got {_show(shown)}")
    choices = meta.get("choices")
    if choices and tp is str and value not in choices:
        raise _Invalid(path, f"expected {_expected(tp, meta)}, got {_show(shown)}")
    if tp in (int, float) and not _within(value, meta):
        raise _Invalid(path, f"expected {_expected(tp, meta, bounds=True)}, got {_show(shown)}")
    return value


def _within(value: float, meta: Mapping[str, Any]) -> bool:
    return not (
        ("ge" in meta and value < meta["ge"])
        or ("gt" in meta and value <= meta["gt"])
        or ("le" in meta and value > meta["le"])
        or ("lt" in meta and value >= meta["lt"])
    )


def _record(cls: type, table: Any, path: _Path) -> Any:
    """One list item or dict value that is a dataclass: a whole object, defaults filled,
    required fields (those without a default) checked."""
    if not isinstance(table, dict):
        raise _Invalid(path, f"expected a table, got {_show(table)}")
    leaves: dict[_Path, Any] = {}
    _section_leaves(cls, table, path, leaves)
    return cls(**_build(cls, leaves, path))


def _section_leaves(cls: type, table: Mapping[str, Any], path: _Path, out: dict) -> None:
    """Check one layer's table for section `cls`; put its values into `out`, keyed by
    path, at the granularity layers merge at."""
    settings = _settings(cls)
    for key, value in table.items():
        setting_ = settings.get(key)
        if setting_ is None:
            raise _unknown(settings, (*path, key), is_table=isinstance(value, dict))
        _put(setting_, value, (*path, key), out)


def _put(setting_: _Setting, value: Any, path: _Path, out: dict) -> None:
    if _is_section(setting_.type):
        if not isinstance(value, dict):
            raise _Invalid(path, f"expected a table, got {_show(value)}")
        _section_leaves(setting_.type, value, path, out)
    elif _is_table(setting_.type):
        for key, item in _convert(setting_.type, value, setting_.meta, path).items():
            out[(*path, key)] = item
    else:
        out[path] = _convert(setting_.type, value, setting_.meta, path)


def _unknown(settings: Mapping[str, _Setting], path: _Path, *, is_table: bool) -> _Invalid:
    import difflib

    name = str(path[-1])
    close = difflib.get_close_matches(name, list(settings), n=1)
    if len(path) == 1 and is_table:
        hint = f" (did you mean [{close[0]}]?)" if close else ""
        return _Invalid(path, f"unknown section [{name}]{hint}", names_key=True)
    hint = f" (did you mean {_dotted((*path[:-1], close[0]))}?)" if close else ""
    return _Invalid(path, f"unknown key {_dotted(path)}{hint}", names_key=True)


def _build(cls: type, leaves: Mapping[_Path, Any], path: _Path) -> dict[str, Any]:
    """Keyword arguments for `cls` from merged leaves; missing settings keep defaults."""
    kwargs: dict[str, Any] = {}
    for setting_ in _settings(cls).values():
        sub = (*path, setting_.name)
        if _is_section(setting_.type):
            kwargs[setting_.name] = setting_.type(**_build(setting_.type, leaves, sub))
        elif _is_table(setting_.type):
            merged = _default(setting_.field) if _has_default(setting_.field) else {}
            for key_path, item in leaves.items():
                if len(key_path) == len(sub) + 1 and key_path[:-1] == sub:
                    merged[key_path[-1]] = item
            kwargs[setting_.name] = merged
        elif sub in leaves:
            kwargs[setting_.name] = leaves[sub]
        elif not _has_default(setting_.field):
            raise _Invalid(sub, f"missing required key {_dotted(sub)}", names_key=True)
    return kwargs


def _walk(cls: type, obj: Any, path: _Path = ()) -> Iterator[tuple[_Path, Any]]:
    """(path, value) of every setting of `obj`, at the granularity layers merge at."""
    for setting_ in _settings(cls).values():
        value = getattr(obj, setting_.name)
        sub = (*path, setting_.name)
        if _is_section(setting_.type):
            yield from _walk(setting_.type, value, sub)
        elif _is_table(setting_.type) and value:
            for key, item in value.items():
                yield (*sub, key), item
        else:
            yield sub, value


def _plain(value: Any) -> Any:
    """Dataclasses turned into dicts, so a value can be written as TOML or JSON."""
    if _is_section(type(value)):
        return {name: _plain(getattr(value, name)) for name in _settings(type(value))}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def as_dict(config: Any) -> dict[str, Any]:
    """A config (or one section) as the nested tables a TOML file would hold."""
    # Config's own `project` and `sources` are not settings, so `_plain` leaves them out.
    return _plain(config)


# ---------------------------------------------------------------------------------------
# Settings named by a dotted key or an environment variable.


class _Target(NamedTuple):
    path: _Path
    setting: _Setting
    entry: bool
    """True when `path` names one entry of a dict field rather than the field."""

    @property
    def type(self) -> Any:
        return get_args(self.setting.type)[1] if self.entry else self.setting.type

    def put(self, value: Any, out: dict) -> None:
        if self.entry:
            out[self.path] = _convert(self.type, value, self.setting.meta, self.path)
        else:
            _put(self.setting, value, self.path, out)


def _resolve(parts: list[str], join: str) -> _Target:
    """The setting named by `parts`; what follows a dict field's name is one entry key."""
    cls: type = Config
    path: _Path = ()
    for i, part in enumerate(parts):
        settings = _settings(cls)
        setting_ = settings.get(part)
        if setting_ is None:
            raise _unknown(settings, (*path, part), is_table=not path)
        path = (*path, part)
        rest = parts[i + 1 :]
        if not rest:
            return _Target(path, setting_, entry=False)
        if _is_section(setting_.type):
            cls = setting_.type
        elif _is_table(setting_.type):
            return _Target((*path, join.join(rest)), setting_, entry=True)
        else:
            raise _Invalid((*path, *rest), f"unknown key {'.'.join(parts)}", names_key=True)
    raise _Invalid((), "empty key", names_key=True)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _from_text(tp: Any, text: str, meta: Mapping[str, Any], path: _Path) -> Any:
    """A value given as text (an environment variable or a string flag), converted to
    `tp`; `_convert` checks it afterwards like any other value."""
    stripped = text.strip()
    if tp is str:
        return text
    if tp is bool:
        if stripped.lower() in _TRUE:
            return True
        if stripped.lower() in _FALSE:
            return False
        raise _Invalid(path, f"expected true or false (or yes/no, 1/0), got {_show(text)}")
    if tp is int:
        if re.fullmatch(r"[+-]?\d+", stripped):
            return int(stripped)
        raise _Invalid(path, f"expected an integer, got {_show(text)}")
    if tp is float:
        try:
            return float(stripped)
        except ValueError:
            raise _Invalid(path, f"expected a number, got {_show(text)}") from None
    if get_origin(tp) is list and not stripped.startswith("["):
        # "a, b, c" is easier to type in a shell than a TOML array.
        (item,) = get_args(tp)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        return [_from_text(item, part, meta, (*path, i)) for i, part in enumerate(parts)]
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        raise _Invalid(path, f"expected {_noun(tp)} in TOML syntax, got {_show(text)}") from None


# ---------------------------------------------------------------------------------------
# Layers.


def _read_toml(path: Path) -> tuple[str, dict[str, Any]] | None:
    """The text and the parsed table of a TOML file; None when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 (byte {exc.start})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_syntax_error(path, str(exc))) from None


def _file_error(path: Path, text: str, exc: _Invalid) -> ConfigError:
    line = _line_of(text, exc.path)
    return ConfigError(exc.render(f"{path}:{line}" if line else str(path)))


def _file_layer(path: Path, out: dict) -> bool:
    """Add a TOML file's settings to `out`; False when the file does not exist."""
    read = _read_toml(path)
    if read is None:
        return False
    text, table = read
    try:
        _section_leaves(Config, table, (), out)
    except _Invalid as exc:
        raise _file_error(path, text, exc) from None
    return True


def parse_table(cls: type[_T], table: Mapping[str, Any], where: str) -> _T:
    """Validate `table` against the dataclass `cls` with the same rules as the config
    (unknown keys, types, constraints, required fields) and build it. For other TOML
    data that has a schema; errors read `{where}: key: expected ...`."""
    try:
        return _record(cls, dict(table), ())
    except _Invalid as exc:
        raise ConfigError(exc.render(where)) from None


def load_toml(cls: type[_T], path: Path) -> _T | None:
    """`parse_table` for a TOML file, with its errors naming the file and line; None
    when the file does not exist."""
    read = _read_toml(Path(path))
    if read is None:
        return None
    text, table = read
    try:
        return _record(cls, table, ())
    except _Invalid as exc:
        raise _file_error(Path(path), text, exc) from None


def _toml_syntax_error(path: Path, message: str) -> str:
    # tomllib puts the position in the message only: "... (at line 3, column 9)".
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if not found:
        return f"{path}: invalid TOML: {message}"
    reason = message[: found.start()]
    reason = reason[:1].lower() + reason[1:]
    return f"{path}:{found[1]}: invalid TOML: {reason} (column {found[2]})"


# Patterns for finding a key's line; kept as strings so that a valid config, the only
# kind most start-ups see, never pays for compiling them.
_TOML_KEY = r"""[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'"""
_HEADER = rf"""\s*(\[\[?)\s*((?:{_TOML_KEY}|[\s.])+?)\s*\]\]?\s*(?:#.*)?$"""
_KEY_LINE = rf"""\s*((?:{_TOML_KEY})(?:\s*\.\s*(?:{_TOML_KEY}))*)\s*="""


def _key_parts(text: str) -> tuple[str, ...]:
    return tuple(part.strip("\"'") for part in re.findall(_TOML_KEY, text))


def _line_of(text: str, path: _Path) -> int | None:
    """The line where `path` (or failing that, the nearest enclosing key or table) is
    written. tomllib does not report where keys are, so errors scan the text; this never
    runs when the config is valid."""
    for length in range(len(path), 0, -1):
        line = _scan_for(text, path[:length])
        if line is not None:
            return line
    return None


def _scan_for(text: str, wanted: _Path) -> int | None:
    table: _Path = ()
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


def _env_layer(env: Mapping[str, str], out: dict, sources: dict) -> None:
    for name in sorted(env):
        rest = name[len(ENV_PREFIX) :]
        if not name.startswith(ENV_PREFIX) or "__" not in rest:
            continue
        parts = [part.lower() for part in rest.split("__")]
        leaves: dict[_Path, Any] = {}
        target = None
        try:
            target = _resolve(parts, join="__")
            target.put(_from_text(target.type, env[name], target.setting.meta, target.path), leaves)
        except _Invalid as exc:
            implied = target.path if target else None
            raise ConfigError(exc.render(f"environment {name}", implied=implied)) from None
        out.update(leaves)
        sources.update(dict.fromkeys(leaves, f"env {name}"))


def _flag_layer(flags: Mapping[str, Any], out: dict, sources: dict) -> None:
    for key, value in flags.items():
        if value is None:  # a flag that was not given
            continue
        leaves: dict[_Path, Any] = {}
        target = None
        try:
            target = _resolve(key.split("."), join=".")
            value = _from_flag(value)
            if isinstance(value, str) and target.type is not str:
                value = _from_text(target.type, value, target.setting.meta, target.path)
            target.put(value, leaves)
        except _Invalid as exc:
            implied = target.path if target else None
            raise ConfigError(exc.render(f"flag {key}", implied=implied)) from None
        out.update(leaves)
        sources.update(dict.fromkeys(leaves, "flag"))


def _from_flag(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def load_config(
    project: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge every layer into a validated `Config`; raise ConfigError on the first problem.

    `project` is --project (default: the git root of the working directory, else the
    directory). `env` supplies the HARNESS_<SECTION>__<KEY> variables (default:
    os.environ); where the user file lives follows the process environment
    (XDG_CONFIG_HOME), like every other path of the application.
    """
    if project is not None and not Path(project).expanduser().is_dir():
        raise ConfigError(f"project directory {project} does not exist")
    root = paths.find_project(project)
    env = os.environ if env is None else env

    leaves: dict[_Path, Any] = {}
    sources: dict[_Path, str] = {}
    user_file = paths.user_config_file()
    project_file = paths.project_config_file(root)
    files = [
        (paths.default_config_file(), "default"),
        (user_file, f"user file {user_file}"),
        (project_file, f"project file {project_file}"),
    ]
    for path, label in files:
        layer: dict[_Path, Any] = {}
        if not _file_layer(path, layer) and label == "default":
            raise ConfigError(f"{path}: the packaged defaults are missing; reinstall harness-tui")
        leaves.update(layer)
        sources.update(dict.fromkeys(layer, label))
    _env_layer(env, leaves, sources)
    _flag_layer(flags or {}, leaves, sources)

    config = Config(project=root, **_build(Config, leaves, ()))
    for path, _ in _walk(Config, config):
        config.sources[_dotted(path)] = sources.get(path, "default")
    return config


# ---------------------------------------------------------------------------------------
# Showing.


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_repr(key)


def _toml_repr(value: Any) -> str:
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
        return "[" + ", ".join(_toml_repr(item) for item in value) + "]"
    if isinstance(value, dict) or _is_section(type(value)):
        table = _plain(value)
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_repr(v)}" for k, v in table.items()) + "}"
    return str(value)


def format_config(config: Config, as_json: bool = False) -> str:
    """Every setting with the layer it came from, as commented TOML-like lines grouped by
    section, or as JSON: {"project", "store_url", "values": {key: {"value", "source"}}}."""
    rows = [
        (_dotted(path), value, config.sources.get(_dotted(path), "default"))
        for path, value in _walk(Config, config)
    ]
    if as_json:
        import json

        document = {
            "project": str(config.project),
            "store_url": config.store_url,
            "values": {
                key: {"value": _plain(value), "source": source} for key, value, source in rows
            },
        }
        return json.dumps(document, indent=2, ensure_ascii=False)
    lines: list[str] = []
    section = None
    for key, value, source in rows:
        if section is not None and key.split(".")[0] != section:
            lines.append("")
        section = key.split(".")[0]
        lines.append(f"{key} = {_toml_repr(value)}  # {source}")
    lines += ["", f"project = {_toml_repr(str(config.project))}"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Writing, with the user's comments and key order kept.


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
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        text, mode = "", 0o644
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = tomlkit.parse(text)
    except ParseError as exc:
        reason = re.sub(r" at line \d+ col \d+$", "", str(exc))
        raise ConfigError(f"{path}:{exc.line}: invalid TOML: {reason}") from None
    mutate(document)
    _write_atomically(path, tomlkit.dumps(document), mode)


def _write_atomically(path: Path, text: str, mode: int) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file sits next to the target so os.replace never crosses devices.
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def set_config_value(path: Path, key: str, value: Any) -> None:
    """Set dotted `key` in the config file at `path`, validated against the schema first
    (a string is converted as an environment value would be), keeping everything else."""
    path = Path(path)
    try:
        target = _resolve(key.split("."), join=".")
        value = _from_flag(value)
        if isinstance(value, str) and target.type is not str:
            value = _from_text(target.type, value, target.setting.meta, target.path)
        if _is_section(target.type) and not target.entry:
            target.put(value, {})  # checks every key of the table
            stored = value
        else:
            stored = _plain(_convert(target.type, value, target.setting.meta, target.path))
    except _Invalid as exc:
        raise ConfigError(exc.render(str(path))) from None

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
                where = _dotted(target.path[: depth + 1])
                raise ConfigError(f"{path}: {where}: expected a table, found a value")
        table[target.path[-1]] = stored

    update_toml(path, mutate)
