"""The engine side imports without Textual, and headless runs stay light."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.projects import QUICK_DEMO_ENV, cli_env, demo_repo

ENGINE_SIDE = [
    "harness_tui.engine",
    "harness_tui.engine.engine",
    "harness_tui.engine.loop",
    "harness_tui.store",
    "harness_tui.store.sqlite",
    "harness_tui.store.postgres",
    "harness_tui.policy",
    "harness_tui.providers",
    "harness_tui.providers.scripted",
    "harness_tui.providers.anthropic",
    "harness_tui.providers.openai",
    "harness_tui.tools",
    "harness_tui.tools.registry",
    "harness_tui.gc",
    "harness_tui.cli.exec",
    "harness_tui.cli.agents",
    "harness_tui.backends.detect",
    "harness_tui.events",
    "harness_tui.config",
    "harness_tui.cli",
]


def loaded_after(code: str, **kwargs) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'anthropic', 'openai') or m.startswith('harness_tui.tui'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, **kwargs
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", ENGINE_SIDE)
def test_engine_side_module_imports_without_textual(module):
    loaded = loaded_after(f"import {module}")
    assert not [m for m in loaded if m.startswith(("textual", "harness_tui.tui"))], loaded


def test_a_scripted_exec_run_imports_neither_textual_nor_the_sdks(tmp_path):
    repo = demo_repo(tmp_path / "repo")
    code = (
        "from harness_tui.cli import main\n"
        "try:\n"
        f"    main(['--exec', 'fix it', '--provider', 'scripted', '--approval-mode', 'auto', '--project', {str(repo)!r}])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    assert loaded_after(code, cwd=repo, env=cli_env(tmp_path, **QUICK_DEMO_ENV)) == []
