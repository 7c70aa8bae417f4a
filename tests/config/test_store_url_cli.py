"""A store URL the application cannot use, as a user meets it on the real command line:
refused before anything runs, in one line naming where the URL came from."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.projects import cli_env, harness_cmd, init_repo

EXPECTED_FORMS = "expected sqlite:///PATH, postgresql://HOST/DB or postgres://HOST/DB"


def run_exec(project: Path, *args: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        harness_cmd("--exec", "hello", "--provider", "scripted", "--project", str(project), *args),
        cwd=project,
        env=cli_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unknown_scheme_in_the_project_file_names_file_line_and_key(tmp_path: Path) -> None:
    project = init_repo(tmp_path / "p")
    config = project / ".harness" / "config.toml"
    config.parent.mkdir()
    config.write_text('[store]\nurl = "mysql://x"\n')

    done = run_exec(project, tmp_path=tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f'harness-tui: {config.resolve()}:2: store.url: {EXPECTED_FORMS}, got "mysql://x"'
    ]


def test_an_unknown_scheme_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    project = init_repo(tmp_path / "p")

    done = run_exec(project, tmp_path=tmp_path, HARNESS_STORE__URL="mysql://x")

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f'harness-tui: environment HARNESS_STORE__URL: {EXPECTED_FORMS}, got "mysql://x"'
    ]


def test_an_unknown_scheme_given_with_store_names_the_flag(tmp_path: Path) -> None:
    project = init_repo(tmp_path / "p")

    done = run_exec(project, "--store", "mysql://x", tmp_path=tmp_path)

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f'harness-tui: flag store.url: {EXPECTED_FORMS}, got "mysql://x"'
    ]
    assert not (project / ".harness").exists()


def missing_directory_run(tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    project = init_repo(tmp_path / "p")
    database = tmp_path / "nowhere" / "dir" / "x.db"
    return run_exec(project, "--store", f"sqlite:///{database}", tmp_path=tmp_path), database


def test_a_store_whose_directory_is_missing_is_refused_naming_it(tmp_path: Path) -> None:
    done, database = missing_directory_run(tmp_path)

    assert done.returncode != 0
    assert done.stderr.splitlines() == [
        f"harness-tui: cannot open SQLite database {database}: "
        f"directory {database.parent} does not exist"
    ]
    assert not (tmp_path / "nowhere").exists()


def test_a_store_whose_directory_is_missing_exits_2(tmp_path: Path) -> None:
    done, _ = missing_directory_run(tmp_path)

    assert done.returncode == 2
