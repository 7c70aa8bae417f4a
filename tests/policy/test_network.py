"""Which commands need the network (policy.network), judged as the gate sees them: each
segment of the command, normalised by the shell analysis."""

from __future__ import annotations

import pytest

from harness_tui.policy.network import needs_network
from harness_tui.policy.shell import analyze


def networked(command: str) -> bool:
    return any(needs_network(seg.argv) for seg in analyze(command).segments)


@pytest.mark.parametrize(
    "command",
    [
        "curl -s https://example.com",
        "wget -q https://example.com/x.tar.gz",
        "git fetch origin",
        "git -C sub pull --rebase",
        "git push origin feature",
        "git clone https://github.com/a/b",
        "git ls-remote origin",
        "git submodule update --init",
        "pip install requests",
        "python3 -m pip install -r requirements.txt",
        "uv pip install httpx",
        "uv add httpx",
        "uv sync",
        "npm install",
        "npm publish",
        "pnpm add lodash",
        "yarn",
        "yarn add react",
        "ssh host uptime",
        "scp a.txt host:/tmp/",
        "rsync -a build/ deploy@host:/srv/app/",
        "nc -z example.com 443",
        "sudo curl x",
        "timeout 5 wget y",
        "echo $(curl -s https://example.com)",
        "cd sub && git push",
        "gh pr create --fill",
        "docker pull alpine",
        "cargo install ripgrep",
        "go get example.com/x",
    ],
)
def test_commands_that_reach_the_network_are_named(command):
    assert networked(command), command


@pytest.mark.parametrize(
    "command",
    [
        "ls -la",
        "git status",
        "git log --oneline",
        "git commit -m x",
        "git remote -v",
        "pip list",
        "pip install --no-index --find-links wheels/ x",
        "npm test",
        "yarn test",
        "uv run pytest",
        "rsync -a build/ backup/",
        "python3 -m pytest -q",
        "cargo build",
        "go test ./...",
        "echo curl",
    ],
)
def test_local_commands_are_not(command):
    assert not networked(command), command
