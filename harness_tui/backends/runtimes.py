"""Which agent a session runs on: its `[agents.NAME]` entry made into an `AgentSpec`,
with the clean environment the agent gets.

An agent gets PATH, HOME, locale, terminal and temp-dir variables, the variables its
entry's `pass_env` names (its model endpoint and key, when set) and its entry's `env`:
nothing else of ours, so another tool's AI key never reaches it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from harness_tui.backends.agent import AgentError, AgentSpec
from harness_tui.config import AgentConfig, Config

# What every agent gets from our environment, when set: enough to find programs, its
# own configuration under HOME, and to print.
BASE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "TMPDIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
)


def agent_entry(config: Config, name: str) -> AgentConfig:
    """The agent's entry; AgentError naming the known ones when there is none."""
    entry = config.agents.get(name)
    if entry is None:
        known = ", ".join(sorted(config.agents))
        raise AgentError(f"unknown agent {name!r}: expected one of {known} ([agents.NAME])")
    return entry


def agent_env(entry: AgentConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    env = {name: environ[name] for name in (*BASE_ENV, *entry.pass_env) if name in environ}
    env.update(entry.env)
    return env


def agent_argv(name: str, entry: AgentConfig) -> tuple[str, ...]:
    if not entry.command:
        raise AgentError(f"agent {name}: no command configured ([agents.{name}] command)")
    return (entry.command, *entry.args)


def agent_spec(
    config: Config,
    name: str,
    cwd: Path,
    *,
    resume_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentSpec:
    entry = agent_entry(config, name)
    return AgentSpec(
        name=name,
        protocol=entry.protocol,
        argv=agent_argv(name, entry),
        env=agent_env(entry, environ),
        cwd=cwd,
        model=entry.model,
        resume_id=resume_id,
    )


def find_command(entry: AgentConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """Where the entry's command is, on the PATH the agent would get; None if nowhere."""
    environ = os.environ if environ is None else environ
    path = {**{"PATH": environ.get("PATH", "")}, **entry.env}.get("PATH")
    return shutil.which(entry.command, path=path) if entry.command else None
