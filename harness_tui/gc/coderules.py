"""Code rules: what the project's code must (not) do, and guard scripts that check it.

Rules are Markdown files, `.harness/rules/*.md`; each rule is one section:

    ## NO-PRINT: No print() in library code (error)
    Library code logs through `logging`; print() output is lost in the TUI.

The heading gives the id, the title and the severity (error, warning or info; warning
when left out); the text up to the next `##` heading is its description. Text before
the first rule, and `##` lines inside fenced code blocks, are not rules.

Guards are executables in `.harness/guards/` (hidden files are skipped). Each runs in
the project directory and prints one line per violation on stdout:

    FILE:LINE:RULE_ID:MESSAGE

A guard may exit non-zero when it found violations, as linters do. A guard that is not
executable, cannot start, times out, dies by a signal, exits non-zero without printing a
violation, or prints a line in another format is reported as an error: a broken guard
must not look like a clean project.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness_tui import paths
from harness_tui.sandbox import Sandbox

SEVERITIES = ("error", "warning", "info")
DEFAULT_SEVERITY = "warning"
DEFAULT_GUARD_TIMEOUT_S = 120.0

_RULE_ID = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_HEADING = re.compile(r"^##(?!#)\s*(.*?)\s*#*\s*$")
# The severity is a last parenthesised word; "eval()" at the end is still title.
_RULE_HEADING = re.compile(rf"^({_RULE_ID})\s*:\s*(.+?)(?:\s*\(([^()]+)\))?$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# The file may hold colons only if the line number follows the first of them, which
# is how every compiler and linter prints it; the message may hold anything.
_VIOLATION = re.compile(rf"^(.+?):(\d+):({_RULE_ID}):\s?(.*)$")
# Only the end of a crashed guard's stderr is shown: the cause is usually last.
_STDERR_TAIL = 400


def rules_dir(project: Path) -> Path:
    return paths.harness_dir(project) / "rules"


def guards_dir(project: Path) -> Path:
    return paths.harness_dir(project) / "guards"


@dataclass(frozen=True)
class CodeRule:
    id: str
    title: str
    severity: str
    description: str
    file: str
    """Relative to the project."""
    line: int


@dataclass(frozen=True)
class Violation:
    file: str
    line: int
    rule_id: str
    severity: str
    message: str
    guard: str
    """The guard's file name."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "message": self.message,
            "guard": self.guard,
        }


@dataclass
class RulesReport:
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """One line each, naming the file (and line) or the guard."""
    rules: dict[str, CodeRule] = field(default_factory=dict)
    guards: list[str] = field(default_factory=list)
    """The guards that ran, by file name."""

    @property
    def ok(self) -> bool:
        return not self.violations and not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "violations": [v.to_dict() for v in self.violations],
            "errors": list(self.errors),
            "guards": list(self.guards),
            "rules": sorted(self.rules),
        }


def format_violation(v: Violation) -> str:
    """`src/app.py:12: NO-PRINT (error) print() left in library code [no-print.sh]`:
    the file:line prefix editors and terminals turn into a link."""
    return f"{v.file}:{v.line}: {v.rule_id} ({v.severity}) {v.message} [{v.guard}]"


def feedback(report: RulesReport, limit: int = 20) -> str:
    """What an agent is told after its edit broke rules: each violation with the rule's
    title and description, so it can fix the code without looking the rule up. Empty
    when there is nothing to say."""
    if not report.violations:
        return ""
    lines = [f"The project's code rules found {len(report.violations)} violation(s):"]
    described: set[str] = set()
    for v in report.violations[:limit]:
        lines.append(f"- {format_violation(v)}")
        rule = report.rules.get(v.rule_id)
        if rule is not None and rule.id not in described:
            described.add(rule.id)
            about = f"  {rule.id}: {rule.title}"
            if rule.description:
                about += " — " + " ".join(rule.description.split())
            lines.append(about)
    if len(report.violations) > limit:
        lines.append(f"- … and {len(report.violations) - limit} more")
    lines.append("Fix them before going on.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Rule files.


def parse_rule_file(text: str, source: str) -> tuple[list[CodeRule], list[str]]:
    """The rules in one Markdown file's text, and an error line for each heading that
    is not a rule; `source` names the file in rules and errors."""
    rules: list[CodeRule] = []
    errors: list[str] = []
    current: dict[str, Any] | None = None
    body: list[str] = []
    fence: str | None = None

    def close() -> None:
        if current is not None:
            rules.append(CodeRule(**current, description="\n".join(body).strip()))

    for number, line in enumerate(text.splitlines(), start=1):
        opened = _FENCE.match(line)
        if opened and (fence is None or opened[1] == fence):
            fence = None if fence else opened[1]
        heading = _HEADING.match(line) if fence is None and not opened else None
        if heading is None:
            if current is not None:
                body.append(line)
            continue
        close()
        current, body = None, []
        found = _RULE_HEADING.match(heading[1])
        if not found:
            errors.append(
                f"{source}:{number}: expected a rule heading `## ID: Title (severity)`, "
                f"got {line.strip()!r}"
            )
            continue
        rule_id, title, severity = found[1], found[2].strip(), found[3]
        severity = (severity or DEFAULT_SEVERITY).strip().lower()
        if severity not in SEVERITIES:
            errors.append(
                f"{source}:{number}: rule {rule_id}: severity must be one of "
                f"{', '.join(SEVERITIES)}, not {found[3]!r}"
            )
            continue
        current = {
            "id": rule_id,
            "title": title,
            "severity": severity,
            "file": source,
            "line": number,
        }
    close()
    return rules, errors


def load_code_rules(project: Path) -> tuple[dict[str, CodeRule], list[str]]:
    """Every rule in `.harness/rules/*.md` by id, and the errors found on the way; a rule
    id defined twice keeps the first and reports the second."""
    project = Path(project)
    rules: dict[str, CodeRule] = {}
    errors: list[str] = []
    folder = rules_dir(project)
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else ():
        source = _relative(project, path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{source}: cannot be read: {getattr(exc, 'strerror', None) or exc}")
            continue
        found, problems = parse_rule_file(text, source)
        errors.extend(problems)
        for rule in found:
            first = rules.get(rule.id)
            if first is not None:
                errors.append(
                    f"{rule.file}:{rule.line}: rule {rule.id} is already defined at "
                    f"{first.file}:{first.line}"
                )
                continue
            rules[rule.id] = rule
    return rules, errors


# ---------------------------------------------------------------------------------------
# Guards.


def check_rules(
    project: Path,
    *,
    timeout_s: float = DEFAULT_GUARD_TIMEOUT_S,
    env: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    sandbox: Sandbox | None = None,
) -> RulesReport:
    """Load the project's rules and run every guard (in name order) in `workdir`
    (default: the project; a worktree session's checkout, say). `env` is the guards'
    environment (default: this process's); pass a scrubbed one when the check runs on
    an agent's behalf. With `sandbox`, each guard runs inside it, seeing the guards'
    folder read-only: a guard reads code the agent wrote."""
    project = Path(project).resolve()
    where_run = Path(workdir).resolve() if workdir is not None else project
    rules, errors = load_code_rules(project)
    report = RulesReport(rules=rules, errors=errors)
    folder = guards_dir(project)
    guards = (
        sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []
    )
    unknown: set[tuple[str, str]] = set()
    for guard in guards:
        if guard.is_dir():
            continue
        name = guard.name
        where = _relative(project, guard)
        if not os.access(guard, os.X_OK):
            report.errors.append(f"{where}: guard is not executable (chmod +x {where})")
            continue
        report.guards.append(name)
        try:
            done = _run_guard(guard, where_run, env, timeout_s, sandbox)
        except subprocess.TimeoutExpired:
            report.errors.append(f"{where}: guard timed out after {timeout_s:g}s")
            continue
        except OSError as exc:
            report.errors.append(f"{where}: guard cannot start: {exc.strerror or exc}")
            continue
        found = _violations(done.stdout, name, where, rules, report.errors, where_run)
        for v in found:
            if v.rule_id not in rules and (name, v.rule_id) not in unknown:
                unknown.add((name, v.rule_id))
                report.errors.append(
                    f"{where}: reports rule {v.rule_id}, which no .harness/rules/*.md defines"
                )
        report.violations.extend(found)
        if done.returncode < 0:
            report.errors.append(
                f"{where}: guard was killed by signal {-done.returncode}{_tail(done.stderr)}"
            )
        elif done.returncode != 0 and not found:
            report.errors.append(
                f"{where}: guard failed (exit {done.returncode}) without reporting a "
                f"violation{_tail(done.stderr)}"
            )
    report.violations.sort(key=lambda v: (v.file, v.line, v.rule_id, v.guard, v.message))
    return report


def _run_guard(
    guard: Path,
    project: Path,
    env: Mapping[str, str] | None,
    timeout_s: float,
    sandbox: Sandbox | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run one guard in its own process group, so a timeout stops whatever it started
    too (in a sandbox, bubblewrap leads the group: its PID namespace dies with it); a
    child left holding the output pipe would otherwise keep us waiting."""
    argv = [str(guard)]
    if sandbox is not None:
        argv = sandbox.argv(argv, cwd=project, extra_read=(guard.parent,))
    with subprocess.Popen(
        argv,
        cwd=project,
        env=None if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _violations(
    stdout: bytes,
    guard: str,
    where: str,
    rules: Mapping[str, CodeRule],
    errors: list[str],
    project: Path,
) -> list[Violation]:
    found: list[Violation] = []
    text = stdout.decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _VIOLATION.match(line.rstrip("\r"))
        if match is None:
            errors.append(
                f"{where}: output line {number} is not FILE:LINE:RULE_ID:MESSAGE: "
                f"{_clip(line.strip())!r}"
            )
            continue
        file, line_no, rule_id, message = match.groups()
        rule = rules.get(rule_id)
        found.append(
            Violation(
                file=_project_relative(project, file.strip()),
                line=int(line_no),
                rule_id=rule_id,
                severity=rule.severity if rule else DEFAULT_SEVERITY,
                message=message.strip(),
                guard=guard,
            )
        )
    return found


def _project_relative(project: Path, file: str) -> str:
    """Guards may print absolute paths; inside the project they are shown relative, as
    the rest of the report is."""
    path = Path(file)
    if path.is_absolute():
        try:
            return path.relative_to(project).as_posix()
        except ValueError:
            return file
    return file[2:] if file.startswith("./") else file


def _relative(project: Path, path: Path) -> str:
    try:
        return path.relative_to(project).as_posix()
    except ValueError:
        return str(path)


def _tail(stderr: bytes) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    if not text:
        return ""
    if len(text) > _STDERR_TAIL:
        text = "…" + text[-_STDERR_TAIL:]
    return ": " + " | ".join(line.strip() for line in text.splitlines() if line.strip())


def _clip(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "SEVERITIES",
    "CodeRule",
    "RulesReport",
    "Violation",
    "check_rules",
    "feedback",
    "format_violation",
    "guards_dir",
    "load_code_rules",
    "parse_rule_file",
    "rules_dir",
]
