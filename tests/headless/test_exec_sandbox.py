"""The sandbox, through real `--exec` runs of the scripted provider: what an agent's
command can reach, inline and as a background task, with the sandbox (the default) and
without it (danger-full-access); the fallback when bubblewrap cannot run; network for
one approved command; worktree sessions that still commit; a killed run's sandbox.

The command is a probe (a Python script in the workspace, so that no policy rule about
its text decides the outcome: the sandbox does) that tries each way out and prints what
happened as one `PROBE {json}` line. Canaries live outside /tmp (the sandbox has its own
/tmp, which would hide them anyway): a file the probe tries to change, a file in the
engine's HOME it tries to read. A loopback listener counts connections; a `sleep` of the
test's own is the process it tries to kill; a variable of the engine's environment is
the secret it looks for, in its own environment and in every /proc/*/environ.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness_tui.sandbox import detect
from tests.support.processes import group_alive, kill_group
from tests.support.projects import (
    cli_env,
    commit_all,
    ended,
    events_until,
    git,
    harness_cmd,
    init_repo,
    run_exec,
    snapshot,
    start_exec,
    write_script,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not detect().ok, reason=f"the sandbox cannot run here: {detect().reason}"
)

CANARY_VAR = "SANDBOX_TEST_CANARY"
CANARY_VALUE = "engine-env-canary-4417"
HOME_SECRET = "home-secret-canary-9021\n"

PROBE = r"""
import json, os, signal, socket

cfg = json.load(open("probe-config.json"))
out = {}


def attempt(name, action):
    try:
        action()
        out[name] = "ok"
    except Exception as exc:
        out[name] = f"{type(exc).__name__}: {exc}"


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


def read_home():
    with open(cfg["home_canary"]) as f:
        out["home_text"] = f.read()


def connect():
    with socket.create_connection(("127.0.0.1", cfg["port"]), timeout=5) as s:
        s.sendall(b"probe\n")


attempt("outside_write", lambda: append(cfg["outside"], "changed by the agent\n"))
attempt("home_read", read_home)
attempt("network", connect)
out["env"] = os.environ.get(cfg["env_name"])
seen = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if cfg["env_value"].encode() in f.read():
                    seen.append(pid)
        except OSError:
            pass
out["env_in_proc"] = seen
attempt("signal", lambda: os.kill(cfg["victim"], signal.SIGKILL))
attempt("harness_write", lambda: append(".harness/policy.toml", "# written by the agent\n"))
attempt("hooks_write", lambda: append(".git/hooks/pre-commit", "#!/bin/sh\necho hook\n"))
attempt("git_config_write", lambda: append(".git/config", "# written by the agent\n"))
attempt("workspace_write", lambda: append("agent-notes.txt", "notes\n"))
print("PROBE " + json.dumps(out), flush=True)
"""


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside /tmp, the workspace and the test's tmp_path: the canaries."""
    base = Path(tempfile.mkdtemp(prefix="harness-sandbox-test-", dir="/var/tmp"))
    try:
        (base / "home" / ".ssh").mkdir(parents=True)
        (base / "home" / ".ssh" / "id_canary").write_text(HOME_SECRET)
        (base / "outside.txt").write_text("original\n")
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


class Listener:
    """A TCP listener on loopback that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def victim() -> Iterator[subprocess.Popen]:
    """A process of the test's own, outside any sandbox: the probe tries to kill it."""
    proc = subprocess.Popen(["sleep", "120"])
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def probe_project(tmp_path: Path, outside: Path, listener: Listener, victim) -> Path:
    project = init_repo(tmp_path / "p")
    (project / "probe.py").write_text(PROBE)
    (project / "probe-config.json").write_text(
        json.dumps(
            {
                "outside": str(outside / "outside.txt"),
                "home_canary": str(outside / "home" / ".ssh" / "id_canary"),
                "port": listener.port,
                "env_name": CANARY_VAR,
                "env_value": CANARY_VALUE,
                "victim": victim.pid,
            }
        )
    )
    commit_all(project)
    return project


def probe_env(tmp_path: Path, outside: Path, **extra: str) -> dict[str, str]:
    """The engine's environment: its HOME holds the secret, a variable the canary."""
    return cli_env(tmp_path, HOME=str(outside / "home"), **{CANARY_VAR: CANARY_VALUE}, **extra)


def bash_script(tmp_path: Path, *commands: str, name: str = "s.toml", wait: bool = False) -> Path:
    body = ""
    for command in commands:
        body += (
            f'[[turn]]\ntext = "running"\n[[turn.tool_calls]]\nname = "bash"\n'
            f"arguments = {{ command = {json.dumps(command)} }}\n\n"
        )
    if wait:  # the command runs on as a task; its end wakes the agent for a last turn
        body += '[[turn]]\ntext = "waiting"\n\n'
    body += '[[turn]]\ntext = "done"\n'
    return write_script(tmp_path / name, body)


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def probe_result(events: list[dict]) -> dict:
    """The probe's report, from the tool's result or the task's output."""
    found = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.extend(
                line.removeprefix("PROBE ")
                for line in value.splitlines()
                if line.startswith("PROBE {")
            )
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for event in events:
        walk(event["data"])
    assert found, "the probe printed nothing"
    return json.loads(found[0])


def run_probe(
    tmp_path: Path, project: Path, env: dict[str, str], how: str, *flags: str
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    if how == "task":
        script = bash_script(tmp_path, "sleep 1 && python3 probe.py", wait=True)
        env = {**env, "HARNESS_TOOLS__INLINE_MS": "200"}
    else:
        script = bash_script(tmp_path, "python3 probe.py")
    done = run_exec(
        project,
        *("probe the sandbox", "--provider", "scripted", "--model", str(script)),
        *("--approval-mode", "auto", "--json", *flags),
        env=env,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)
    if how == "task":
        assert any(e["type"] == "task.completed" for e in events), "it did not run as a task"
    return done, events


def stored_events(project: Path) -> list[tuple[str, dict]]:
    with sqlite3.connect(project / ".harness" / "harness.db") as db:
        rows = db.execute("SELECT type, data FROM events ORDER BY position").fetchall()
    return [(kind, json.loads(data)) for kind, data in rows]


# -- what a command can reach ----------------------------------------------------------


@pytest.mark.parametrize("how", ["inline", "task"])
def test_a_sandboxed_command_reaches_nothing_outside_its_workspace(
    tmp_path, outside, listener, victim, how
):
    project = probe_project(tmp_path, outside, listener, victim)
    hooks_before = sorted(p.name for p in (project / ".git" / "hooks").iterdir())
    config_before = (project / ".git" / "config").read_text()
    done, events = run_probe(tmp_path, project, probe_env(tmp_path, outside), how)
    found = probe_result(events)

    # A file outside the workspace: read-only.
    assert "Read-only file system" in found["outside_write"]
    assert (outside / "outside.txt").read_text() == "original\n"
    # The real home: replaced by an empty one.
    assert found["home_read"].startswith("FileNotFoundError")
    assert "home_text" not in found
    # The network: none, not even loopback.
    assert found["network"] != "ok" and listener.accepted == 0
    # The engine's environment: neither inherited nor readable in /proc.
    assert found["env"] is None and found["env_in_proc"] == []
    # Processes outside: invisible, so they cannot be signalled.
    assert found["signal"].startswith("ProcessLookupError")
    assert victim.poll() is None
    # The harness's own files and git's hooks and config: read-only.
    for key in ("harness_write", "hooks_write", "git_config_write"):
        assert "Read-only file system" in found[key], (key, found[key])
    assert not (project / ".harness" / "policy.toml").exists()
    assert sorted(p.name for p in (project / ".git" / "hooks").iterdir()) == hooks_before
    assert (project / ".git" / "config").read_text() == config_before
    # The workspace itself: writable.
    assert found["workspace_write"] == "ok"
    assert (project / "agent-notes.txt").read_text() == "notes\n"

    assert "harness-tui: " not in done.stderr  # nothing to warn about: it is on
    created = next(e for e in events if e["type"] == "session.created")
    assert created["data"]["sandbox"] == {"mode": "workspace-write", "network": False}
    assert not [e for e in events if e["type"].startswith("sandbox.")]


@pytest.mark.parametrize("how", ["inline", "task"])
def test_danger_full_access_reaches_everything_and_says_so(
    tmp_path, outside, listener, victim, how
):
    project = probe_project(tmp_path, outside, listener, victim)
    env = probe_env(tmp_path, outside)
    done, events = run_probe(tmp_path, project, env, how, "--sandbox", "danger-full-access")
    found = probe_result(events)

    warnings = [line for line in done.stderr.splitlines() if "danger-full-access" in line]
    assert warnings == [
        "harness-tui: warning: no sandbox (danger-full-access): the agent's commands run "
        "with your full access to this machine"
    ]
    created = next(e for e in events if e["type"] == "session.created")
    assert created["data"]["sandbox"] == {"mode": "danger-full-access", "network": False}
    assert [e["type"] for e in events].count("sandbox.disabled") == 1

    assert found["outside_write"] == "ok"
    assert (outside / "outside.txt").read_text() == "original\nchanged by the agent\n"
    assert found["home_text"] == HOME_SECRET
    assert found["network"] == "ok"
    wait_until(lambda: listener.accepted == 1, message="the probe's connection")
    assert found["env"] == CANARY_VALUE and found["env_in_proc"]
    assert found["signal"] == "ok"
    assert victim.wait(timeout=10) == -signal.SIGKILL
    for key in ("harness_write", "hooks_write", "git_config_write", "workspace_write"):
        assert found[key] == "ok", (key, found[key])

    # The mode was chosen for the session: continued under the default config, its
    # commands still run unconfined, and the run says so again.
    session_id = created["session_id"]
    again = run_exec(project, "and now?", "--session", session_id, "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert warnings[0] in again.stderr.splitlines()
    assert "sandbox.disabled" in [e["type"] for e in json_events(again.stdout)]


def test_read_only_writes_nothing_and_file_edits_ask_first(tmp_path, outside, listener, victim):
    project = probe_project(tmp_path, outside, listener, victim)
    env = probe_env(tmp_path, outside)
    done, events = run_probe(tmp_path, project, env, "inline", "--sandbox", "read-only")
    found = probe_result(events)
    assert "Read-only file system" in found["workspace_write"]
    assert not (project / "agent-notes.txt").exists()
    assert found["home_read"].startswith("FileNotFoundError") and listener.accepted == 0

    script = write_script(
        tmp_path / "edit.toml",
        '[[turn]]\ntext = "editing"\n[[turn.tool_calls]]\nname = "write_file"\n'
        'arguments = { path = "notes.txt", content = "hi\\n" }\n\n[[turn]]\ntext = "done"\n',
    )
    edit = run_exec(
        project,
        *("write notes", "--provider", "scripted", "--model", str(script)),
        *("--sandbox", "read-only", "--approval-mode", "auto"),
        env=env,
    )
    assert edit.returncode == 3, edit.stderr
    assert "approval needed for `write_file notes.txt` (rule sandbox:read-only" in edit.stderr
    assert not (project / "notes.txt").exists()


# -- without a working bubblewrap ------------------------------------------------------


@pytest.mark.parametrize("bwrap", ["missing", "no-namespaces"])
def test_without_a_working_sandbox_the_run_says_so_once_and_unknown_commands_ask(tmp_path, bwrap):
    project = init_repo(tmp_path / "p")
    if bwrap == "missing":
        program = tmp_path / "not-installed" / "bwrap"
        reason = str(program)
    else:
        # What bubblewrap says on a kernel without user namespaces.
        program = tmp_path / "bwrap"
        program.write_text(
            "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely "
            "because the kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n"
        )
        program.chmod(0o755)
        reason = "No permissions to creating new namespace"
    script = bash_script(tmp_path, "frobnicate --all")
    env = cli_env(tmp_path, HARNESS_SANDBOX__BWRAP=str(program))
    done = run_exec(project, "go", "--provider", "scripted", "--model", str(script), env=env)
    assert done.returncode == 3, done.stderr
    said = [line for line in done.stderr.splitlines() if "harness-tui: the sandbox" in line]
    assert len(said) == 1, done.stderr
    assert said[0].startswith("harness-tui: the sandbox cannot start: ") and reason in said[0]
    assert "any command no rule allows needs approval" in said[0]
    assert "harness-tui: approval needed for `frobnicate --all`" in done.stderr
    notes = [data for kind, data in stored_events(project) if kind == "sandbox.unavailable"]
    assert len(notes) == 1 and reason in notes[0]["reason"]


# -- network for one approved command --------------------------------------------------


def test_a_command_that_needs_the_network_asks_and_approved_runs_with_it(tmp_path, listener):
    project = init_repo(tmp_path / "p")
    fetch = f"curl -s -m 5 http://127.0.0.1:{listener.port}/"
    script = bash_script(tmp_path, fetch, fetch)
    run = start_exec(
        project,
        tmp_path,
        "fetch it",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--approvals",
        "stdin",
        "--json",
        env=cli_env(tmp_path),
        stdin=subprocess.PIPE,
    )
    with ended(run):
        assert run.stderr is not None and run.stdin is not None
        request = None
        for line in run.stderr:
            if line.startswith("{"):
                request = json.loads(line)
                break
        assert request is not None, "no approval was asked for"
        assert request["summary"] == fetch and request["rule_id"] == "sandbox:network"
        assert "needs the network" in request["reason"]
        assert listener.accepted == 0, "it ran before it was approved"
        run.stdin.write(
            json.dumps({"approval_id": request["approval_id"], "decision": "allow_always"}) + "\n"
        )
        run.stdin.flush()
        rest, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    # Approved once and always: both runs of the command reached the listener, and the
    # second was not asked about.
    assert listener.accepted == 2
    events = json_events(rest)
    assert [e["type"] for e in events].count("approval.requested") == 1
    decided = [e["data"] for e in events if e["type"] == "policy.decided"]
    assert [d["decision"] for d in decided] == ["prompt", "allow"]
    assert all(d.get("network") for d in decided)
    policy = (project / ".harness" / "policy.toml").read_text()
    assert "curl" in policy


def test_a_session_allowed_the_network_reaches_it_and_nothing_else_more(
    tmp_path, outside, listener, victim
):
    project = probe_project(tmp_path, outside, listener, victim)
    env = probe_env(tmp_path, outside, HARNESS_SANDBOX__NETWORK="true")
    _, events = run_probe(tmp_path, project, env, "inline")
    found = probe_result(events)
    created = next(e for e in events if e["type"] == "session.created")
    assert created["data"]["sandbox"] == {"mode": "workspace-write", "network": True}
    assert found["network"] == "ok"
    wait_until(lambda: listener.accepted == 1, message="the probe's connection")
    assert found["home_read"].startswith("FileNotFoundError")
    assert "Read-only file system" in found["outside_write"]
    assert found["signal"].startswith("ProcessLookupError") and victim.poll() is None


# -- worktree sessions -----------------------------------------------------------------


def test_a_worktree_session_commits_inside_the_sandbox_and_reaches_nothing_else(tmp_path, outside):
    repo = init_repo(tmp_path / "repo")
    (repo / "README.md").write_text("hi\n")
    (repo / "commit.sh").write_text(
        "set -u\n"
        "echo change > agent.txt\n"
        "git add agent.txt && git -c user.name=A -c user.email=a@x commit -qm 'agent commit'"
        " && echo COMMITTED\n"
        "common=$(git rev-parse --git-common-dir)\n"
        'echo evil >> "$common/hooks/pre-commit" || echo HOOKS-DENIED\n'
        "git config core.hooksPath /tmp || echo CONFIG-DENIED\n"
        f"echo evil >> {outside}/outside.txt || echo OUTSIDE-DENIED\n"
    )
    commit_all(repo)
    before = snapshot(repo)
    config_before = (repo / ".git" / "config").read_text()
    check = f"echo evil >> {outside}/outside.txt; echo evil >> {repo}/README.md; true"
    (tmp_path / "store").mkdir()
    done = run_exec(
        repo,
        *("commit something", "--worktree", "--provider", "scripted", "--json"),
        *("--model", str(bash_script(tmp_path, "bash commit.sh"))),
        *("--store", f"sqlite:///{tmp_path / 'store' / 'harness.db'}"),
        env=cli_env(tmp_path, HARNESS_VALIDATION__COMMANDS=json.dumps([check])),
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    events = json_events(done.stdout)
    [result] = [e["data"]["result"] for e in events if e["type"] == "tool.completed"]
    for word in ("COMMITTED", "HOOKS-DENIED", "CONFIG-DENIED", "OUTSIDE-DENIED"):
        assert word in result, result
    [validation] = [e["data"] for e in events if e["type"] == "validation.completed"]
    assert validation["exit_code"] == 0
    assert "Read-only file system" in validation["output_tail"]
    [committed] = [e["data"] for e in events if e["type"] == "worktree.committed"]
    branch = committed["branch"]
    assert git(repo, "log", "--format=%s", branch).splitlines()[0] == "agent commit"
    assert git(repo, "show", f"{branch}:agent.txt") == "change\n"
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert (repo / ".git" / "config").read_text() == config_before
    assert (outside / "outside.txt").read_text() == "original\n"
    # The main checkout (under the private /tmp, so not even visible) is as it was.
    assert snapshot(repo) == before


# -- a killed run ------------------------------------------------------------------------


def test_a_killed_runs_sandboxed_command_dies_with_it_and_the_next_run_goes_on(tmp_path):
    project = init_repo(tmp_path / "p")
    script = write_script(
        tmp_path / "s.toml",
        '[[turn]]\ntext = "running it"\n[[turn.tool_calls]]\nname = "bash"\n'
        'arguments = { command = "sleep 61 & touch running; sleep 62; wait" }\n\n'
        '[[turn]]\ntext = "carrying on"\n',
    )
    env = cli_env(tmp_path, HARNESS_TOOLS__INLINE_MS="60000")
    run = start_exec(
        project,
        tmp_path,
        "run it",
        "--provider",
        "scripted",
        "--model",
        str(script),
        "--json",
        env=env,
    )
    with ended(run):
        started = events_until(run, "tool.started")[-1]
        pgid = started["data"]["pgid"]
        try:
            # Running in the sandbox, not merely recorded: bubblewrap ties itself to the
            # engine as it starts (a run killed before that leaves a group recovery stops).
            wait_until(lambda: (project / "running").exists(), message="the command to run")
            assert group_alive(pgid)
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
            # No recovery needed: the sandbox (its PID namespace, all it ran) went with it.
            wait_until(lambda: not group_alive(pgid), message="the sandbox to die with its run")
        finally:
            kill_group(pgid)
    resumed = run_exec(project, "what happened?", "--session", started["session_id"], env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "carrying on"


# -- the command line ------------------------------------------------------------------


def test_sandbox_is_documented_and_chosen_only_for_a_new_session(tmp_path):
    shown = subprocess.run(
        harness_cmd("--help"), env=cli_env(tmp_path), capture_output=True, text=True, timeout=30
    )
    text = " ".join(shown.stdout.split())
    assert "--sandbox MODE" in text
    assert all(mode in text for mode in ("read-only", "workspace-write", "danger-full-"))
    refused = subprocess.run(
        harness_cmd("--exec", "hi", "--session", "abc", "--sandbox", "read-only"),
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("harness-tui: --sandbox chooses a new session's sandbox")
