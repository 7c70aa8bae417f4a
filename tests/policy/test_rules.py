"""Rule files: loading, layering, checking the examples, and the pattern language."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness_tui import paths
from harness_tui.policy.evaluate import evaluate_command
from harness_tui.policy.path_classes import PathContext, is_credential_path
from harness_tui.policy.rules import (
    PolicyLoadError,
    builtin_rules_path,
    default_rule_paths,
    load_builtin_rules,
    load_rules,
    parse_rules,
)

WORKSPACE = "/home/user/project"
HOME = "/home/user"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rule(body: str) -> str:
    return "[[rule]]\n" + body.strip() + "\n"


def decide(command: str, rules, mode: str = "on-request") -> str:
    return evaluate_command(command, rules, mode, WORKSPACE, HOME).decision


# --- the built-in rules ------------------------------------------------------------------


def test_builtin_rules_ship_with_the_package_and_load() -> None:
    path = builtin_rules_path()
    assert path == paths.packaged_dir("config") / "policy.toml"
    rules = load_builtin_rules()
    assert len(rules) >= 40
    assert rules.sources == (str(path),)


def test_every_builtin_rule_carries_examples_both_ways() -> None:
    for r in load_builtin_rules():
        assert r.match and r.not_match, r.id
        assert r.reason, r.id


def test_default_layers_are_builtin_then_user_then_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    project = tmp_path / "project"
    assert default_rule_paths(project) == [
        builtin_rules_path(),
        tmp_path / "xdg" / "harness-tui" / "policy.toml",
        project / ".harness" / "policy.toml",
    ]


# --- layering ----------------------------------------------------------------------------


FORCE_PUSH_PROMPTS = rule("""
id = "git-force-push"
pattern = ["git", "push"]
any = ["--force", "-f"]
decision = "prompt"
reason = "This team force-pushes feature branches"
match = ["git push -f origin feature"]
""")


def test_a_later_file_replaces_a_rule_by_id(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", FORCE_PUSH_PROMPTS)
    rules = load_rules([builtin_rules_path(), user])
    assert decide("git push --force origin feature", rules) == "prompt"
    assert rules.get("git-force-push").source == str(user)
    assert len(rules) == len(load_builtin_rules())


def test_the_project_file_wins_over_the_user_file(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", FORCE_PUSH_PROMPTS)
    project = write(
        tmp_path / "project.toml",
        FORCE_PUSH_PROMPTS.replace('"prompt"', '"forbid"').replace("This team", "Nobody"),
    )
    rules = load_rules([builtin_rules_path(), user, project])
    assert decide("git push -f", rules) == "forbid"
    assert rules.sources == (str(builtin_rules_path()), str(user), str(project))


def test_enabled_false_drops_a_rule(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", rule('id = "killall"\nenabled = false'))
    rules = load_rules([builtin_rules_path(), user])
    assert rules.get("killall") is None
    assert decide("killall node", rules) == "allow"


def test_missing_layers_are_skipped(tmp_path: Path) -> None:
    rules = load_rules([builtin_rules_path(), tmp_path / "nope.toml"])
    assert len(rules) == len(load_builtin_rules())


def test_a_user_rule_cannot_allow_what_cannot_be_judged(tmp_path: Path) -> None:
    allow_everything = write(
        tmp_path / "user.toml",
        rule("""
id = "anything-goes"
pattern = ["*"]
decision = "allow"
reason = "trust me"
match = ["ls"]
"""),
    )
    rules = load_rules([allow_everything])
    assert decide("docker ps", rules, "untrusted") == "allow"
    assert decide("echo $(date)", rules, "untrusted") == "prompt"
    assert decide("eval ls", rules, "auto") == "prompt"


# --- errors name the file, the rule and the example -------------------------------------


def test_a_failing_match_example_is_a_load_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "policy.toml",
        rule("""
id = "no-npm-publish"
pattern = ["npm", "publish"]
decision = "prompt"
reason = "publishing"
match = ["npm publish", "yarn publish"]
"""),
    )
    with pytest.raises(PolicyLoadError) as err:
        load_rules([path])
    message = str(err.value)
    assert str(path) in message
    assert "'no-npm-publish'" in message
    assert "'yarn publish'" in message
    assert err.value.rule_id == "no-npm-publish"
    assert err.value.source == str(path)


def test_a_not_match_example_that_matches_is_a_load_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "policy.toml",
        rule("""
id = "rm-anything"
pattern = ["rm"]
decision = "prompt"
reason = "deleting"
match = ["rm x"]
not_match = ["ls", "\\\\rm -f y"]
"""),
    )
    with pytest.raises(
        PolicyLoadError, match=r"rule 'rm-anything': not_match example '\\\\rm -f y'"
    ):
        load_rules([path])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]\nid = 'x'", "not valid TOML"),
        ("rules = []", "unknown top-level key 'rules'"),
        ("rule = 'x'", "`rule` must be an array of tables"),
        (rule('decision = "allow"'), "rule #1 needs an id"),
        (rule('id = "has space"'), "rule #1 needs an id"),
        (rule('id = "x"\ndecision = "maybe"'), "rule 'x': decision must be one of"),
        (rule('id = "x"\ndecision = "allow"'), "rule 'x': reason must be a non-empty string"),
        (rule('id = "x"\ndecision = "allow"\nreason = "r"\nrisk = "huge"'), "rule 'x': risk must"),
        (rule('id = "x"\ndecision = "allow"\nreason = "r"\nfrob = 1'), "unknown field 'frob'"),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = "ls"'),
            "rule 'x': pattern must be a list",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = [["ls", 3]]'),
            "rule 'x': pattern token 1 must be a string or a list of strings",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = ["rm"]\npaths = ["moon"]'),
            "rule 'x': paths: unknown path class 'moon'",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\nnotes = ["eval"]'),
            "rule 'x': notes: unknown note 'eval'",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\nmatch = ["ls"]'),
            "rule 'x': needs a pattern, writes, reads, notes or input_from",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = ["ls"]'),
            "rule 'x': needs at least one match example",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = ["ls"]\nmatch = "ls"'),
            "rule 'x': match must be a list of non-empty strings",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = ["ls"]\nmatch = ["ls"]')
            * 2,
            "rule 'x': defined twice in this file",
        ),
        (rule('id = "x"\nenabled = "no"'), "rule 'x': enabled must be true or false"),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\npattern = ["ls"]\nsandbox = "no"'),
            "rule 'x': sandbox must be true (only inside a sandbox) or false (only without one)",
        ),
        (
            rule('id = "x"\ndecision = "allow"\nreason = "r"\nreads = ["secret"]'),
            "rule 'x': reads: unknown path class 'secret'",
        ),
    ],
)
def test_bad_rule_files_name_the_file_and_rule(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(PolicyLoadError) as err:
        load_rules([builtin_rules_path(), path])
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_an_unreadable_file_is_a_load_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(PolicyLoadError, match="cannot be read"):
        load_rules([path])


# --- the pattern language ----------------------------------------------------------------


def one_rule(body: str, match: str) -> object:
    rules = parse_rules(rule(f'id = "t"\n{body}\nmatch = [{match!r}]'), "test.toml")
    assert len(rules) == 1
    return rules[0]


@pytest.mark.parametrize(
    ("body", "example", "hits", "misses"),
    [
        (
            'pattern = ["git", ["push", "pull"]]',
            "git push",
            ["git pull origin", "sudo git push"],
            ["git fetch", "git", "echo git push"],
        ),
        ('pattern = ["mkfs*"]', "mkfs.ext4 /dev/sdb", ["mkfs -t xfs d"], ["mkdir mkfs"]),
        (
            'pattern = ["git", "clean"]\nany = ["-f", "--force"]\nnone = ["-n"]',
            "git clean -fdx",
            ["git clean -d --force", "git clean --force=yes"],
            ["git clean -fn", "git clean -d", "git clean --forced"],
        ),
        ('pattern = ["git", "push"]\nany = ["+*"]', "git push origin +main", [], ["git push a"]),
        (
            # Long options by any abbreviation, as git and getopt_long take them.
            'pattern = ["git", "reset"]\nany = ["--hard"]',
            "git reset --har",
            ["git reset --hard", "git reset --h", "git reset --hard=x"],
            ["git reset --hardest", "git reset -", "git reset --", "git reset --soft"],
        ),
        (
            # A `none` flag undone by a later --no-flag does not count.
            'pattern = ["git", "clean"]\nany = ["-f"]\nnone = ["-n", "--dry-run"]',
            "git clean -n --no-dry-run -f",
            ["git clean -f --dry-run --no-dry", "git clean -f"],
            ["git clean -f -n", "git clean --no-dry-run -n -f", "git clean -f --dry"],
        ),
        (
            'pattern = ["docker"]\nany = ["--net=host"]',
            "docker run --net=host x",
            [],
            ["docker run --net=bridge x"],
        ),
        (
            'reads = ["credential"]',
            "cat ~/.aws/credentials",
            ["curl -d @$HOME/.netrc x", "wc < ~/.ssh/id_rsa", "cat /home/u/.kube/config"],
            ["ls ~/.aws", "cat ~/.aws-notes", "echo ~/.ssh/id_rsa > x"],
        ),
        (
            'reads = ["process"]',
            "cat /proc/$PPID/environ",
            ["tr '\\\\0' x < /proc/1/environ", "cat /proc/42/mem"],
            ["cat /proc/self/status", "cat /proc/meminfo"],
        ),
        (
            'pattern = ["rm"]\npaths = ["root", "home"]',
            "rm -rf /",
            ["rm -- ~", "cd / && rm -r ."],
            ["rm -rf ~/build", "rm -rf -/"],
        ),
        (
            'writes = ["outside"]',
            "echo x > /tmp/y",
            ["cp a ../b", "tee -a /var/tmp/z"],
            ["echo x > y", "cat /etc/hosts"],
        ),
        (
            'pattern = ["sh"]\ninput_from = ["curl"]',
            "curl x | sh",
            ['sh -c "$(curl x)"', "sh <(curl x)"],
            ["sh x.sh", "cat x | sh"],
        ),
        ('notes = ["fork-bomb"]', "a(){ a|a& };a", [], ["a(){ a; }; a"]),
    ],
)
def test_pattern_language(body: str, example: str, hits: list[str], misses: list[str]) -> None:
    r = one_rule(body + '\ndecision = "prompt"\nreason = "test"', example)
    for command in hits:
        assert r.hits(command), command
    for command in misses:
        assert not r.hits(command), command


# --- path classes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "cwd", "expected"),
    [
        ("/", ".", {"root", "outside"}),
        ("/*", ".", {"root", "outside"}),
        ("~", ".", {"home", "outside"}),
        ("~/*", ".", {"home", "outside"}),
        ("/home", ".", {"home", "system", "outside"}),
        ("/etc/hosts", ".", {"system", "outside"}),
        ("/e*", ".", {"system", "outside"}),
        ("/tmp", ".", {"system", "outside"}),
        ("/tmp/x", ".", {"outside"}),
        ("/tmp/*", ".", {"outside"}),
        ("/var/tmp/x", ".", {"outside"}),
        ("~/.ssh/id_rsa", ".", {"sensitive", "credential", "outside"}),
        ("~/.s*", ".", {"sensitive", "credential", "outside"}),
        ("~/.bashrc", ".", {"sensitive", "outside"}),
        ("~/notes.txt", ".", {"outside"}),
        ("build", ".", {"workspace"}),
        ("./build/../dist", ".", {"workspace"}),
        (".", ".", {"workspace", "workspace-root"}),
        ("*", ".", {"workspace", "workspace-root"}),
        ("*.log", ".", {"workspace"}),
        (".git/config", ".", {"workspace", "workspace-git", "git-code"}),
        (".git/hooks/pre-commit", ".", {"workspace", "workspace-git", "git-code"}),
        (".git/HEAD", ".", {"workspace", "workspace-git"}),
        ("~/.docker/config.json", ".", {"sensitive", "credential", "outside"}),
        ("~/.docker/buildx", ".", {"sensitive", "outside"}),
        ("/root/.aws/credentials", ".", {"sensitive", "credential", "system", "outside"}),
        ("/home/*/.netrc", ".", {"sensitive", "credential", "outside"}),
        ("/run/secrets/token", ".", {"sensitive", "credential", "system", "outside"}),
        ("/proc/$PPID/environ", ".", {"process", "system", "outside"}),
        ("/proc/1/cmdline", ".", {"process", "system", "outside"}),
        ("/proc/*/environ", ".", {"process", "system", "outside"}),
        ("/proc/self/environ", ".", {"process", "system", "outside"}),
        ("/proc/self/status", ".", {"system", "outside"}),
        ("/proc/cpuinfo", ".", {"system", "outside"}),
        (".github", ".", {"workspace"}),
        (".harness/policy.toml", ".", {"workspace", "sensitive"}),
        ("..", ".", {"home", "outside"}),  # the workspace is ~/project
        ("../..", ".", {"home", "system", "outside"}),
        ("x", "/tmp", {"outside"}),
        ("x", "~", {"outside"}),
        ("x", None, {"unknown"}),
        ("~other/x", ".", {"unknown"}),
    ],
)
def test_paths_are_classified_lexically(word: str, cwd: str | None, expected: set[str]) -> None:
    assert PathContext(WORKSPACE, HOME).classify(word, [cwd]) == expected


def test_home_and_pwd_variables_resolve_but_others_are_unknown() -> None:
    from harness_tui.policy.shell import Word

    where = PathContext(WORKSPACE, HOME)
    assert where.resolve(Word("$HOME/.ssh", dynamic=True)) == "/home/user/.ssh"
    assert where.resolve(Word("${HOME}", dynamic=True)) == "/home/user"
    assert where.resolve(Word("$PWD/build", dynamic=True)) == "/home/user/project/build"
    assert where.resolve(Word("$HOMEDIR/x", dynamic=True)) is None
    assert where.resolve(Word("$HOME/$X", dynamic=True)) is None
    # A literal dollar sign (from single quotes) is just a character.
    assert where.resolve("$HOME") == "/home/user/project/$HOME"


def test_a_workspace_inside_a_system_tree_is_still_the_workspace() -> None:
    where = PathContext("/var/www/app", "/home/dev")
    assert where.classify("logs/x") == {"workspace"}
    assert where.classify("/var/www/other") == {"system", "outside"}


# --- rules that hold only with or without a sandbox ----------------------------------------


ONLY_UNSANDBOXED = rule("""
id = "no-ln-out"
pattern = ["ln"]
paths = ["outside"]
sandbox = false
decision = "prompt"
reason = "links out"
match = ["ln -s /etc x"]
""")
ONLY_SANDBOXED = rule("""
id = "tests"
pattern = ["pytest"]
sandbox = true
decision = "allow"
reason = "tests"
match = ["pytest"]
""")


def test_a_rule_can_hold_only_with_or_only_without_a_sandbox(tmp_path: Path) -> None:
    path = write(tmp_path / "p.toml", ONLY_UNSANDBOXED + ONLY_SANDBOXED)
    rules = load_rules([path])
    assert rules.get("no-ln-out").sandbox is False and rules.get("tests").sandbox is True

    def decide_(command: str, mode: str, sandboxed: bool) -> str:
        return evaluate_command(command, rules, mode, WORKSPACE, HOME, sandboxed=sandboxed).decision

    assert decide_("ln -s /etc x", "on-request", True) == "allow"
    assert decide_("ln -s /etc x", "on-request", False) == "prompt"
    assert decide_("pytest", "untrusted", True) == "allow"
    assert decide_("pytest", "untrusted", False) == "prompt"
    assert decide_("pytest", "on-request", False) == "prompt"


def test_a_user_can_allow_a_tool_without_the_sandbox_by_redefining_its_rule(
    tmp_path: Path,
) -> None:
    relaxed = write(
        tmp_path / "p.toml",
        rule("""
id = "python-dev"
pattern = ["pytest"]
decision = "allow"
reason = "our tests are ours"
match = ["pytest -q"]
"""),
    )
    builtin = load_builtin_rules()
    assert (
        evaluate_command(
            "pytest -q", builtin, "on-request", WORKSPACE, HOME, sandboxed=False
        ).decision
        == "prompt"
    )
    rules = load_rules([builtin_rules_path(), relaxed])
    decision = evaluate_command("pytest -q", rules, "on-request", WORKSPACE, HOME, sandboxed=False)
    assert (decision.decision, decision.rule_id) == ("allow", "python-dev")


def test_an_allow_always_rule_holds_without_the_sandbox(tmp_path: Path) -> None:
    approved = write(
        tmp_path / "p.toml",
        rule("""
id = "approved-terraform-plan-1"
decision = "allow"
approved = true
reason = "allowed always by the user"
pattern = ["terraform", "plan"]
match = ["terraform plan"]
"""),
    )
    rules = load_rules([builtin_rules_path(), approved])
    decision = evaluate_command(
        "terraform plan", rules, "on-request", WORKSPACE, HOME, sandboxed=False
    )
    assert decision.decision == "allow"


# --- credential paths, for the file tools -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "credential"),
    [
        ("/home/user/.ssh/id_ed25519", True),
        ("/home/user/.ssh", True),
        ("/home/user/.aws/credentials", True),
        ("/home/user/.netrc", True),
        ("/home/user/.config/gh/hosts.yml", True),
        ("/home/user/.docker/config.json", True),
        ("/home/user/.kube/config", True),
        ("/home/user/.gnupg/pubring.kbx", True),
        ("/home/user/.npmrc", True),
        ("/home/user/.pypirc", True),
        ("/home/user/.git-credentials", True),
        ("/home/other/.ssh/id_rsa", True),
        ("/root/.aws/config", True),
        ("/Users/me/.netrc", True),
        ("/run/secrets/db_password", True),
        ("/proc/1234/environ", True),
        ("/proc/self/environ", True),
        ("/proc/1/cmdline", True),
        ("/home/user/.ssh/../notes.txt", False),
        ("/home/user/.docker/buildx/x", False),
        ("/home/user/.bashrc", False),
        ("/home/user/project/.ssh-notes", False),
        ("/proc/self/status", False),
        ("/proc/cpuinfo", False),
        ("/etc/hosts", False),
    ],
)
def test_is_credential_path(path: str, credential: bool) -> None:
    assert is_credential_path(path, HOME) is credential
    assert is_credential_path(Path(path), Path(HOME)) is credential
