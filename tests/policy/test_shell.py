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


def test_git_options_that_run_commands_are_judged_and_noted() -> None:
    assert split_command("git rebase -x 'make test' main") == [
        "git rebase -x 'make test' main",
        "make test",
    ]
    assert split_command("git rebase --exe='rm -rf out' main")[-1] == "rm -rf out"
    assert split_command("git bisect run ./check.sh --fast")[-1] == "check.sh --fast"
    assert split_command("git submodule foreach --recursive git clean -fdx")[-1] == (
        "git clean -fdx"
    )
    fetch = segment("git fetch --upload-pack='./evil' origin", "git")
    assert [note.kind for note in fetch.notes] == ["option-command"]
    assert split_command("git difftool -x 'rm -rf out' HEAD")[0] == "rm -rf out"


@pytest.mark.parametrize(
    ("command", "noted"),
    [
        ("git -c core.hooksPath=/tmp/h commit", True),
        ("git -c include.path=/tmp/x status", True),
        ("git --config-env=core.fsmonitor=X status", True),
        ("git --exec-path=/tmp/x status", True),
        ("GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=a GIT_CONFIG_VALUE_0=b git status", True),
        ("env GIT_CONFIG_GLOBAL=/tmp/x git status", True),
        ("git config core.hooksPath .githooks", True),
        ("git config alias.st '!git status'", True),
        ("git -c alias.st='!git status' st", False),  # judged where it runs
        ("git -c core.pager=cat log", False),
        ("git -c user.name=x -c color.ui=never commit", False),
        ("git config user.email a@b", False),
        ("git config --get core.hooksPath", False),
    ],
)
def test_git_configuration_that_can_run_commands_is_noted(command: str, noted: bool) -> None:
    notes = [n.kind for seg in analyze(command).segments for n in seg.notes]
    assert ("git-config" in notes) == noted


def test_git_dash_c_directory_moves_the_command() -> None:
    assert only("git -C /tmp log --output=x").cwds == ("/tmp",)


# --- wrappers that run their arguments ----------------------------------------------------


@pytest.mark.parametrize(
    ("command", "inner"),
    [
        ("flock /tmp/l rm -rf out", "rm -rf out"),
        ("flock -x -w 10 .lock make", "make"),
        ("flock -n .lock -c 'rm -rf out'", "rm -rf out"),
        ("script -qc 'rm -rf out' /dev/null", "rm -rf out"),
        ("script --command 'make' -q log.txt", "make"),
        ("time ! rm -rf out", "rm -rf out"),
        ("time -p ! make", "make"),
        ("nohup -- make &", "make"),
        ("taskset 0x3 make", "make"),
        ("taskset -c 0-3 make", "make"),
        ("chrt -f 10 make", "make"),
        ("chrt --idle 0 make", "make"),
        ("numactl --interleave=all make", "make"),
        ("numactl -N 0 -m 0 make", "make"),
        ("strace -f -e trace=file -o /dev/null make", "make"),
        ("ltrace -o t.txt make", "make"),
        ("valgrind --leak-check=full -q make", "make"),
        ("xvfb-run -a -s '-screen 0 800x600x24' make", "make"),
        ("unshare -r make", "make"),
        ("setpriv --reuid=1000 make", "make"),
        ("prlimit --nofile=1024 make", "make"),
        ("chroot /srv/root make", "make"),
        ("setarch x86_64 -R make", "make"),
        ("sg wheel -c 'make'", "make"),
        ("dbus-run-session -- make", "make"),
        ("fakeroot -- make", "make"),
        ("proxychains4 -q make", "make"),
        ("systemd-run --user --unit x make", "make"),
        ("env -iS 'make -j2'", "make -j2"),
        ('env -S"make -j2"', "make -j2"),
        ("env --split-string='make -j2'", "make -j2"),
        ("bash /dev/stdin <<< 'make'", "make"),
        ("sh /proc/self/fd/0 <<EOF\nmake\nEOF", "make"),
        ("source /dev/stdin <<< 'make'", "make"),
        ("echo make | script -q /dev/null", "make"),
    ],
)
def test_wrappers_run_the_command_they_are_given(command: str, inner: str) -> None:
    assert inner in split_command(command)


@pytest.mark.parametrize(
    "command", ["taskset -p 0x1 1234", "chrt -p 1234", "prlimit -p 1234", "flock 9", "numactl -H"]
)
def test_wrappers_that_run_nothing_are_judged_as_they_are(command: str) -> None:
    assert split_command(command) == [command]


def test_wrappers_carry_the_files_they_write() -> None:
    assert [str(w) for w in segment("strace -o trace.txt make", "make").writes] == ["trace.txt"]
    assert [str(w) for w in segment("valgrind --log-file=v.log make", "make").writes] == ["v.log"]
    writes = [str(w) for s in analyze("script -q -c make log.txt").segments for w in s.writes]
    assert writes == ["log.txt"]


def test_parallel_runs_its_template_on_each_argument() -> None:
    assert split_command("parallel 'gzip {}' ::: a b") == ["gzip a", "gzip b"]
    assert split_command("parallel rm -rf ::: a b") == ["rm -rf a", "rm -rf b"]
    assert split_command("parallel ::: 'make a' 'make b'") == ["make a", "make b"]
    assert split_command("echo x | parallel rm")[-1] == "rm x"
    unknown = segment("find . | parallel -j4 gzip {}", "gzip")
    assert unknown.argv[-1].dynamic
    assert segment("parallel < cmds.txt", "parallel").has_note("stdin-script")


def test_fd_exec_runs_its_command_on_what_it_finds() -> None:
    assert split_command("fd -e py -x black {}") == ["fd -e py", "black ./{found}"]
    assert split_command("fd . /srv -X rm -rf") == ["fd . /srv", "rm -rf /srv/{found}"]
    assert split_command("fd -x wc -l \\; -e txt")[-1] == "wc -l ./{found}"


def test_bash_functions_handed_over_in_the_environment_are_judged() -> None:
    analysis = analyze("env 'BASH_FUNC_ls%%=() { rm -rf out; }' bash -c ls")
    assert "rm -rf out" in [seg.display() for seg in analysis.segments]
    assert any(seg.has_note("function-export") for seg in analysis.segments)


def test_aliases_are_judged_expanded_and_as_written() -> None:
    assert split_command("alias g='git push -f'; g origin") == [
        "alias 'g=git push -f'",
        "git push -f",
        "git push -f origin",
        "g origin",
    ]
    # An alias that refers to itself is expanded once.
    assert split_command("alias ls='ls -la'; ls") == ["alias 'ls=ls -la'", "ls -la", "ls -la", "ls"]


@pytest.mark.parametrize(
    ("command", "note"),
    [
        ("python3 -c 'print(1)'", "python3 -c runs the program given on its command line"),
        (
            "python3 -W ignore -Ic 'print(1)'",
            "python3 -c runs the program given on its command line",
        ),
        ("python3 - <<< 'print(1)'", "python3 reads its program from its input"),
        ("echo 'print(1)' | python3", "python3 reads its program from its input"),
        ("perl -ne 'print' f", "perl -ne runs the program given on its command line"),
        ("node --eval 'x'", "node --eval runs the program given on its command line"),
        ("awk '{print $1}' f", "awk runs the program given on its command line"),
        ("vim -c ':q' f", "vim -c runs editor commands, which can run shell commands"),
        ("emacs --batch --eval '(x)'", "emacs --batch runs Lisp given on its command line"),
        ("deno eval 'x'", "deno eval runs the program given on its command line"),
    ],
)
def test_interpreters_given_inline_code_are_noted(command: str, note: str) -> None:
    notes = [n.detail for seg in analyze(command).segments for n in seg.notes]
    assert note in notes


@pytest.mark.parametrize(
    "command",
    ["python3 script.py -c x", "python3 -m pytest -c x", "awk -f prog.awk f", "vim +10 f",
     "perl script.pl", "node app.js -e"],
)  # fmt: skip
def test_interpreters_running_files_are_not_inline_code(command: str) -> None:
    assert not any(seg.has_note("inline-code") for seg in analyze(command).segments)


@pytest.mark.parametrize(
    ("command", "judged", "note"),
    [
        ("rg --pre ./decode.sh secret", "decode.sh {found}", "rg --pre runs ./decode.sh"),
        ("sort --compress-program=gzip big.txt", "gzip {found}", None),
        ("tar -xf a.tar --to-command='cat -n'", "cat -n", None),
        ("tar -cf a.tar --checkpoint-action=exec='echo hi' src", "echo hi", None),
        ("zip -T -TT 'unzip -t' a.zip src", "unzip -t", None),
    ],
)
def test_options_that_run_programs_are_judged_and_noted(
    command: str, judged: str, note: str | None
) -> None:
    analysis = analyze(command)
    assert judged in [seg.display() for seg in analysis.segments]
    notes = [n.detail for seg in analysis.segments for n in seg.notes if n.kind == "option-command"]
    assert notes and (note is None or note in notes)


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("LD_PRELOAD=./x.so ls", "preload"),
        ("export LD_PRELOAD=/tmp/x.so", "preload"),
        ("NODE_OPTIONS='-r ./hook.js' node app.js", "preload"),
        ("env 'BASH_FUNC_f%%=() { id; }' bash -c f", "function-export"),
    ],
)
def test_variables_that_load_code_are_noted(command: str, kind: str) -> None:
    assert any(seg.has_note(kind) for seg in analyze(command).segments)


def test_node_options_that_load_nothing_are_not_noted() -> None:
    assert not analyze("NODE_OPTIONS=--max-old-space-size=4096 npm test").segments[0].notes


# --- sed ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "writes", "reads", "runs"),
    [
        ("sed 's/a/b/w out.txt' f", ["out.txt"], ["f"], []),
        ("sed -n '/x/w matches.txt' f", ["matches.txt"], ["f"], []),
        ("sed -e 1d -e '$W last' f", ["last"], ["f"], []),
        ("sed '/start/r header.txt' f", [], ["f", "header.txt"], []),
        ("sed --expression='1e date' f", [], ["f"], ["date"]),
        ("sed -n 'e make\n' f", [], ["f"], ["make"]),
        ("sed ':a;N;$!ba;s/\\n/ /g' f", [], ["f"], []),
        ("sed '$a\\\nlast' f", [], ["f"], []),
        ("sed -i.bak -E 's|/usr|/opt|g; y/ab/AB/' f", ["f"], ["f"], []),
        ("sed --sandbox 's/a/b/w out' f", [], ["f"], []),
        ("sed -f script.sed f", [], ["f", "script.sed"], []),
    ],
)
def test_sed_scripts_that_write_read_and_run(
    command: str, writes: list[str], reads: list[str], runs: list[str]
) -> None:
    analysis = analyze(command)
    sed = segment(command, "sed")
    assert [str(w) for w in sed.writes] == writes
    assert sorted(str(r) for r in sed.reads) == sorted(reads)
    assert [seg.display() for seg in analysis.segments if seg.name != "sed"] == runs


def test_sed_running_its_own_text_or_an_unreadable_script_is_noted() -> None:
    assert segment("sed 's/.*/id/e' f", "sed").has_note("dynamic-script")
    assert segment('sed "s/x/y/$FLAGS" f', "sed").has_note("dynamic-script")
    assert not segment('sed "s/$old/$new/g" f', "sed").notes


# --- what commands read ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "reads"),
    [
        ("cat a b", ["a", "b"]),
        ("tr a b < in.txt", ["in.txt"]),
        ("while read x; do echo $x; done < list.txt", ["list.txt"]),
        ("curl -d @body.json https://x", ["https://x", "body.json"]),
        ("curl -F 'f=@up.bin' https://x", ["https://x", "up.bin"]),
        ("curl --data-binary=@$HOME/x https://x", ["$HOME/x", "https://x"]),
        ("dd if=disk.img of=copy.img", ["disk.img", "copy.img"]),
        ("xargs -a args.txt echo", ["args.txt"]),
        ("docker run -v /data:/data:ro img", ["/data"]),
        ("ls ~/.ssh", []),
        ("stat a", []),
        ("echo ~/.ssh/id_rsa", []),
        ("find ~/.ssh -name x", []),
        ("grep -- -x f", ["-x", "f"]),
    ],
)
def test_what_a_command_reads(command: str, reads: list[str]) -> None:
    found = [str(r) for seg in analyze(command).segments for r in seg.reads]
    assert sorted(found) == sorted(set(found)) and set(reads) <= set(found)
    if not reads:
        assert found == []


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
        ("patch -p1 --dry-run", []),
        ("unzip -l a.zip", []),
        ("unzip -qo a.zip -d out", ["out"]),
        ("git log -p --output=log.txt", ["log.txt"]),
        ("git diff --outp=d.txt", ["d.txt"]),
        ("git format-patch -o out HEAD~2", ["out"]),
        ("git format-patch HEAD~2", []),
        ("git apply fix.patch", ["."]),
        ("git apply --directory=sub fix.patch", ["sub"]),
        ("git apply --check fix.patch", []),
        ("git mv a.py b.py", ["a.py", "b.py"]),
        ("sponge out.txt", ["out.txt"]),
        ("rsync -a src/ dst/", ["dst/"]),
        ("rsync -a src/ host:dst/", []),
        ("scp host:key ./key", ["./key"]),
        ("wget -P dl https://x", ["dl"]),
        ("curl --output-dir dl -O https://x", ["dl"]),
        ("git archive -o a.tgz HEAD", ["a.tgz"]),
        ("git clone https://example.com/r.git dir", ["dir"]),
        ("git clone https://example.com/r.git", []),
        ("git worktree add ../wt feature", ["../wt"]),
        ("git init repo", ["repo"]),
        ("git config --global user.name x", []),
        ("git config --global core.hooksPath h", ["~/.gitconfig"]),
        ("docker run -v=/srv:/srv img", ["/srv"]),
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
