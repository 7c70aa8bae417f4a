"""Code rules and guards in a real project directory, with real guard scripts."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness_tui.gc.coderules import (
    check_rules,
    feedback,
    format_violation,
    load_code_rules,
    parse_rule_file,
)
from tests.support.waiting import wait_until

RULES = """\
# Python rules

Everything above the first rule is an introduction.

## NO-PRINT: No print() in library code (error)
Library code logs through `logging`; print() output is lost in the dashboard.

```python
## this is a comment in an example, not a rule
print("no")
```

## SHORT-FILES: Keep modules short
Split a module past 400 lines.

## STYLE.todo: TODO needs an owner (info)
Write TODO(name).
"""

NO_PRINT_GUARD = """\
#!/bin/sh
# Every print( in src/ is a violation of NO-PRINT.
found=$(grep -Hn "print(" src/*.py) || exit 0
echo "$found" | while IFS=: read -r file line _; do
  echo "$file:$line:NO-PRINT:print() left in library code"
done
exit 1
"""


def write(path: Path, text: str, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if executable:
        path.chmod(0o755)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write(root / ".harness" / "rules" / "python.md", RULES)
    write(root / ".harness" / "guards" / "no-print", NO_PRINT_GUARD, executable=True)
    write(root / "src" / "app.py", "import logging\n\n\ndef main():\n    logging.info('hi')\n")
    return root


def test_rule_files_give_id_title_severity_and_description(project: Path) -> None:
    rules, errors = load_code_rules(project)
    assert errors == []
    assert sorted(rules) == ["NO-PRINT", "SHORT-FILES", "STYLE.todo"]
    no_print = rules["NO-PRINT"]
    assert (no_print.title, no_print.severity) == ("No print() in library code", "error")
    assert no_print.description.startswith("Library code logs through `logging`")
    assert "## this is a comment" in no_print.description  # inside a code fence
    assert (no_print.file, no_print.line) == (".harness/rules/python.md", 5)
    assert rules["SHORT-FILES"].severity == "warning"  # the default
    assert rules["STYLE.todo"].severity == "info"


def test_a_clean_project_passes(project: Path) -> None:
    report = check_rules(project)
    assert report.ok
    assert report.guards == ["no-print"]
    assert feedback(report) == ""


def test_a_violation_is_reported_with_its_rule_id_and_severity(project: Path) -> None:
    write(project / "src" / "app.py", "def main():\n    x = 1\n    print(x)\n")
    report = check_rules(project)
    assert report.errors == []
    (violation,) = report.violations
    assert violation.file == "src/app.py"
    assert violation.line == 3
    assert violation.rule_id == "NO-PRINT"
    assert violation.severity == "error"
    assert violation.guard == "no-print"
    assert format_violation(violation) == (
        "src/app.py:3: NO-PRINT (error) print() left in library code [no-print]"
    )
    told = feedback(report)
    assert "src/app.py:3: NO-PRINT" in told
    assert "No print() in library code" in told  # the agent learns what the rule wants
    assert report.to_dict()["violations"][0]["rule_id"] == "NO-PRINT"


def test_violations_from_several_guards_come_sorted(project: Path) -> None:
    write(project / "src" / "b.py", "print(1)\n")
    write(project / "src" / "a.py", "x = 1\nprint(2)\n")
    write(
        project / ".harness" / "guards" / "todo.py",
        f"#!{sys.executable}\nprint('{project}/src/a.py:1:STYLE.todo: TODO without owner')\n",
        executable=True,
    )
    report = check_rules(project)
    assert report.errors == []
    assert [(v.file, v.line, v.rule_id, v.severity) for v in report.violations] == [
        ("src/a.py", 1, "STYLE.todo", "info"),  # an absolute path is shown relative
        ("src/a.py", 2, "NO-PRINT", "error"),
        ("src/b.py", 1, "NO-PRINT", "error"),
    ]


def test_a_guard_that_crashes_is_an_error_not_a_pass(project: Path) -> None:
    write(
        project / ".harness" / "guards" / "broken",
        "#!/bin/sh\necho 'cannot open config.yaml' >&2\nexit 3\n",
        executable=True,
    )
    report = check_rules(project)
    assert not report.ok
    assert report.errors == [
        ".harness/guards/broken: guard failed (exit 3) without reporting a violation: "
        "cannot open config.yaml"
    ]


def test_a_guard_that_is_not_executable_is_named(project: Path) -> None:
    write(project / ".harness" / "guards" / "lint.sh", "#!/bin/sh\nexit 0\n")
    write(project / ".harness" / "guards" / ".gitkeep", "")
    report = check_rules(project)
    assert report.errors == [
        ".harness/guards/lint.sh: guard is not executable (chmod +x .harness/guards/lint.sh)"
    ]
    assert report.guards == ["no-print"]


def test_a_guard_without_an_interpreter_line_cannot_start(project: Path) -> None:
    write(project / ".harness" / "guards" / "nohashbang", "\x7fELF not really\n", executable=True)
    (error,) = check_rules(project).errors
    assert error.startswith(".harness/guards/nohashbang: guard cannot start:")


def test_output_in_another_format_and_unknown_rules_are_errors(project: Path) -> None:
    write(
        project / ".harness" / "guards" / "chatty",
        "#!/bin/sh\necho 'checking...'\necho 'src/app.py:1:NO-SUCH-RULE:hm'\nexit 1\n",
        executable=True,
    )
    report = check_rules(project)
    (violation,) = report.violations
    assert (violation.rule_id, violation.severity) == ("NO-SUCH-RULE", "warning")
    assert report.errors == [
        ".harness/guards/chatty: output line 1 is not FILE:LINE:RULE_ID:MESSAGE: 'checking...'",
        ".harness/guards/chatty: reports rule NO-SUCH-RULE, which no .harness/rules/*.md defines",
    ]


def test_a_guard_that_hangs_is_stopped_with_what_it_started(project: Path) -> None:
    # The shell waits on a child that holds the output pipe open.
    write(
        project / ".harness" / "guards" / "slow",
        "#!/bin/sh\nsleep 30 &\necho $! > sleep.pid\nwait\n",
        executable=True,
    )
    started = time.monotonic()
    report = check_rules(project, timeout_s=1)
    assert time.monotonic() - started < 10
    assert report.errors == [".harness/guards/slow: guard timed out after 1s"]
    child = int((project / "sleep.pid").read_text())
    wait_until(lambda: not alive(child), timeout=5, message="the guard's child to be stopped")


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def test_rule_file_mistakes_name_the_file_and_line(project: Path) -> None:
    write(
        project / ".harness" / "rules" / "security.md",
        "## Notes\nfree text\n\n## SEC-1: No secrets in code (fatal)\n\n## NO-PRINT: again\n",
    )
    rules, errors = load_code_rules(project)
    assert errors == [
        ".harness/rules/security.md:1: expected a rule heading `## ID: Title (severity)`, "
        "got '## Notes'",
        ".harness/rules/security.md:4: rule SEC-1: severity must be one of error, warning, "
        "info, not 'fatal'",
        ".harness/rules/security.md:6: rule NO-PRINT is already defined at .harness/rules/python.md:5",
    ]
    assert rules["NO-PRINT"].file == ".harness/rules/python.md"
    report = check_rules(project)
    assert report.errors[:3] == errors


def test_a_title_ending_in_parentheses_is_not_a_severity() -> None:
    (rule,), errors = parse_rule_file("## NO-EVAL: Never call eval()\nIt runs text.\n", "x.md")
    assert errors == []
    assert (rule.title, rule.severity, rule.description) == (
        "Never call eval()",
        "warning",
        "It runs text.",
    )


def test_a_project_without_rules_or_guards_is_clean(tmp_path: Path) -> None:
    report = check_rules(tmp_path)
    assert report.ok
    assert report.guards == []
