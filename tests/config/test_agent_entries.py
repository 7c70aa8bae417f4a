"""`[agents.NAME]`: a file's entry for a built-in agent changes the keys it sets and
keeps the rest of the built-in; a new entry is whole from its own keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_tui.config import BUILTIN_AGENTS, ConfigError, load_config


def _config(tmp_path: Path, text: str):
    (tmp_path / ".harness").mkdir()
    (tmp_path / ".harness" / "config.toml").write_text(text)
    return load_config(project=tmp_path, flags={}, env={})


def test_changing_a_built_in_agents_command_keeps_its_protocol_and_variables(tmp_path):
    config = _config(tmp_path, '[agents.claude]\ncommand = "/opt/claude/bin/claude"\n')
    claude = config.agents["claude"]
    assert claude.command == "/opt/claude/bin/claude"
    assert claude.protocol == "claude"
    assert claude.pass_env == BUILTIN_AGENTS["claude"].pass_env
    assert "ANTHROPIC_API_KEY" in claude.pass_env
    # The other built-ins are all still there.
    assert set(BUILTIN_AGENTS) <= set(config.agents)


def test_a_new_agent_is_built_from_its_own_keys(tmp_path):
    config = _config(
        tmp_path, '[agents.mine]\nprotocol = "codex"\ncommand = "my-codex"\nargs = ["app-server"]\n'
    )
    mine = config.agents["mine"]
    assert (mine.protocol, mine.command, mine.args, mine.pass_env) == (
        "codex",
        "my-codex",
        ["app-server"],
        [],
    )


def test_an_unknown_protocol_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError) as refused:
        _config(tmp_path, '[agents.mine]\nprotocol = "telnet"\ncommand = "x"\n')
    assert "agents.mine.protocol" in str(refused.value)
