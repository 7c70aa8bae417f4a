"""Usage mistakes on the command line: one line naming the mistake (and, for a
mistyped flag, the real one it was closest to), exit 2, no page of usage."""

from __future__ import annotations

import subprocess

import pytest

from harness_tui.cli import main
from harness_tui.cli.exitcodes import ExitCode
from tests.support.projects import cli_env, harness_cmd


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`harness-tui ARGV` in this process: the exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    out, err = capsys.readouterr()
    code = ended.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_a_mistyped_flag_names_the_flag_it_was_closest_to(tmp_path):
    done = subprocess.run(
        harness_cmd("--exex", "hi"),
        cwd=tmp_path,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.USAGE
    assert done.stderr == "harness-tui: unknown flag --exex (did you mean --exec?)\n"
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (("--provder", "x"), "unknown flag --provder (did you mean --provider?)"),
        (("--exec", "hi", "--jsn"), "unknown flag --jsn (did you mean --json?)"),
        (("--exec=hi", "--max-stpes=3"), "unknown flag --max-stpes (did you mean --max-steps?)"),
        # A subcommand's own flags count, before or after its arguments.
        (("tail", "abc", "--no-folow"), "unknown flag --no-folow (did you mean --no-follow?)"),
        (("config", "show", "--jsonn"), "unknown flag --jsonn (did you mean --json?)"),
        (("gc", "drafts", "--statuss", "x"), "unknown flag --statuss (did you mean --status?)"),
        (("policy", "check", "ls", "--mdoe", "auto"), "unknown flag --mdoe (did you mean --mode?)"),
        # Nothing close: the flag alone, and where the real ones are listed.
        (("--zzzzzz",), "unknown flag --zzzzzz (see harness-tui --help)"),
        # A flag of another subcommand is unknown to this one.
        (
            ("gc", "status", "--dry-run"),
            "unknown flag --dry-run (see harness-tui gc status --help)",
        ),
    ],
)
def test_unknown_flags_are_one_line_and_exit_2(capsys, argv, line):
    code, out, err = run_cli(capsys, *argv)
    assert (code, out, err) == (ExitCode.USAGE, "", f"harness-tui: {line}\n")


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (("tail",), "tail: the following arguments are required: ID"),
        (("worktrees", "tidy"), "worktrees: argument action: invalid choice: 'tidy'"),
        (("--approval-mode", "sometimes"), "argument --approval-mode: invalid choice"),
        (("--exec", "hi", "--max-steps", "many"), "argument --max-steps: invalid int value"),
        (("--exec",), "argument --exec: expected one argument"),
        (("--json",), "--json goes with --exec"),
        (("config",), "config: the following arguments are required: ACTION"),
    ],
)
def test_other_usage_errors_are_one_line_and_exit_2(capsys, argv, wanted):
    code, out, err = run_cli(capsys, *argv)
    assert code == ExitCode.USAGE
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("harness-tui: ") and wanted in err, err


def test_help_is_still_the_full_page(capsys):
    code, out, err = run_cli(capsys, "--help")
    assert code == ExitCode.OK and err == ""
    assert out.startswith("usage: harness-tui [-h] [--version]")
    assert "running a session:" in out and "exit codes:" in out


def test_an_unambiguous_abbreviation_still_works(capsys, tmp_path):
    code, out, err = run_cli(capsys, "config", "show", "--proj", str(tmp_path), "--js")
    assert code == ExitCode.OK, err
    assert out.startswith("{")
