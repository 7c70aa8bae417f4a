"""What the parts behind the Engine facade share, instead of the Engine itself.

The session loop, the task manager, worktree sessions and GC are handed this context:
the store, the config, the tools and the policy gate, the session-specific choices
made from them (system prompt, tools offered, step limit, workspace), and two
engine-wide hooks: live deltas out, and observers of every event a session appends.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness_tui.backends.base import Verdict
from harness_tui.config import Config
from harness_tui.engine.deltas import DeltaFeed
from harness_tui.engine.gate import PolicyGate
from harness_tui.engine.leases import LeaseKeeper
from harness_tui.engine.owner import machine, process_start_time
from harness_tui.engine.processes import LiveGroups
from harness_tui.engine.prompts import build_system_prompt
from harness_tui.engine.session import SessionState
from harness_tui.events import Event
from harness_tui.paths import artifacts_dir
from harness_tui.policy.env import scrub_env
from harness_tui.policy.redact import Redactor
from harness_tui.providers.base import ToolSpec
from harness_tui.sandbox import DANGER_FULL_ACCESS, Availability, Sandbox, build_sandbox, detect
from harness_tui.store import EventStore, LeaseHolder
from harness_tui.tools.base import Tool, ToolLimits
from harness_tui.tools.registry import builtin_tools

if TYPE_CHECKING:
    from harness_tui.gc.service import GCService


class EngineContext:
    def __init__(self, engine_id: str, config: Config, store: EventStore) -> None:
        self.engine_id = engine_id
        self.config = config
        self.store = store
        self.project = config.project
        self.artifacts_root = artifacts_dir(self.project)
        self.tools: dict[str, Tool] = builtin_tools()
        self.tool_limits = ToolLimits(
            bash_timeout_s=config.tools.bash_timeout_s,
            output_limit_bytes=config.tools.output_limit_bytes,
            max_read_lines=config.tools.max_read_lines,
            output_store_max_bytes=config.tools.output_store_max_bytes,
        )
        self.deltas = DeltaFeed()
        self._environ = dict(os.environ)
        self._env = scrub_env(self._environ, allow=config.policy.allow_env)
        # Loads the rules now, so a broken policy file stops start-up with its name.
        self.gate = PolicyGate(self.project)
        self.redactor = Redactor(os.environ)
        self._observers: list[Callable[[Event], None]] = []
        self._failure_listeners: list[Callable[[str, str], None]] = []
        # The process groups of the commands tool calls run right now.
        self.live_groups = LiveGroups()
        self.host = config.control.host or machine()
        pid = os.getpid()
        self.leases = LeaseKeeper(
            store,
            LeaseHolder(engine_id, self.host, pid, process_start_time(pid)),
            config.control.lease_s,
        )

    # -- hooks ---------------------------------------------------------------------

    def add_observer(self, observer: Callable[[Event], None]) -> None:
        """Call `observer` with every event a session of this engine appended."""
        self._observers.append(observer)

    def observe(self, event: Event) -> None:
        for observer in self._observers:
            observer(event)

    def add_failure_listener(self, listener: Callable[[str, str], None]) -> None:
        """Call `listener(session_id, message)` when a session stops because its log
        cannot be written: no event can say so, so faces hear of it here."""
        self._failure_listeners.append(listener)

    def session_failed(self, session_id: str, message: str) -> None:
        for listener in self._failure_listeners:
            listener(session_id, message)

    def publish_delta(
        self, session_id: str, stream: str, text: str, *, call_id: str | None = None
    ) -> None:
        self.deltas.publish(session_id, stream, text, call_id=call_id)

    @cached_property
    def gc(self) -> GCService:
        """Signals, drafts, grades, retention and code rules (loaded when first used)."""
        from harness_tui.gc.service import GCService

        return GCService(self)

    def loaded_gc(self) -> GCService | None:
        """The GC service if something used it, without loading it."""
        gc: GCService | None = self.__dict__.get("gc")
        return gc

    # -- what GC needs from its host -----------------------------------------------

    def reload_policy(self) -> None:
        self.gate.reload()

    def tool_env(self) -> dict[str, str]:
        """The engine's environment scrubbed of secrets: what commands get when nothing
        confines them by choice (danger-full-access)."""
        return dict(self._env)

    # -- the sandbox ---------------------------------------------------------------

    @cached_property
    def sandbox_availability(self) -> Availability:
        """Whether bubblewrap works here (probed once, when first needed)."""
        return detect(self.config.sandbox.bwrap)

    def sandbox(self, mode: str, network: bool, workspace: Path) -> Sandbox:
        """What commands in `workspace` run inside, in sandbox `mode`."""
        settings = self.config.sandbox
        available = (
            Availability(None, "") if mode == DANGER_FULL_ACCESS else self.sandbox_availability
        )
        return build_sandbox(
            mode,
            network=network,
            workspace=workspace,
            environ=self._environ,
            bwrap=available.bwrap,
            unavailable=available.reason,
            read=settings.read,
            write=settings.write,
            env_names=(*settings.env, *self.config.policy.allow_env),
            unconfined_env=self._env,
        )

    def sandbox_choice(self, state: SessionState) -> tuple[str, bool]:
        """The session's sandbox mode and network, as recorded when it started (the
        config's for a session logged before sandboxes)."""
        if state.sandbox_mode is not None:
            return state.sandbox_mode, state.sandbox_network
        return self.config.sandbox.mode, self.config.sandbox.network

    def sandbox_for(self, state: SessionState) -> Sandbox:
        """What the session's commands (bash, tasks, validation, guards) run inside."""
        mode, network = self.sandbox_choice(state)
        return self.sandbox(mode, network, self.workspace_path(state))

    # -- per session ---------------------------------------------------------------

    def judge(self, state: SessionState, tool: str, args: dict[str, Any]) -> Verdict:
        mode = state.approval_mode or self.config.policy.approval_mode
        if state.backend:
            # An external agent runs what it asks for itself, outside our sandbox.
            return self.gate.judge_agent(tool, args, self.workspace_path(state), mode)
        return self.gate.judge(
            tool, args, self.workspace_path(state), mode, sandbox=self.sandbox_for(state)
        )

    def system_prompt(self, state: SessionState) -> str:
        return build_system_prompt(state, self.tools, extra=self.config.engine.system_prompt)

    def tool_specs(self, state: SessionState) -> tuple[ToolSpec, ...]:
        """All tools, or a subagent preset's; spawn_subagent only above the depth limit."""
        names = list(self.tools)
        preset = self.config.presets.get(state.preset or "")
        if preset is not None:
            names = [n for n in preset.tools if n in self.tools] if preset.tools else names
        if (
            state.depth >= self.config.subagents.max_depth
            or preset is not None
            and not preset.tools
        ):
            names = [n for n in names if n != "spawn_subagent"]
        return tuple(self.tools[name].spec for name in names)

    def max_steps(self, state: SessionState) -> int:
        preset = self.config.presets.get(state.preset or "")
        return preset.max_steps if preset is not None else self.config.engine.max_steps

    def workspace_path(self, state: SessionState) -> Path:
        return Path(state.workspace or self.project)
