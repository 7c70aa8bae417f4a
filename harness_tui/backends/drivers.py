"""The protocol drivers by name, imported only when a session needs one (the headless
runner starts without them)."""

from __future__ import annotations

from harness_tui.backends.agent import AgentConnection, AgentError, AgentSide, AgentSpec


def connect(spec: AgentSpec, side: AgentSide) -> AgentConnection:
    """A connection (not yet started) to the agent `spec` describes."""
    if spec.protocol == "acp":
        from harness_tui.backends.acp import AcpConnection

        return AcpConnection(spec, side)
    if spec.protocol == "claude":
        from harness_tui.backends.claude import ClaudeConnection

        return ClaudeConnection(spec, side)
    if spec.protocol == "codex":
        from harness_tui.backends.codex import CodexConnection

        return CodexConnection(spec, side)
    raise AgentError(f"agent {spec.name}: unknown protocol {spec.protocol!r}")
