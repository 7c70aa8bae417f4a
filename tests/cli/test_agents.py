"""`harness-tui agents`: run as a user runs it, against fake agent executables on a PATH
of the test's own (tiny scripts that print a version, hang, or look at their HOME),
a real HOME holding credential files, and a project with its own agent configuration."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness_tui.backends.detect import RUNTIMES, credential_files, first_version
from harness_tui.cli.exitcodes import ExitCode
from tests.support.processes import group_alive, kill_group
from tests.support.projects import cli_env, harness_cmd
from tests.support.waiting import wait_until

BUILT_IN = ("claude", "codex", "opencode", "gemini", "claude-acp", "codex-acp")
KEY_VALUE = "sk-mine-0123456789-never-printed"
FILE_CONTENT = "codex-auth-file-content-never-printed"
SLEEP = shutil.which("sleep") or "/bin/sleep"
SETSID = shutil.which("setsid")


@dataclass
class World:
    project: Path
    bin: Path
    home: Path
    records: Path
    env: dict[str, str]

    def agents(self, *args: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, PATH=str(path or self.bin))
        return subprocess.run(
            harness_cmd("agents", *args, "--project", str(self.project)),
            cwd=self.project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)


def make_world(base: Path) -> World:
    bin_dir, home, project, records = (base / d for d in ("bin", "home", "project", "records"))
    for directory in (bin_dir, home, project, records):
        directory.mkdir()
    # Claude Code as the built-in entry finds it: by name, on PATH.
    script(bin_dir / "claude", 'echo "2.0.14 (Claude Code)"\n')
    # It prints its key, which must not reach our output: only the version is kept.
    script(bin_dir / "mine-agent", 'echo "mine-agent v0.9.1 key=$MINE_API_KEY"\n')
    # It leads its own group ($$), starts a child in it, and never answers.
    script(
        bin_dir / "hang-agent",
        f"""\
        echo $$ >> {records}/hang.pgid
        {SLEEP} 600 &
        wait
        """,
    )
    # It says which HOME it got, and whether the real one's credentials show through.
    script(
        bin_dir / "home-agent",
        f"""\
        echo "$HOME" > {records}/home
        echo "$XDG_CONFIG_HOME" >> {records}/home
        if [ -e "$HOME/.codex/auth.json" ]; then echo sees-real-home >> {records}/home; fi
        echo "home-agent 3.1.4"
        """,
    )
    # Like an npm launcher's daemon: a child in a session of its own, out of reach of
    # the group kill, holding the pipes open after the launcher has answered.
    script(
        bin_dir / "daemon-agent",
        f"""\
        {SETSID} {SLEEP} 600 &
        echo $! >> {records}/daemon.pid
        echo "daemon-agent 7.0.0"
        """,
    )
    (home / ".codex").mkdir()
    (home / ".codex" / "auth.json").write_text(FILE_CONTENT)
    (project / ".harness").mkdir()
    (project / ".harness" / "config.toml").write_text(
        textwrap.dedent(
            """\
            [agents.mine]
            command = "mine-agent"
            args = ["--acp"]
            pass_env = ["MINE_API_KEY", "MINE_BASE_URL"]
            description = "my own ACP agent"

            [agents.hang]
            command = "hang-agent"

            [agents.homey]
            command = "home-agent"

            [agents.daemon]
            command = "daemon-agent"
            """
        )
    )
    (project / "opencode.json").write_text("{}")
    (project / ".claude").mkdir()
    (project / ".claude" / "settings.json").write_text("{}")
    env = cli_env(base, HOME=str(home), MINE_API_KEY=KEY_VALUE, MINE_BASE_URL="http://x")
    return World(project, bin_dir, home, records, env)


def recorded(path: Path) -> list[int]:
    """The pids or groups a fake wrote down, one a line, over every run."""
    with contextlib.suppress(FileNotFoundError):
        return [int(line) for line in path.read_text().splitlines() if line.strip()]
    return []


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = make_world(tmp_path_factory.mktemp("agents"))
    yield world
    # Whatever a run failed to end, the test ends: nothing it started outlives it.
    for pgid in recorded(world.records / "hang.pgid"):
        kill_group(pgid)
    for pid in recorded(world.records / "daemon.pid"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def listed(world):
    """One `agents --json --timeout 1` run, its rows by name."""
    done = world.agents("--json", "--timeout", "1")
    return done, {row["name"]: row for row in json.loads(done.stdout or "[]")}


def test_json_lists_the_built_in_and_the_configured_agents(listed, world):
    done, rows = listed
    assert done.returncode == ExitCode.OK, done.stderr
    assert list(rows) == [*BUILT_IN, "mine", "hang", "homey", "daemon"]
    claude = rows["claude"]
    assert (claude["installed"], claude["status"], claude["version"]) == (True, "ok", "2.0.14")
    assert claude["path"] == str(world.bin / "claude")
    assert (claude["protocol"], claude["command"]) == ("claude", "claude")
    mine = rows["mine"]
    assert (mine["status"], mine["version"], mine["args"]) == ("ok", "0.9.1", ["--acp"])
    assert mine["description"] == "my own ACP agent"
    assert "error" not in mine


def test_a_missing_runtime_names_its_npm_package(listed):
    _, rows = listed
    codex = rows["codex"]
    assert (codex["installed"], codex["path"], codex["status"]) == (False, None, "missing")
    assert codex["package"] == "@openai/codex"
    assert "npm install -g @openai/codex" in codex["error"]


def test_auth_is_names_and_presence_never_values(listed):
    done, rows = listed
    assert rows["mine"]["auth"] == {"env": ["MINE_API_KEY"], "files": []}
    # Codex's login file is found in the real HOME whether or not Codex is installed.
    assert rows["codex"]["auth"] == {"env": [], "files": ["~/.codex/auth.json"]}
    assert rows["codex-acp"]["auth"]["files"] == ["~/.codex/auth.json"]
    assert KEY_VALUE not in done.stdout + done.stderr
    assert FILE_CONTENT not in done.stdout + done.stderr


def test_the_projects_own_agent_configuration_is_found(listed):
    _, rows = listed
    assert rows["opencode"]["project_config"] == ["opencode.json"]
    assert rows["claude"]["project_config"] == [".claude/settings.json"]
    assert rows["claude-acp"]["project_config"] == [".claude/settings.json"]
    assert rows["codex"]["project_config"] == []
    assert rows["mine"]["project_config"] == []


def test_a_hanging_agent_times_out_and_its_group_is_killed(listed, world):
    _, rows = listed
    hang = rows["hang"]
    assert (hang["installed"], hang["status"], hang["version"]) == (True, "timeout", None)
    assert "within 1s" in hang["error"]
    groups = recorded(world.records / "hang.pgid")
    assert groups
    # The leader and the sleep it started: the whole group, not the leader alone.
    wait_until(
        lambda: not any(group_alive(pgid) for pgid in groups),
        timeout=5,
        message=f"groups {groups} to end",
    )


@pytest.mark.skipif(SETSID is None, reason="needs setsid(1)")
def test_a_child_holding_the_pipes_does_not_hold_up_the_answer(listed):
    # asyncio's Process.wait() would wait for the pipes the daemon holds, for ever.
    _, rows = listed
    assert (rows["daemon"]["status"], rows["daemon"]["version"]) == ("ok", "7.0.0")


def test_the_version_run_gets_a_sandboxed_home(listed, world):
    _, rows = listed
    assert (rows["homey"]["status"], rows["homey"]["version"]) == ("ok", "3.1.4")
    home, xdg_config, *rest = (world.records / "home").read_text().splitlines()
    assert Path(home) != world.home
    assert not Path(home).is_relative_to(world.home)
    assert Path(xdg_config).is_relative_to(home)
    assert rest == []  # the real HOME's credentials were not visible
    # The sandbox is gone once the run is over.
    assert not Path(home).exists()


def test_the_table_has_a_row_per_agent_and_the_install_hints(world, tmp_path):
    done = world.agents("--timeout", "1")
    assert done.returncode == ExitCode.OK, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PROTOCOL", "STATUS", "VERSION", "AUTH", "COMMAND"]
    by_name = {line.split()[0]: line.split() for line in lines[1:11]}
    assert by_name["claude"][:4] == ["claude", "claude", "ok", "2.0.14"]
    assert by_name["mine"] == ["mine", "acp", "ok", "0.9.1", "MINE_API_KEY", "mine-agent", "--acp"]
    assert by_name["codex"][:5] == ["codex", "codex", "missing", "-", "login"]
    assert by_name["hang"][:4] == ["hang", "acp", "timeout", "-"]
    assert "  codex       @openai/codex" in lines
    assert "agent hang: `hang-agent --version` gave no answer within 1s" in lines
    assert KEY_VALUE not in done.stdout + done.stderr


def test_nothing_installed_is_still_a_listing(world, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = world.agents("--json", path=empty)
    assert done.returncode == ExitCode.OK, done.stderr
    rows = json.loads(done.stdout)
    assert {row["status"] for row in rows} == {"missing"}
    assert all(row["path"] is None and row["version"] is None for row in rows)


@pytest.mark.parametrize(
    ("output", "version"),
    [
        ("2.1.197 (Claude Code)\n", "2.1.197"),
        ("codex-cli 0.171.0\n", "0.171.0"),
        ("opencode v1.18.3-beta.2\n", "1.18.3-beta.2"),
        ("mine 1.2\n", "1.2"),
        ("no version here, 3 items\n", None),
    ],
)
def test_the_version_is_the_first_version_looking_token(output, version):
    assert first_version(output) == version


def test_credential_files_follow_the_variables_that_move_them(tmp_path):
    home, claude_dir, codex_dir = tmp_path / "home", tmp_path / "claude", tmp_path / "codex"
    for directory in (home / ".claude", claude_dir, codex_dir):
        directory.mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text("{}")
    (claude_dir / ".credentials.json").write_text("{}")
    (claude_dir / ".claude.json").write_text("{}")
    (codex_dir / "auth.json").write_text("{}")
    claude, codex = RUNTIMES["claude"], RUNTIMES["codex"]
    assert credential_files(claude, {"HOME": str(home)}) == ["~/.claude/.credentials.json"]
    moved = {"HOME": str(home), "CLAUDE_CONFIG_DIR": str(claude_dir)}
    assert credential_files(claude, moved) == [
        str(claude_dir / ".credentials.json"),
        str(claude_dir / ".claude.json"),
    ]
    assert credential_files(codex, {"HOME": str(home), "CODEX_HOME": str(codex_dir)}) == [
        str(codex_dir / "auth.json")
    ]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--timeout", "0"), "agents --timeout 0: expected 0 < seconds <= 600"),
        (("--timeout", "soon"), "agents: argument --timeout: invalid float value: 'soon'"),
        (("--jsn",), "unknown flag --jsn (did you mean --json?)"),
    ],
)
def test_usage_errors_exit_2(world, args, line):
    done = world.agents(*args)
    assert (done.returncode, done.stdout) == (ExitCode.USAGE, "")
    assert done.stderr == f"harness-tui: {line}\n"
