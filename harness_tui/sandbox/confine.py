"""`Sandbox`: how one session's commands run. Confined under bubblewrap (the modes
read-only and workspace-write, when it works here), in the policy's fallback (the same
modes when it does not), or not at all (danger-full-access)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import harness_tui.sandbox.layout as layout
from harness_tui.sandbox.bwrap import Mounts, bwrap_args
from harness_tui.sandbox.env import allowlisted_env
from harness_tui.sandbox.modes import DANGER_FULL_ACCESS, READ_ONLY, check_mode


@dataclass(frozen=True)
class Sandbox:
    mode: str
    # Whether the session's commands may use the network (`[sandbox] network`).
    network: bool
    # The environment commands run with.
    env: Mapping[str, str] = field(default_factory=dict)
    # bwrap's path when commands are confined; None when they are not.
    bwrap: str | None = None
    workspace: str = ""
    homes: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    # Writable for one approved command (its writes outside the workspace), whatever
    # the mode.
    granted: tuple[str, ...] = ()
    resolver: tuple[str, ...] = ()
    # Why commands are not confined though the mode asks for it (no bwrap, no user
    # namespaces): the policy alone judges them, and unknown commands prompt.
    unavailable: str = ""

    def __post_init__(self) -> None:
        check_mode(self.mode)

    @property
    def confined(self) -> bool:
        return self.bwrap is not None

    @property
    def disabled(self) -> bool:
        """danger-full-access: the user chose no sandbox."""
        return self.mode == DANGER_FULL_ACCESS

    @property
    def fallback(self) -> bool:
        """A sandbox was wanted and cannot run: the policy must fail closed."""
        return not self.confined and not self.disabled

    def granting(self, *, network: bool = False, writes: Sequence[str] = ()) -> Sandbox:
        """The same sandbox, for one command a person approved: with the network if
        `network`, and able to write `writes` (paths outside the workspace; the folder
        each is in is made writable, or its nearest existing ancestor, never `/`)."""
        if not self.confined:
            return self
        return replace(
            self,
            network=self.network or network,
            granted=(*self.granted, *layout.write_grants(writes)),
        )

    def argv(
        self, argv: Sequence[str], *, cwd: Path | str, extra_read: Sequence[Path | str] = ()
    ) -> list[str]:
        """`argv` as it must be run: under bwrap when confined, else unchanged. `cwd` is
        where it runs (inside the sandbox, the same path); `extra_read` are paths it
        must see read-only besides (a guard script in a hidden project)."""
        if self.bwrap is None:
            return list(argv)
        workspace = Path(self.workspace)
        writable = self.mode != READ_ONLY
        git = layout.git_parts(workspace)
        own = layout.workspace_protection(workspace) if writable else ()
        mounts = Mounts(
            workspace=self.workspace,
            writable=writable,
            homes=self.homes,
            read=self.read,
            write=self.write,
            granted=self.granted,
            extra_read=layout.granted(str(path) for path in extra_read),
            git_visible=git.visible,
            git_writable=git.writable,
            protected=(*own, *git.protected),
            resolver=self.resolver,
        )
        options = bwrap_args(mounts, cwd=layout.real(cwd), network=self.network)
        return [self.bwrap, *options, "--", *argv]


def build_sandbox(
    mode: str,
    *,
    network: bool,
    workspace: Path | str,
    environ: Mapping[str, str],
    bwrap: str | None,
    unavailable: str = "",
    read: Sequence[str] = (),
    write: Sequence[str] = (),
    env_names: Sequence[str] = (),
    unconfined_env: Mapping[str, str] | None = None,
) -> Sandbox:
    """A session's sandbox. `bwrap`: the program `detect` found (None: it cannot run,
    and `unavailable` says why). `environ`: the engine's environment, of which only
    what the allowlist and `env_names` name is passed on; in danger-full-access the
    commands get `unconfined_env` instead (the engine's, scrubbed of secrets)."""
    check_mode(mode)
    if mode == DANGER_FULL_ACCESS:
        return Sandbox(mode, network, dict(unconfined_env or {}))
    # TMPDIR is the sandbox's private /tmp; unconfined, the user's own stays.
    env = allowlisted_env(environ, env_names, tmpdir="/tmp" if bwrap is not None else None)
    if bwrap is None:
        return Sandbox(mode, network, env, unavailable=unavailable or "no sandbox")
    return Sandbox(
        mode,
        network,
        env,
        bwrap=bwrap,
        workspace=layout.real(workspace),
        homes=layout.homes(environ),
        read=layout.granted(read),
        write=layout.granted(write),
        resolver=layout.resolver_dirs(),
    )
