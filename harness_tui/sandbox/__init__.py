"""The sandbox: what the agent's shell commands run inside (Linux: bubblewrap).

Pure where it can be: `bwrap` builds the command line from `Mounts`, `env` the
environment from an allowlist; `layout` reads the few facts those need (a worktree's
`.git` file, the homes to hide) and `detect` probes once whether bubblewrap works here.
`Sandbox` puts them together for one session. Nothing here starts a command: the bash
tool, validation and the code-rule guards run what `Sandbox.argv` gives them.
"""

from harness_tui.sandbox.confine import Sandbox, build_sandbox
from harness_tui.sandbox.detect import Availability, detect
from harness_tui.sandbox.env import allowlisted_env
from harness_tui.sandbox.modes import (
    DANGER_FULL_ACCESS,
    DEFAULT_MODE,
    MODES,
    READ_ONLY,
    WORKSPACE_WRITE,
    check_mode,
)

__all__ = [
    "DANGER_FULL_ACCESS",
    "DEFAULT_MODE",
    "MODES",
    "READ_ONLY",
    "WORKSPACE_WRITE",
    "Availability",
    "Sandbox",
    "allowlisted_env",
    "build_sandbox",
    "check_mode",
    "detect",
]
