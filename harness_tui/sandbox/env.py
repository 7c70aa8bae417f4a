"""The environment a confined command gets: built from an allowlist of names, never the
engine's own environment minus a denylist. A variable nobody thought of (a cloud
token under an unusual name, the engine's own settings) stays out by default."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# What shells, compilers and test runners need to behave as in the user's terminal:
# where programs are, who and where the user is, the locale, the terminal, the time zone.
BASE_NAMES = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "TZ",
    "TMPDIR",
    # Settings that change how output looks or whether caches are written, never secrets:
    # a user who set them expects the agent's commands to follow them too.
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLUMNS",
    "LINES",
    "PAGER",
    "CI",
)
# Every locale variable (LC_ALL, LC_CTYPE, …) is passed.
BASE_PREFIXES = ("LC_",)

# A command with no PATH at all could not find bash's helpers.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def allowlisted_env(
    environ: Mapping[str, str],
    extra_names: Iterable[str] = (),
    *,
    home: str | None = None,
    tmpdir: str | None = "/tmp",
) -> dict[str, str]:
    """The variables of `environ` that BASE_NAMES, BASE_PREFIXES or `extra_names` (the
    config's `[sandbox] env` and `[policy] allow_env`) name. TMPDIR is set to `tmpdir`
    (the sandbox's private /tmp), HOME to `home` when given."""
    wanted = set(BASE_NAMES) | set(extra_names)
    env = {
        name: value
        for name, value in environ.items()
        if name in wanted or name.startswith(BASE_PREFIXES)
    }
    env.setdefault("PATH", DEFAULT_PATH)
    if home is not None:
        env["HOME"] = home
    if tmpdir is not None:
        env["TMPDIR"] = tmpdir
    return env
