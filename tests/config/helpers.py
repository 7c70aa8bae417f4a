"""Helpers of the config tests: files in a project, and the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def is_config_variable(name: str) -> bool:
    return name.startswith("HARNESS_") and "__" in name[len("HARNESS_") :]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def project_file(project: Path, text: str) -> Path:
    return write(project / ".harness" / "config.toml", text)


def run_cli(*args: str, xdg: Path, cwd: Path, env: dict[str, str] | None = None):
    clean = {name: value for name, value in os.environ.items() if not is_config_variable(name)}
    clean["XDG_CONFIG_HOME"] = str(xdg)
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "harness_tui", *args],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
