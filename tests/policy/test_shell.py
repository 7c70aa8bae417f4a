"""The shell analysis: which simple commands a command line would run, normalised."""

from __future__ import annotations

import pytest

from harness_tui.policy.shell import (
    MAX_BRACE_WORDS,
    MAX_COMMAND_LENGTH,
    MAX_DEPTH,
    analyze,
    file_writes,
    split_command,
)


def only(command: str):
    """The single segment of `command` that runs a command."""
    segments = [seg for seg in analyze(command).segments if seg.argv]
    assert len(segments) == 1, [seg.display() for seg in segments]
    return segments[0]


def segment(command: str, name: str):
    found = [seg for seg in analyze(command).segments if seg.name == name]
    assert found, f"no {name} segment in {split_command(command)}"
    return found[0]


# --- splitting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("a && b || c; d | e & f", ["a", "b", "c", "d", "e", "f"]),
        ("a |& b", ["a", "b"]),
        ("a\nb\n\nc", ["a", "b", "c"]),
        ("(a; b) && c", ["a", "b", "c"]),
        ("{ a; b; } > out.txt", ["a", "b"]),
        ("( (a) )", ["a"]),
        ("a &&\n  b", ["a", "b"]),
        ("ls # rm -rf /", ["ls"]),
        ("echo a#b", ["echo 'a#b'"]),
        ("if a; then b; elif c; then d; else e; fi", ["a", "b", "c", "d", "e"]),
        ("while a; do b; done; until c; do d; done", ["a", "b", "c", "d"]),
        ("for x in 1 2; do echo $x; done", ["echo $x"]),
        ("for ((i = 0; i < 3; i++)); do echo $i; done", ["echo $i"]),
        ("case $x in a|b) one;; (c) two;; *) three;; esac", ["one", "two", "three"]),
        ("[[ -f a && -d b ]] && ls", ["[[ -f a '&&' -d b ]]", "ls"]),
        ("! grep -q x file", ["grep -q x file"]),
        ("rm \\\n  -rf build", ["rm -rf build"]),
    ],
)
def test_splits_into_the_commands_that_run(command: str, expected: list[str]) -> None:
    assert split_command(command) == expected


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("echo \"a && b\" 'c; d'", ["echo", "a && b", "c; d"]),
        ("echo a\\;b a\\ b", ["echo", "a;b", "a b"]),
        ('echo "it\'s" \'say "hi"\'', ["echo", "it's", 'say "hi"']),
        ('echo "a\\"b" "\\$HOME"', ["echo", 'a"b', "$HOME"]),
        ("echo $'a\\nb' $'\\x41\\101'", ["echo", "a\nb", "AA"]),
        ("echo '(not a subshell)' \"|\"", ["echo", "(not a subshell)", "|"]),
        ("grep -e 'x' -- -y", ["grep", "-e", "x", "--", "-y"]),
    ],
)
def test_quotes_and_escapes_are_removed(command: str, argv: list[str]) -> None:
    assert list(only(command).argv) == argv


@pytest.mark.parametrize(
    "command",
    ["\\rm -rf x", "'rm' -rf x", '"rm" -rf x', "r''m -rf x", "r\"\"m -rf x", "/bin/rm -rf x",
     "/usr/bin/rm -rf x", "./rm -rf x", "$'rm' -rf x", "r{m,} -rf x"],
)  # fmt: skip
def test_command_names_are_normalised(command: str) -> None:
    assert only(command).name == "rm"


def test_brace_expansion_spreads_words_but_leaves_quotes_and_parameters_alone() -> None:
    assert list(only("rm -rf /{etc,usr}").argv) == ["rm", "-rf", "/etc", "/usr"]
    assert list(only("echo '{a,b}' ${x} {}").argv) == ["echo", "{a,b}", "${x}", "{}"]


# --- here-documents ------------------------------------------------------------------


def test_here_document_bodies_are_data_not_commands() -> None:
    assert split_command("cat <<EOF\nrm -rf /\nEOF\nls") == ["cat", "ls"]
    assert split_command("cat <<'EOF' > f\n$(rm -rf /)\nEOF") == ["cat"]
    assert split_command("cat <<-END\n\trm -rf /\n\tEND\necho done") == ["cat", "echo done"]
    assert split_command("cat <<A <<B\nrm x\nA\nrm y\nB\necho end") == ["cat", "echo end"]


def test_substitutions_in_an_unquoted_here_document_run() -> None:
    analysis = analyze("cat <<EOF\nnow: $(date) by `whoami`\nEOF")
    assert [seg.name for seg in analysis.segments] == ["date", "whoami", "cat"]
    assert segment("cat <<EOF\n$(date)\nEOF", "cat").has_note("substitution")


def test_a_here_document_or_string_fed_to_a_shell_is_judged_as_commands() -> None:
    assert split_command("bash <<EOF\nrm -rf /tmp/x\nls\nEOF") == ["rm -rf /tmp/x", "ls"]
    assert split_command("sh <<'EOF'\nmake\nEOF") == ["make"]
    assert split_command('bash <<< "make test"') == ["make test"]
    assert split_command("cat <<EOF | bash\npytest\nEOF") == ["cat", "pytest"]
    assert split_command("echo 'ls -la' | sh") == ["echo 'ls -la'", "ls -la"]


def test_a_shell_reading_unknown_input_is_noted() -> None:
    shell = segment("cat install.sh | bash", "bash")
    assert shell.has_note("stdin-script")
    assert shell.input_from == ("cat",)


# --- wrappers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "via"),
    [
        ("FOO=1 BAR='x y' make test", ()),
        ("env make test", ("env",)),
        ("env -i -u BAR FOO=1 make test", ("env",)),
        ("/usr/bin/env -- make test", ("env",)),
        ("command make test", ("command",)),
        ("builtin exec make test", ("builtin", "exec")),
        ("exec -a name make test", ("exec",)),
        ("nice -n 10 make test", ("nice",)),
        ("nice -5 make test", ("nice",)),
        ("ionice -c 3 make test", ("ionice",)),
        ("timeout 5 make test", ("timeout",)),
        ("timeout -s KILL -k 10 5m make test", ("timeout",)),
        ("nohup make test", ("nohup",)),
        ("time -p make test", ("time",)),
        ("stdbuf -oL -e0 make test", ("stdbuf",)),
        ("setsid make test", ("setsid",)),
        ("coproc make test", ("coproc",)),
        ("timeout 5 nice nohup env X=1 make test", ("timeout", "nice", "nohup", "env")),
        ("uv run --with rich make test", ("uv run",)),
    ],
)
def test_wrappers_are_peeled_to_the_command_they_run(command: str, via: tuple) -> None:
    seg = only(command)
    assert list(seg.argv) == ["make", "test"]
    assert seg.via == via


@pytest.mark.parametrize(
    "command",
    [
        "coproc NAME { make test; }",
        "coproc { make test; }",
        "coproc NAME ( make test )",
        "coproc ( make test ) && echo started",
        "coproc NAME { cd /tmp; make test; }; echo done",
    ],
)
def test_coproc_runs_its_compound_command_in_the_background(command: str) -> None:
    analysis = analyze(command)
    assert analysis.errors == ()
    seg = segment(command, "make")
    assert list(seg.argv) == ["make", "test"]
    assert seg.via == ("coproc",)
    # A `cd` inside a coproc moves only its own subshell.
    assert all(after.cwds == (".",) for after in analysis.segments if after.name == "echo")


def test_variables_holding_commands_are_judged() -> None:
    assert split_command('GIT_SSH_COMMAND="ssh -v" git fetch') == ["ssh -v", "git fetch"]
    assert split_command("export PAGER='less -R'") == ["export 'PAGER=less -R'", "less -R"]
    assert split_command("BASH_ENV=~/x.sh bash -c make") == ["source ~/x.sh", "make"]
    assert split_command("sudo EDITOR=nano visudo")[1:] == ["nano", "visudo"]


def test_command_v_only_looks_a_name_up() -> None:
    assert list(only("command -v rm").argv) == ["command", "-v", "rm"]


def test_env_split_string_is_split_into_words() -> None:
    assert list(only("env -S 'rm -rf build'").argv) == ["rm", "-rf", "build"]


def test_sudo_is_judged_as_well_as_the_command_it_runs() -> None:
    assert split_command("sudo -u root -E make install") == [
        "sudo -u root -E make install",
        "make install",
    ]
    assert split_command("doas -u admin ls") == ["doas -u admin ls", "ls"]
    assert split_command("sudo -l") == ["sudo -l"]
    assert split_command("su -c 'make install' root") == [
        "su -c 'make install' root",
        "make install",
    ]


def test_xargs_gives_its_command_unknown_arguments() -> None:
    seg = segment("find . -name '*.o' | xargs -0 -n 1 rm -f", "rm")
    assert list(seg.argv[:2]) == ["rm", "-f"]
    assert seg.argv[-1].dynamic
    replaced = only("xargs -I{} cp {} backup/").argv
    assert replaced[0] == "cp" and replaced[1].dynamic and replaced[2] == "backup/"


def test_xargs_uses_its_input_when_it_is_known_now() -> None:
    assert split_command("echo a b | xargs rm")[-1] == "rm a b"
    assert split_command("xargs -I{} touch {}.txt <<< x") == ["touch x"]


def test_find_exec_runs_its_command_on_the_starting_points() -> None:
    analysis = analyze("find /srv /opt -exec rm -rf {} \\; -print")
    assert [seg.display() for seg in analysis.segments][1:] == ["rm -rf /srv /opt"]
    plus = analyze("find . -name '*.py' -execdir chmod 644 {} +")
    assert plus.segments[-1].display() == "chmod 644 ./{found}"


def test_find_delete_is_a_deletion() -> None:
    assert split_command("find build -delete")[-1] == "rm -r build"
    assert split_command("find . -name '*.pyc' -delete")[-1] == "rm -r ./{found}"
    assert segment("find build -delete", "rm").via == ("find -delete",)


def test_shell_c_strings_are_parsed_recursively() -> None:
    assert split_command("bash -c 'make && rm -rf out'") == ["make", "rm -rf out"]
    assert split_command("sh -ec \"bash -lc 'pytest -q'\"") == ["pytest -q"]
    assert segment("zsh -c 'ls'", "ls").via == ("zsh -c",)


def test_a_shell_c_string_known_only_at_run_time_is_noted() -> None:
    seg = segment('bash -c "$SCRIPT"', "bash")
    assert seg.has_note("dynamic-script")


def test_eval_alias_trap_and_watch_strings_are_judged() -> None:
    assert split_command("eval 'make test'") == ["eval 'make test'", "make test"]
    assert split_command("alias x='rm -rf out'")[-1] == "rm -rf out"
    assert split_command("trap 'rm -f lock' EXIT")[-1] == "rm -f lock"
    assert split_command("watch -n 2 'git status'") == ["git status"]


@pytest.mark.parametrize(
    "command",
    [
        "git push --force",
        "git -c core.quotepath=off push --force",
        "git -C ../other --no-pager push --force",
        "git --git-dir=.git --work-tree=. push --force",
        "/usr/bin/git -c a=b -c c=d push --force",
    ],
)
def test_git_global_options_are_dropped(command: str) -> None:
    assert list(only(command).argv) == ["git", "push", "--force"]


def test_git_settings_that_run_commands_are_judged() -> None:
    assert split_command("git -c core.pager='rm -rf out' log") == ["rm -rf out", "git log"]


def test_git_aliases_given_with_dash_c_are_expanded() -> None:
    assert split_command("git -c alias.p='push --force' p origin") == ["git push --force origin"]
    assert split_command("git -c alias.x='!make clean' x") == ["make clean", "git x"]


# --- substitutions ---------------------------------------------------------------------


def test_command_substitutions_are_found_and_feed_the_command() -> None:
    analysis = analyze('echo $(a $(b)) `c` "$(d)"')
    assert [seg.name for seg in analysis.segments] == ["b", "a", "c", "d", "echo"]
    echo = analysis.segments[-1]
    assert echo.has_note("substitution")
    assert set(echo.input_from) == {"a", "b", "c", "d"}


def test_backticks_unescape_before_parsing() -> None:
    assert [s.name for s in analyze("echo `echo \\`id\\``").segments] == ["id", "echo", "echo"]


def test_substitutions_hide_in_parameters_assignments_and_arrays() -> None:
    assert split_command('echo "${x:-$(make)}"')[0] == "make"
    assert split_command("x=$(make); y=(a $(ls))") == ["make", "ls"]


def test_arithmetic_is_not_a_command() -> None:
    assert split_command("echo $((1 + 2)) $(( (3) ))") == ["echo $((1 + 2)) $(( (3) ))"]
    assert split_command("echo $((cd x) && ls)") == ["cd x", "ls", "echo $((cd x) && ls)"]


def test_process_substitution_is_found() -> None:
    analysis = analyze("diff <(sort a) >(tee log)")
    assert [seg.name for seg in analysis.segments] == ["sort", "tee", "diff"]
    assert analysis.segments[-1].has_note("process-substitution")
    assert analysis.segments[1].input_from == ("diff",)


def test_pipes_record_where_input_comes_from() -> None:
    analysis = analyze("curl -s x | tee f | sh")
    assert analysis.segments[-1].input_from == ("curl", "tee")


def test_functions_are_judged_and_fork_bombs_noted() -> None:
    assert split_command("f() { make; }; g() ( ls ); function h { pwd; }") == ["make", "ls", "pwd"]
    bomb = analyze(":(){ :|:& };:")
    assert [seg.has_note("fork-bomb") for seg in bomb.segments] == [True, True, False]
    assert segment("f() { f; }", "f").has_note("recursive-function")


# --- writes and directories ------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "writes"),
    [
        ("echo x > a", ["a"]),
        ("echo x >> a 2> b &> c &>> d >| e", ["a", "b", "c", "d", "e"]),
        ("cat <> a", ["a"]),
        ("make >& log", ["log"]),
        ("make 2>&1 > /dev/null", []),
        ("echo x > /dev/stderr 2> /dev/fd/3 > /dev/stdout", []),
        ("sort < in.txt", []),
        ('echo $(cat a) > "$OUT"', ["$OUT"]),
    ],
)
def test_redirections_that_write_files(command: str, writes: list[str]) -> None:
    assert [str(w) for s in analyze(command).segments for w in s.writes] == writes


@pytest.mark.parametrize(
    ("command", "writes"),
    [
        ("tee -a a b", ["a", "b"]),
        ("cp -r src dst", ["dst"]),
        ("cp -t dir a b", ["dir"]),
        ("mv a b", ["a", "b"]),
        ("install -m 755 tool /usr/local/bin/", ["/usr/local/bin/"]),
        ("ln -sf target name", ["name"]),
        ("dd if=a of=b bs=1M", ["b"]),
        ("truncate -s 0 log", ["log"]),
        ("touch -d yesterday a b", ["a", "b"]),
        ("mkdir -p -m 700 a/b", ["a/b"]),
        ("sed -i 's/a/b/' f g", ["f", "g"]),
        ("sed -i.bak -e 's/a/b/' f", ["f"]),
        ("sed -n 's/a/b/p' f", []),
        ("perl -pi -e 's/a/b/' f", ["f"]),
        ("curl -sSLo out.bin https://x", ["out.bin"]),
        ("wget -O page.html https://x", ["page.html"]),
        ("wget -O - https://x", []),
        ("tar -xzf a.tgz -C /opt", ["/opt"]),
        ("tar -czf a.tgz src", ["a.tgz"]),
        ("tar cf out.tar src", ["out.tar"]),
        ("tar -tf a.tar", []),
        ("grep x file", []),
        ("sort -o out.txt in.txt", ["out.txt"]),
        ("sort -uo out.txt in.txt", ["out.txt"]),
        ("sort --out=out.txt in.txt", ["out.txt"]),
        ("sort in.txt", []),
        ("xxd -r -p in.hex out.bin", ["out.bin"]),
        ("xxd -c 8 in.bin", []),
        ("uniq -c in.txt out.txt", ["out.txt"]),
        ("tree -o list.txt", ["list.txt"]),
        ("yq -i '.a = 1' a.yaml b.yaml", ["a.yaml", "b.yaml"]),
        ("yq '.a' a.yaml", []),
        ("zip -r out.zip src", ["out.zip"]),
        ("patch -p1", ["."]),
        ("patch -o fixed.py a.py fix.diff", ["fixed.py"]),
        ("patch a.py fix.diff", ["a.py"]),
        ("git log -p --output=log.txt", ["log.txt"]),
        ("git diff --outp=d.txt", ["d.txt"]),
        ("git format-patch -o out HEAD~2", ["out"]),
        ("git format-patch HEAD~2", ["."]),
        ("git archive -o a.tgz HEAD", ["a.tgz"]),
        ("git clone https://example.com/r.git dir", ["dir"]),
        ("git clone https://example.com/r.git", []),
        ("git worktree add ../wt feature", ["../wt"]),
        ("git init repo", ["repo"]),
        ("git config --global user.name x", ["~/.gitconfig"]),
        ("git config --file cfg a.b c", ["cfg"]),
        ("git config --global --get user.name", []),
        ("git config user.name x", []),
        ("docker run -v /data:/data -v ./src:/src:ro img", ["/data"]),
        ("docker run --mount type=bind,source=/srv,target=/srv img", ["/srv"]),
        ("docker run -v named:/data img", []),
        ("docker ps", []),
    ],
)
def test_commands_that_write_files(command: str, writes: list[str]) -> None:
    assert [str(w) for w in file_writes(only(command).argv)] == writes


def test_cd_moves_the_commands_after_it() -> None:
    def cwds(command: str) -> list[str | None]:
        return [None if c is None else str(c) for c in analyze(command).segments[-1].cwds]

    assert cwds("cd /tmp && rm x") == ["/tmp"]
    assert cwds("cd /tmp; rm x") == ["/tmp", "."]  # the cd may have failed
    assert cwds("cd /tmp || rm x") == ["."]
    assert cwds("(cd /tmp); rm x") == ["."]
    assert cwds("cd /tmp | cat; rm x") == ["."]
    assert cwds("cd a && cd b && rm x") == ["a/b"]
    assert cwds("cd && rm x") == ["~"]
    assert cwds("cd - && rm x") == [None]
    assert cwds('cd "$DIR" && rm x') == ["$DIR"]
    assert cwds("env -C /srv rm x") == ["/srv"]


# --- what cannot be parsed --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ("echo 'abc", "unterminated single quote"),
        ('echo "abc', "unterminated double quote"),
        ("echo $'abc", "unterminated $'…' quote"),
        ("echo `ls", "unterminated backquote"),
        ("echo $(ls", "$(…) is not closed"),
        ("echo ${x", "${ is not closed"),
        ("(ls", "( is not closed"),
        ("{ ls; ", "{ is not closed"),
        ("ls )", "unexpected ')'"),
        ("; ls", "unexpected ';'"),
        ("ls &&", "&& without a command after it"),
        ("ls ||\n", "|| without a command after it"),
        ("ls | | wc", "| without a command after it"),
        ("cat <<EOF\nbody", "here-document is not closed by 'EOF'"),
        ("echo > ", "redirection without a target"),
        ("case x in a) ls", "case without esac"),
        ("[[ -f x", "[[ is not closed"),
    ],
)
def test_parse_problems_are_reported(command: str, error: str) -> None:
    analysis = analyze(command)
    assert error in analysis.errors
    assert analysis.segments[-1].has_note("unparseable")


def test_what_can_be_read_of_a_broken_command_is_still_split() -> None:
    assert split_command("rm -rf / 'oops")[0] == "rm -rf / oops"


def test_nesting_is_limited() -> None:
    deep = "echo " + "$(" * (MAX_DEPTH + 2) + "ls" + ")" * (MAX_DEPTH + 2)
    assert f"nested more than {MAX_DEPTH} levels deep" in analyze(deep).errors
    shells = "ls"
    for _ in range(MAX_DEPTH + 2):
        shells = "bash -c " + "'" + shells.replace("'", "'\\''") + "'"
    assert analyze(shells).errors


def test_a_brace_expansion_too_large_to_follow_is_an_error_not_a_word() -> None:
    analysis = analyze("r{m,}{,}{,}{,}{,}{,}{,} -rf /")
    assert f"brace expansion makes more than {MAX_BRACE_WORDS} words" in analysis.errors
    assert analyze("echo " + "{a,b}" * 40).errors  # and it returns quickly


def test_overlong_commands_are_not_analysed() -> None:
    analysis = analyze("ls; " * (MAX_COMMAND_LENGTH // 4 + 1))
    assert analysis.errors == (f"longer than {MAX_COMMAND_LENGTH} characters",)
    assert [seg.has_note("unparseable") for seg in analysis.segments] == [True]


def test_valid_commands_have_no_errors() -> None:
    for command in ("", "   ", "# comment only", "ls -la", "a=1", "> out.txt", "echo }"):
        assert analyze(command).errors == (), command
