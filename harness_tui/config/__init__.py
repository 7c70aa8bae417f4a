"""Typed, layered, validated configuration.

- `schema`: the sections, one frozen dataclass each, and `setting()` for constraints.
- `loading`: the layers (defaults < user file < project file < HARNESS_<SECTION>__<KEY>
  variables < flags) merged into a `Config`, with where each value came from;
  `check_config` lists every problem at once.
- `fields`: the schema as the validator reads it (settings, key paths, plain tables).
- `validate`: checking values against the schema, all problems of a table together.
- `overrides`: settings named by a dotted key or a variable, values given as text.
- `toml_text`: a value written as TOML, and the line where a key is written.
- `writing`: comment-keeping edits of TOML files (`update_toml`, `set_config_value`).
- `show`: `format_config`, the merged config as `config show` prints it.
- `keymap`: the dashboard's key bindings as plain data; their ids are what `[keys]`
  accepts, and the TUI builds its Bindings from them.
- `errors`: `ConfigProblem` (one problem, with file, line and key) and `ConfigError`.

Everything other modules use is importable from `harness_tui.config` itself.
"""

from harness_tui.config.errors import ConfigError, ConfigProblem
from harness_tui.config.fields import as_dict
from harness_tui.config.loading import (
    ENV_PREFIX,
    check_config,
    config_files,
    load_config,
    load_toml,
)
from harness_tui.config.schema import (
    BUILTIN_AGENTS,
    BUILTIN_PRESETS,
    PROVIDER_NAMES,
    AgentConfig,
    AnthropicConfig,
    CompactionConfig,
    ConcurrencyConfig,
    Config,
    EngineConfig,
    GCConfig,
    GCGradeConfig,
    GCSignalsConfig,
    GitConfig,
    OpenAIConfig,
    PolicyConfig,
    PresetConfig,
    PriceConfig,
    ProjectConfig,
    ProviderConfig,
    SandboxConfig,
    ScriptedConfig,
    StoreConfig,
    SubagentsConfig,
    ToolsConfig,
    UIConfig,
    ValidationConfig,
    setting,
)
from harness_tui.config.show import format_config
from harness_tui.config.validate import parse_table
from harness_tui.config.writing import set_config_value, update_toml

__all__ = [
    "BUILTIN_AGENTS",
    "BUILTIN_PRESETS",
    "ENV_PREFIX",
    "PROVIDER_NAMES",
    "AnthropicConfig",
    "CompactionConfig",
    "ConcurrencyConfig",
    "Config",
    "ConfigError",
    "ConfigProblem",
    "EngineConfig",
    "GCConfig",
    "GCGradeConfig",
    "GCSignalsConfig",
    "GitConfig",
    "OpenAIConfig",
    "PolicyConfig",
    "SandboxConfig",
    "PresetConfig",
    "AgentConfig",
    "PriceConfig",
    "ProjectConfig",
    "ProviderConfig",
    "ScriptedConfig",
    "StoreConfig",
    "SubagentsConfig",
    "ToolsConfig",
    "UIConfig",
    "ValidationConfig",
    "as_dict",
    "check_config",
    "config_files",
    "format_config",
    "load_config",
    "load_toml",
    "parse_table",
    "set_config_value",
    "setting",
    "update_toml",
]
