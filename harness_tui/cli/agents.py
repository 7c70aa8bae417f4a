"""`harness-tui agents [--json] [--timeout S]`: every `[agents.NAME]` entry, whether its
runtime is installed and which version, how it is authenticated (names of key
variables and credential files, never their content), and which of its own
configuration files the project has. A listing: it exits 0 whatever it finds."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, TextIO

from harness_tui.backends.detect import (
    DEFAULT_TIMEOUT_S,
    INSTALLED,
    MISSING,
    Detection,
    detect_agents,
)
from harness_tui.cli.exitcodes import ExitCode

if TYPE_CHECKING:
    from harness_tui.config import Config

# Detection that takes longer than this gets a progress line on a terminal's stderr.
PROGRESS_AFTER_S = 0.5
# On a narrow terminal the command is cut, but to no less than this.
MIN_COMMAND_WIDTH = 12


def run(args: argparse.Namespace, config: Config) -> int:
    timeout = DEFAULT_TIMEOUT_S if args.timeout is None else args.timeout
    return asyncio.run(_run(config, as_json=args.json, timeout=timeout))


async def _run(
    config: Config,
    *,
    as_json: bool,
    timeout: float,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    detecting = asyncio.create_task(detect_agents(config.agents, config.project, timeout=timeout))
    found = await _with_progress(detecting, len(config.agents), timeout, err)
    if as_json:
        out.write(json.dumps([d.to_dict() for d in found], indent=2) + "\n")
        return ExitCode.OK
    width = shutil.get_terminal_size().columns if out.isatty() else None
    for line in table(found, width):
        out.write(line + "\n")
    return ExitCode.OK


async def _with_progress(
    detecting: asyncio.Task[list[Detection]], count: int, timeout: float, err: TextIO
) -> list[Detection]:
    """The detection's result; meanwhile, on a terminal, one line saying what it waits
    for once it takes long enough to notice, erased when it is done."""
    done, _ = await asyncio.wait([detecting], timeout=PROGRESS_AFTER_S)
    if done or not err.isatty():
        return await detecting
    err.write(f"asking {count} agents for their version (at most {timeout:g}s)…")
    err.flush()
    try:
        return await detecting
    finally:
        err.write("\r\x1b[K")
        err.flush()


def table(found: list[Detection], width: int | None = None) -> list[str]:
    """The listing as lines: the table, then what is missing and how to install it, the
    errors, and the project's own agent configuration. On a terminal `width` columns
    wide, the last column is cut to fit."""
    rows = [("NAME", "PROTOCOL", "STATUS", "VERSION", "AUTH", "COMMAND")]
    rows += [
        (d.name, d.protocol, d.status, d.version or "-", auth(d), command_line(d)) for d in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row in rows:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  "
        lines.append(head + _cut(row[5], None if width is None else width - len(head)))
    missing = [d for d in found if d.status == MISSING and d.package]
    if missing:
        lines += ["", "not installed (npm install -g PACKAGE):"]
        name_width = max(len(d.name) for d in missing)
        lines += [f"  {d.name.ljust(name_width)}  {d.package}" for d in missing]
    failed = [d for d in found if d.status != INSTALLED and d not in missing and d.error]
    if failed:
        lines += ["", *(d.error or "" for d in failed)]
    configs: dict[str, list[str]] = {}
    for d in found:
        for path in d.project_config:
            configs.setdefault(path, []).append(d.name)
    if configs:
        lines += ["", "the project's own agent configuration (each agent reads it itself):"]
        path_width = max(len(path) for path in configs)
        lines += [
            f"  {path.ljust(path_width)}  {', '.join(names)}" for path, names in configs.items()
        ]
    if any(d.auth_env or d.auth_files for d in found):
        lines += [
            "",
            "AUTH: key variables the agent gets (names only); login: its own credential",
            "file exists under HOME (`--json` names the files).",
        ]
    return lines


def auth(found: Detection) -> str:
    """Names of the key variables, and `login` for a credential file; `-` for none."""
    parts = [*found.auth_env, *(["login"] if found.auth_files else [])]
    return ",".join(parts) or "-"


def command_line(found: Detection) -> str:
    """The command as configured, with its arguments; `-` for none."""
    return shlex.join([found.command, *found.args]) if found.command else "-"


def _cut(text: str, room: int | None) -> str:
    if room is None or len(text) <= room:
        return text
    room = max(room, MIN_COMMAND_WIDTH)
    return text if len(text) <= room else text[: room - 1] + "…"
