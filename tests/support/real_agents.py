"""How each real agent CLI is pointed at a loopback model server: the arguments and
environment a test gives it, and the files (a Codex home, an OpenCode config) it reads.

Each `*_setup(server, root)` writes what the agent needs under `root` and returns an
`AgentSetup`: the argv after the executable, and the environment entries (on top of
PATH and HOME) that the agent needs. The same setup serves a raw protocol test and an
`[agents.NAME]` entry for the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.loopback import LoopbackServer

# The model name each agent asks the loopback server for.
MODEL = "loop-model"


@dataclass(frozen=True)
class AgentSetup:
    # The whole argv after the executable, for a raw protocol test.
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # The arguments of an [agents.NAME] entry: the Claude driver adds its stream-json
    # flags itself; Codex and OpenCode get their subcommand from the entry.
    entry_args: list[str] = field(default_factory=list)


def claude_setup(server: LoopbackServer, root: Path) -> AgentSetup:
    """Claude Code in stream-json mode, asking us over stdio before each tool it runs."""
    config = root / "claude-config"
    config.mkdir(parents=True, exist_ok=True)
    return AgentSetup(
        args=[
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--permission-prompt-tool",
            "stdio",
        ],
        env={
            **server.env(),
            # Its own settings, sessions and shell snapshots, not the developer's.
            "CLAUDE_CONFIG_DIR": str(config),
            # No telemetry, update checks or side requests to a network that is not there.
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        },
        entry_args=[],
    )


def codex_setup(server: LoopbackServer, root: Path) -> AgentSetup:
    """`codex app-server` with a provider at the loopback server (Responses API)."""
    home = root / "codex-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{MODEL}"\n'
        'model_provider = "loop"\n'
        "\n"
        "[model_providers.loop]\n"
        'name = "loop"\n'
        f'base_url = "{server.base_url}"\n'
        'env_key = "LOOP_API_KEY"\n'
        'wire_api = "responses"\n'
    )
    # Codex refuses to put its helper binaries under the temp dir when its home is in
    # it (pytest's tmp_path is): give it a temp dir of its own beside the home.
    tmp = root / "codex-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return AgentSetup(
        args=["app-server"],
        env={"CODEX_HOME": str(home), "LOOP_API_KEY": "loopback-key", "TMPDIR": str(tmp)},
        entry_args=["app-server"],
    )


def opencode_setup(server: LoopbackServer, root: Path) -> AgentSetup:
    """`opencode acp` with an OpenAI-compatible provider at the loopback server."""
    config = root / "opencode.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        json.dumps(
            {
                "$schema": "https://opencode.ai/config.json",
                "provider": {
                    "loop": {
                        "npm": "@ai-sdk/openai-compatible",
                        "name": "Loop",
                        "options": {"baseURL": server.base_url, "apiKey": "loopback-key"},
                        "models": {MODEL: {"name": "Loop model"}},
                    }
                },
                "model": f"loop/{MODEL}",
                "small_model": f"loop/{MODEL}",
                # OpenCode runs bash and edits unasked by default.
                "permission": {"bash": "ask", "edit": "ask"},
                "autoupdate": False,
                "share": "disabled",
            },
            indent=2,
        )
    )
    return AgentSetup(args=["acp"], env={"OPENCODE_CONFIG": str(config)}, entry_args=["acp"])
