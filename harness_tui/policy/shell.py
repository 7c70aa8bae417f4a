"""Shell command analysis: which simple commands would a command line run?

Pure functions, no I/O. `analyze(command)` parses the text closely enough to bash to
judge it and returns one `Segment` per simple command that may run, including those
hidden in `$(…)`, backticks, `<(…)`, `bash -c '…'`, here-documents fed to a shell,
`find -exec`, `xargs`, `eval`, `alias` and wrappers such as `sudo`, `env`, `timeout`
or `nohup`. Command names are normalised (`\\rm`, `'rm'`, `r''m` and `/bin/rm` are all
`rm`; `git -c k=v -C dir push` is `git push`).

Wrappers that run their arguments are peeled (`flock F cmd`, `taskset`, `strace`,
`parallel`, `script -c`, `time !`, …), code hidden in options is judged (`git rebase -x`,
`git -c alias.x=!…`, `sed 'e …'`, `tar --to-command`), and what a command reads
(`< file`, its file arguments, `curl -d @file`) is recorded besides what it writes.

The analysis errs towards finding more commands rather than fewer: a function body is
judged as if it ran, both sides of `||` are judged, an alias is judged both expanded
and not, and a `cd` that might fail leaves both the old and the new directory possible. Whatever cannot be parsed is reported in
`Analysis.errors` and as an `unparseable` note, so the policy never allows it silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

# Nesting of $(…), backticks and `bash -c` strings beyond this is refused rather than
# followed: it bounds the work an adversarial command can cause.
MAX_DEPTH = 10
# Brace expansion (`{a,b}`) beyond this many words is left unexpanded.
MAX_BRACE_WORDS = 64
# Possible working directories tracked through `cd`; more than this means "unknown".
MAX_CWDS = 8
# Longer commands are not analysed (and so need approval): it bounds the time spent.
MAX_COMMAND_LENGTH = 200_000

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish"})

# Redirection targets that are not files: writing to them changes nothing on disk.
HARMLESS_TARGETS = frozenset(
    {"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "/dev/zero"}
)
_HARMLESS_FD = re.compile(r"/(dev|proc/self)/fd/\d+")

_META = "|&;()<> \t\r\n"
# Longest first, so `&&` is not read as two `&`.
_OPERATORS = tuple(";;& &>> <<< <<- && || ;; ;& |& &> >> >| >& << <& <> > < | & ; ( )".split())
_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<", "<<", "<<-", "<<<", "<>", ">&", "<&"})
_WRITE_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>"})
_CASE_ENDS = frozenset({";;", ";&", ";;&"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEX_ESCAPE = re.compile(r"x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{1,4})|U([0-9A-Fa-f]{1,8})")
_OCTAL_ESCAPE = re.compile(r"[0-7]{1,3}")

_ANSI_ESCAPES = dict(zip("ntrabeEfv\\'\"?", "\n\t\r\a\b\x1b\x1b\f\v\\'\"?", strict=True))


class Word(str):
    """One shell word after quote removal. `dynamic` is true when part of it is only known
    when the command runs (`$VAR`, `$(…)`, backticks); such parts keep their source text."""

    dynamic: bool

    def __new__(cls, text: str = "", dynamic: bool = False) -> Word:
        word = super().__new__(cls, text)
        word.dynamic = dynamic
        return word

    def __repr__(self) -> str:
        return f"Word({str.__repr__(self)}{', dynamic' if self.dynamic else ''})"


@dataclass(frozen=True)
class Note:
    """Something the analysis noticed about a segment. Kinds: substitution,
    process-substitution, eval, dynamic-command, dynamic-script, stdin-script,
    fork-bomb, recursive-function, unparseable; and inline-code (an interpreter runs
    code from its arguments or input: python -c, perl -e, awk, vim -c), git-config (git
    configuration that can make it run commands: -c core.hooksPath, GIT_CONFIG_*),
    option-command (an option runs another program: rg --pre, tar --to-command),
    function-export (BASH_FUNC_* exports a shell function), preload (LD_PRELOAD and
    kin load code into every program), path-change (PATH gets a directory the agent
    may have filled: ., a relative one, $PWD/…)."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Segment:
    """One simple command that may run.

    `argv` is normalised (wrappers peeled, command name reduced to its base name);
    `writes` are the files it writes (redirections and file-writing commands, minus
    /dev/null and friends); `reads` the files it may read (input redirections, and the
    arguments of any command but those that only look at names, like ls or stat);
    `cwds` the directories it may run in, as written (None: unknown); `input_from` the
    commands whose output reaches it (pipes, `<(…)`, `$(…)`); `via` how it was reached
    (`sudo`, `bash -c`, `$(…)`, …)."""

    argv: tuple[Word, ...]
    text: str
    writes: tuple[Word, ...] = ()
    reads: tuple[Word, ...] = ()
    cwds: tuple[Word | None, ...] = (Word("."),)
    input_from: tuple[str, ...] = ()
    via: tuple[str, ...] = ()
    notes: tuple[Note, ...] = ()

    @property
    def name(self) -> str:
        return str(self.argv[0]) if self.argv else ""

    def has_note(self, kind: str) -> bool:
        return any(note.kind == kind for note in self.notes)

    def display(self) -> str:
        """The normalised command, quoted so it reads back the same."""
        if not self.argv:
            lines = self.text.strip().splitlines() or ["(no command)"]
            return lines[0] + (" …" if len(lines) > 1 else "")
        return " ".join(_quote(word) for word in self.argv)


@dataclass(frozen=True)
class Analysis:
    command: str
    segments: tuple[Segment, ...]
    errors: tuple[str, ...]

    @property
    def parsed(self) -> bool:
        return not self.errors


def analyze(command: str) -> Analysis:
    """Every simple command `command` may run. Never raises on bad input: problems are
    reported in `errors` and as a trailing segment carrying an `unparseable` note."""
    if len(command) > MAX_COMMAND_LENGTH:
        error = f"longer than {MAX_COMMAND_LENGTH} characters"
        return Analysis(
            command, (Segment((), command, notes=(Note("unparseable", error),)),), (error,)
        )
    errors: list[str] = []
    walker = _Walker(errors)
    try:
        tree = _Parser(command, 0, 0, errors).parse_all()
        walker.walk_list(tree, _Ctx(cwds=(Word("."),)))
    except _TooDeep:
        errors.append(f"nested more than {MAX_DEPTH} levels deep")
    except RecursionError:
        errors.append("nested too deeply to analyse")
    segments = list(walker.segments)
    if errors:
        segments.append(Segment(argv=(), text=command, notes=(Note("unparseable", errors[0]),)))
    return Analysis(command, tuple(segments), tuple(dict.fromkeys(errors)))


def split_command(command: str) -> list[str]:
    """The normalised simple commands of `command`, for display and tests."""
    return [seg.display() for seg in analyze(command).segments if seg.argv]


def is_harmless_target(word: str) -> bool:
    return word in HARMLESS_TARGETS or bool(_HARMLESS_FD.fullmatch(word))


# Commands that look only at names, not at what the files hold: their arguments are
# not reads. (find's -exec, like xargs, runs commands that are judged themselves.)
NAME_ONLY_COMMANDS = frozenset(
    """ls stat test [ [[ du df realpath readlink basename dirname which type command cd
    pushd popd mkdir rmdir touch echo printf find fd tree chmod chown chgrp rm unlink
    export alias unset local declare typeset readonly sleep true false : file""".split()
)
_STDIN_PATHS = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})


def file_reads(argv: tuple[Word, ...] | list[Word]) -> list[Word]:
    """Paths a (normalised) command may read by its own arguments, as written: every
    argument of a command that reads files, and the value in `--opt=FILE`, `@FILE`
    (curl -d @file, -F x=@file) and `if=FILE` forms. Over-inclusive by design: a word
    that is not a path is classified as a file in the workspace, which no rule about
    reads cares for."""
    if not argv or argv[0] in NAME_ONLY_COMMANDS:
        return []
    out: list[Word] = []
    if argv[0] in ("docker", "podman", "nerdctl"):
        out.extend(_container_mounts(list(argv[1:]), read_only=True))
    if argv[0] in ("sed", "gsed"):
        # Its files; not its script (what that reads, r and R, the walker adds).
        return _sed_scripts(list(argv[1:]))[3]
    options_done = False
    for arg in argv[1:]:
        if arg == "--" and not options_done:
            options_done = True
            continue
        candidates: list[str] = []
        if options_done or not arg.startswith("-"):
            candidates.append(arg)
            if "=" in arg and not arg.startswith(("/", ".", "~")):
                candidates.append(arg.split("=", 1)[1])
        elif "=" in arg:
            candidates.append(arg.split("=", 1)[1])
        elif not arg.startswith("--") and "@" in arg:
            candidates.append(arg[arg.index("@") :])
        for text in candidates:
            text = text[1:] if text.startswith("@") else text
            if text:
                out.append(Word(text, arg.dynamic))
    return out


def _redirect_reads(redirects: list[_Redirect]) -> list[Word]:
    return [
        Word(r.target.text, r.target.dynamic)
        for r in redirects
        if r.target is not None and r.op in ("<", "<>")
    ]


def file_writes(argv: tuple[Word, ...] | list[Word]) -> list[Word]:
    """Files a (normalised) command writes by its own arguments, as written."""
    if not argv:
        return []
    name, args = argv[0], list(argv[1:])
    more = _more_writes(name, args)
    if more is not None:
        return more
    if name == "tee":
        return _operands(args, frozenset())
    if name in ("cp", "mv", "install", "ln"):
        takes = {"cp": "-tS", "mv": "-tS", "install": "-tmogS", "ln": "-tS"}[name]
        long = frozenset({"--target-directory", "--suffix", "--mode", "--owner", "--group"})
        target = _option_value(args, "-t", "--target-directory")
        operands = _operands(args, frozenset("-" + c for c in takes), long)
        if name == "mv":
            # The sources vanish from where they were: that is a write there too.
            return operands + ([target] if target else [])
        if target:
            return [target]
        if name == "install" and any(a in ("-d", "--directory") for a in args):
            return operands
        if name == "ln" and len(operands) == 1:
            return [Word(".")]
        return operands[-1:] if len(operands) >= 2 else []
    if name == "dd":
        return [Word(a[3:], a.dynamic) for a in args if a.startswith("of=")]
    if name == "truncate":
        return _operands(args, frozenset({"-s", "-r"}), frozenset({"--size", "--reference"}))
    if name == "touch":
        return _operands(args, frozenset({"-d", "-t", "-r"}), frozenset({"--date", "--reference"}))
    if name == "mkdir":
        return _operands(args, frozenset({"-m"}), frozenset({"--mode"}))
    if name in ("sed", "perl"):
        return _in_place_files(name, args)
    if name == "curl":
        outs = [_option_value(args, "-o", "--output"), _option_value(args, "", "--output-dir")]
        return [out for out in outs if out and out != "-"]
    if name == "wget":
        outs = [
            _option_value(args, "-O", "--output-document"),
            _option_value(args, "-P", "--directory-prefix"),
        ]
        return [out for out in outs if out and out != "-"]
    if name == "sponge":
        return _operands(args, frozenset())
    if name in ("rsync", "scp"):
        takes = "eTBfp" if name == "rsync" else "cFiJloPS"
        long = frozenset({"--rsh", "--rsync-path", "--exclude", "--include", "--filter",
                          "--exclude-from", "--include-from", "--files-from", "--chmod",
                          "--chown", "--log-file", "--temp-dir", "--partial-dir",
                          "--backup-dir", "--suffix", "--compare-dest", "--copy-dest",
                          "--link-dest", "--password-file", "--port", "--timeout"})  # fmt: skip
        operands = _operands(args, frozenset("-" + c for c in takes), long)
        last = operands[-1:] if len(operands) >= 2 else []
        # host:path is on another machine.
        return [t for t in last if not re.match(r"[^/]*:", t)]
    if name == "tar" and _tar_extracts(args):
        return [_option_value(args, "-C", "--directory") or Word(".")]
    if name == "unzip":
        # -l, -v, -t, -Z list or test; -p, -c print: nothing is written.
        if any(re.fullmatch(r"-[a-zA-Z]*[lvtZpc][a-zA-Z]*", a) for a in args):
            return []
        out = _option_value(args, "-d", None)
        return [out or Word(".")]
    return []


def _more_writes(name: str, args: list[Word]) -> list[Word] | None:
    """The writes of the commands whose write is in an option or a second operand (sort
    -o, xxd IN OUT, git log --output, …), and of containers' bind mounts; None for
    the others."""
    if name == "sort":
        out = _option_value(args, "-o", "--output", abbreviated=3)
        return [out] if out else []
    if name in ("xxd", "uniq"):
        takes = "cglosnR" if name == "xxd" else "fsw"
        long = frozenset({"--skip-fields", "--skip-chars", "--check-chars", "--group"})
        return _operands(args, frozenset("-" + c for c in takes), long)[1:2]
    if name == "tree":
        out = _option_value(args, "-o", None)
        return [out] if out else []
    if name == "yq":
        if any(a in ("-i", "--inplace") or re.fullmatch(r"-[a-zA-Z]*i[a-zA-Z]*", a) for a in args):
            return _operands(args, frozenset({"-o", "-p", "-I", "-s"}))[1:]
        return []
    if name == "tar" and _tar_creates(args):
        out = _option_value(args, "-f", "--file")
        if out is None and args and not args[0].startswith("-") and "f" in args[0]:
            out = args[1] if len(args) > 1 else None  # old style: tar cf out.tar …
        return [out] if out and out != "-" else []
    if name == "zip":
        operands = _operands(
            args, frozenset({"-b", "-n", "-t", "-tt", "-TT", "-P", "-O", "-x", "-i"})
        )
        return operands[:1]
    if name == "patch":
        if any(a in ("--dry-run", "--check") for a in args):
            return []
        out = _option_value(args, "-o", "--output")
        if out:
            return [out]
        directory = _option_value(args, "-d", "--directory")
        patch_takes = frozenset({"-p", "-i", "-D", "-F", "-V", "-z", "-B", "-Y", "-r", "-g"})
        operands = _operands(args, patch_takes)
        if operands and not directory:
            return operands[:1]
        return [directory or Word(".")]
    if name in ("docker", "podman", "nerdctl"):
        return _container_mounts(args, read_only=False)
    if name == "git":
        return _git_writes(args)
    return None


def _container_mounts(args: list[Word], read_only: bool) -> list[Word]:
    """Host paths bind-mounted by `docker run|create` (-v SRC:DST[:ro], --mount
    type=bind,source=SRC[,readonly]): a read-write mount is a write, a read-only one
    a read."""
    words = [a for a in args if not a.startswith("-")]
    if not words or not (
        words[0] in ("run", "create")
        or words[:2] in (["container", "run"], ["container", "create"])
    ):
        return []
    out: list[Word] = []
    specs: list[tuple[str, Word]] = []
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else Word("")
        if arg in ("-v", "--volume", "--mount"):
            specs.append((arg, following))
        elif arg.startswith(("--volume=", "--mount=")):
            option, value = arg.split("=", 1)
            specs.append((option, Word(value, arg.dynamic)))
        elif arg.startswith("-v") and not arg.startswith("--"):
            specs.append(("-v", Word(arg[2:].removeprefix("="), arg.dynamic)))
    for option, spec in specs:
        if option == "--mount":
            fields = dict((part.split("=", 1) + [""])[:2] for part in spec.split(",") if part)
            if fields.get("type", "volume") != "bind":
                continue
            source = fields.get("source") or fields.get("src") or ""
            ro = "readonly" in fields or "ro" in fields
            ro = ro and fields.get("readonly", fields.get("ro", "true")) in ("", "true", "1")
        else:
            source, _, rest = spec.partition(":")
            ro = any(
                opt in ("ro", "readonly") for opt in rest.split(":")[1:] for opt in opt.split(",")
            )
        if source.startswith(("/", "~", ".", "$")) and ro == read_only:
            out.append(Word(source, spec.dynamic))
    return out


_GIT_DIFF_FAMILY = frozenset(
    """diff log show whatchanged diff-tree diff-files diff-index range-diff format-patch
    stash""".split()
)


def _git_writes(args: list[Word]) -> list[Word]:
    """What `git SUBCOMMAND …` writes besides the repository: --output files, patches,
    archives, new clones and worktrees, and config files named outside .git."""
    if not args:
        return []
    sub, rest = args[0], args[1:]
    out: list[Word] = []
    if sub in _GIT_DIFF_FAMILY:
        value = _option_value(rest, "", "--output", abbreviated=3)
        if value:
            out.append(value)
    if sub == "format-patch":
        value = _option_value(rest, "-o", "--output-directory", abbreviated=3)
        if value:
            out.append(value)
    if sub in ("apply", "am") and not any(
        a.split("=", 1)[0] in _GIT_APPLY_NO_WORKTREE for a in rest
    ):
        # The files the patch names, under the top of the worktree (or --directory).
        out.append(_option_value(rest, "", "--directory") or Word("."))
    if sub == "mv":
        out.extend(_operands(rest, frozenset()))
    if sub == "archive":
        value = _option_value(rest, "-o", "--output", abbreviated=5)
        if value:
            out.append(value)
    if sub == "bundle" and rest[:1] == ["create"] and len(rest) > 1:
        out.extend(_operands(rest[1:], frozenset())[:1])
    if sub in ("clone", "init"):
        takes = frozenset({"-o", "-b", "-u", "-c", "--origin", "--branch", "--upload-pack",
                           "--template", "--separate-git-dir", "--reference", "--depth",
                           "--config", "--jobs", "-j", "--filter", "--server-option",
                           "--shallow-since", "--shallow-exclude", "--bundle-uri",
                           "--initial-branch", "--object-format", "--shared", "--ref-format"})  # fmt: skip
        operands = _operands(rest, frozenset(t for t in takes if not t.startswith("--")),
                             frozenset(t for t in takes if t.startswith("--")))  # fmt: skip
        if sub == "clone" and len(operands) >= 2:
            out.append(operands[1])
        elif sub == "init" and operands:
            out.append(operands[0])
    if sub == "worktree" and rest[:1] == ["add"]:
        takes = frozenset({"-b", "-B"})
        long = frozenset({"--reason", "--orphan"})
        out.extend(_operands(rest[1:], takes, long)[:1])
    if sub == "config" and _git_config_sets(rest):
        # A harmless key (user.email) in ~/.gitconfig is everyday setup; any other key
        # there is a write to a file that configures every git command.
        key = _git_config_key(rest)
        if key is None or key.lower() not in _GIT_HARMLESS_KEYS:
            home_file = {"--global": "~/.gitconfig", "--system": "/etc/gitconfig"}
            out.extend(Word(path) for flag, path in home_file.items() if flag in rest)
        value = _option_value(rest, "-f", "--file")
        if value:
            out.append(value)
    return out


# git apply / am options that leave the worktree alone.
_GIT_APPLY_NO_WORKTREE = frozenset(
    """--cached --check --stat --numstat --summary --show-current-patch --abort --quit
    --skip""".split()
)


def _git_config_key(args: list[Word]) -> Word | None:
    """The key `git config ARGS` sets, if it names one."""
    operands = _operands(args, frozenset({"-f", "--type"}), frozenset({"--file", "--type"}))
    if operands[:1] in (["set"], ["unset"]):
        operands = operands[1:]
    return operands[0] if operands else None


# `git config` options and subcommands that only read.
_GIT_CONFIG_READS = frozenset(
    """--get --get-all --get-regexp --get-urlmatch --get-color --get-colorbool -l --list
    --show-origin --show-scope -e --edit get list""".split()
)


def _git_config_sets(args: list[Word]) -> bool:
    """Does `git config ARGS` change a configuration file (set, unset, add, rename)?"""
    if any(a in _GIT_CONFIG_READS for a in args):
        return False
    if args and args[0] in ("set", "unset", "rename-section", "remove-section"):
        return True
    takes = frozenset({"-f", "--file", "--blob", "--type", "--default", "--comment"})
    operands = _operands(args, frozenset(t for t in takes if not t.startswith("--")),
                         frozenset(t for t in takes if t.startswith("--")))  # fmt: skip
    changing = {"--unset", "--unset-all", "--add", "--replace-all", "--rename-section",
                "--remove-section"}  # fmt: skip
    return len(operands) >= 2 or any(a in changing for a in args)


# --- tokens and syntax tree -------------------------------------------------------------


class _TooDeep(Exception):
    pass


@dataclass
class _Sub:
    kind: str  # "$(", "`", "<(", ">("
    body: _ListNode
    source: str


@dataclass
class _HereDoc:
    delimiter: str
    strip_tabs: bool
    quoted: bool
    body: str = ""
    subs: list[_Sub] = field(default_factory=list)


@dataclass
class _Tok:
    kind: str  # word | op | newline | eof
    text: str
    start: int
    end: int
    dynamic: bool = False
    quoted: bool = False
    # Per character of `text`: was it an unquoted literal? Brace expansion and
    # assignment detection only look at those.
    mask: tuple[bool, ...] = ()
    subs: list[_Sub] = field(default_factory=list)
    fd: str = ""
    heredoc: _HereDoc | None = None

    def is_word(self, *texts: str) -> bool:
        return self.kind == "word" and not self.quoted and self.text in texts

    def is_op(self, *texts: str) -> bool:
        return self.kind == "op" and self.text in texts


@dataclass
class _Redirect:
    op: str
    fd: str
    target: _Tok | None


@dataclass
class _Simple:
    assigns: list[_Tok]
    words: list[_Tok]
    redirects: list[_Redirect]
    text: str


@dataclass
class _Group:
    kind: str  # "(" runs in a subshell, "{" in the current shell
    body: _ListNode
    redirects: list[_Redirect]
    text: str


@dataclass
class _Coproc:
    """`coproc [NAME] COMPOUND`: the compound command, run in the background."""

    body: object
    text: str


@dataclass
class _FuncDef:
    name: str
    body: object
    text: str


@dataclass
class _Case:
    words: list[_Tok]
    bodies: list[_ListNode]
    redirects: list[_Redirect]
    text: str


@dataclass
class _Bare:
    """Words that run no command themselves: a for-loop header, `(( … ))`, `fi`."""

    words: list[_Tok]
    redirects: list[_Redirect]
    text: str


@dataclass
class _Pipeline:
    commands: list[object]


@dataclass
class _ListNode:
    items: list[tuple[_Pipeline, str | None]]


class _WordBuf:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.mask: list[bool] = []
        self.dynamic = False
        self.quoted = False
        self.subs: list[_Sub] = []

    def lit(self, text: str, unquoted: bool = False) -> None:
        self.chars.append(text)
        self.mask.extend([unquoted] * len(text))

    def expansion(self, raw: str) -> None:
        self.chars.append(raw)
        self.mask.extend([False] * len(raw))
        self.dynamic = True

    def text(self) -> str:
        return "".join(self.chars)


class _Lexer:
    """Pull lexer. Words carry their substitutions already parsed: `$(` starts a nested
    parser on the same source, which is how bash finds the matching `)`."""

    def __init__(self, src: str, pos: int, depth: int, errors: list[str]) -> None:
        if depth > MAX_DEPTH:
            raise _TooDeep
        self.src = src
        self.pos = pos
        self.depth = depth
        self.errors = errors
        self._peeked: list[_Tok] = []
        self._pending: list[_HereDoc] = []
        self._expect_delim: str | None = None
        self._braces_open = 0

    def peek(self, k: int = 0) -> _Tok:
        while len(self._peeked) <= k:
            self._peeked.append(self._lex())
        return self._peeked[k]

    def next(self) -> _Tok:
        tok = self.peek()
        self._peeked.pop(0)
        return tok

    def _lex(self) -> _Tok:
        src, n = self.src, len(self.src)
        while True:
            while self.pos < n and src[self.pos] in " \t\r":
                self.pos += 1
            if src.startswith("\\\n", self.pos):
                self.pos += 2
                continue
            if self.pos < n and src[self.pos] == "#":
                end = src.find("\n", self.pos)
                self.pos = n if end < 0 else end
                continue
            break
        start = self.pos
        if self._expect_delim and (start >= n or src[start] in "\n|&;()<>"):
            self.errors.append("here-document without a delimiter")
            self._expect_delim = None
        if start >= n:
            if self._pending:
                self._read_heredocs()
            return _Tok("eof", "", n, n)
        if src[start] == "\n":
            self.pos += 1
            if self._pending:
                self._read_heredocs()
            return _Tok("newline", "\n", start, self.pos)
        if src[start] in "<>" and src.startswith("(", start + 1):
            return self._word()
        for op in _OPERATORS:
            if src.startswith(op, start):
                self.pos += len(op)
                if op in ("<<", "<<-"):
                    self._expect_delim = op
                return _Tok("op", op, start, self.pos)
        return self._word()

    def _word(self) -> _Tok:
        src, n = self.src, len(self.src)
        start = self.pos
        buf = _WordBuf()
        while self.pos < n:
            c = src[self.pos]
            if c in "<>" and src.startswith("(", self.pos + 1):
                self._substitution(buf, "<(" if c == "<" else ">(", self.pos + 2)
                continue
            if c in _META:
                text = buf.text()
                if c in "<>" and text.isdigit() and not buf.quoted:
                    return self._fd_redirect(text, start)
                if c == "(" and not buf.quoted and _ASSIGNMENT.fullmatch(text):
                    self._array(buf)
                    continue
                break
            if c == "\\":
                if src.startswith("\n", self.pos + 1):
                    self.pos += 2
                elif self.pos + 1 < n:
                    buf.lit(src[self.pos + 1])
                    buf.quoted = True
                    self.pos += 2
                else:
                    buf.lit("\\")
                    self.pos += 1
            elif c == "'":
                self._single(buf)
            elif c == '"':
                self._double(buf)
            elif c == "$":
                self._dollar(buf, in_double=False)
            elif c == "`":
                self._backtick(buf)
            else:
                buf.lit(c, unquoted=True)
                self.pos += 1
        tok = _Tok(
            "word",
            buf.text(),
            start,
            self.pos,
            dynamic=buf.dynamic,
            quoted=buf.quoted,
            mask=tuple(buf.mask),
            subs=buf.subs,
        )
        if self._expect_delim:
            tok.heredoc = _HereDoc(tok.text, self._expect_delim == "<<-", buf.quoted)
            self._pending.append(tok.heredoc)
            self._expect_delim = None
        return tok

    def _fd_redirect(self, fd: str, start: int) -> _Tok:
        for op in _OPERATORS:
            if op in _REDIRECTS and self.src.startswith(op, self.pos):
                self.pos += len(op)
                if op in ("<<", "<<-"):
                    self._expect_delim = op
                return _Tok("op", op, start, self.pos, fd=fd)
        raise AssertionError("unreachable: < and > always start a redirection")

    def _single(self, buf: _WordBuf) -> None:
        end = self.src.find("'", self.pos + 1)
        if end < 0:
            self.errors.append("unterminated single quote")
            end = len(self.src)
        buf.lit(self.src[self.pos + 1 : end])
        buf.quoted = True
        self.pos = end + 1

    def _double(self, buf: _WordBuf) -> None:
        src, n = self.src, len(self.src)
        self.pos += 1
        buf.quoted = True
        while self.pos < n:
            c = src[self.pos]
            if c == '"':
                self.pos += 1
                return
            if c == "\\" and self.pos + 1 < n:
                nxt = src[self.pos + 1]
                if nxt == "\n":
                    self.pos += 2
                elif nxt in '$`"\\':
                    buf.lit(nxt)
                    self.pos += 2
                else:
                    buf.lit("\\")
                    self.pos += 1
            elif c == "$":
                self._dollar(buf, in_double=True)
            elif c == "`":
                self._backtick(buf)
            else:
                buf.lit(c)
                self.pos += 1
        self.errors.append("unterminated double quote")

    def _dollar(self, buf: _WordBuf, in_double: bool) -> None:
        src, pos = self.src, self.pos
        nxt = src[pos + 1 : pos + 2]
        if nxt == "(":
            if src.startswith("((", pos + 1):
                end = _arith_end(src, pos + 3)
                if end is not None:
                    self._arith(buf, pos, end)
                    return
            self._substitution(buf, "$(", pos + 2)
        elif nxt == "{":
            self._braced(buf)
        elif nxt == "'" and not in_double:
            self._ansi_c(buf)
        elif nxt == '"' and not in_double:
            self.pos += 1
            self._double(buf)
        elif nxt.isdigit() or (nxt and nxt in "@*#?$!-"):
            buf.expansion(src[pos : pos + 2])
            self.pos += 2
        elif m := _NAME.match(src, pos + 1):
            buf.expansion(src[pos : m.end()])
            self.pos = m.end()
        else:
            buf.lit("$", unquoted=not in_double)
            self.pos += 1

    def _substitution(self, buf: _WordBuf, kind: str, body_start: int) -> None:
        parser = _Parser(self.src, body_start, self.depth + 1, self.errors)
        body = parser.parse_list(stop_ops=frozenset({")"}))
        close = parser.lexer.next()
        if close.is_op(")"):
            end = close.end
        else:
            self.errors.append(f"{kind}…) is not closed")
            end = len(self.src)
        raw = self.src[self.pos : end]
        buf.expansion(raw)
        buf.subs.append(_Sub(kind, body, raw))
        self.pos = end

    def _backtick(self, buf: _WordBuf) -> None:
        src, n = self.src, len(self.src)
        i = self.pos + 1
        inner: list[str] = []
        while i < n and src[i] != "`":
            if src[i] == "\\" and i + 1 < n and src[i + 1] in "$`\\":
                inner.append(src[i + 1])
                i += 2
            else:
                inner.append(src[i])
                i += 1
        if i >= n:
            self.errors.append("unterminated backquote")
        end = min(i + 1, n)
        body = _Parser("".join(inner), 0, self.depth + 1, self.errors).parse_all()
        raw = src[self.pos : end]
        buf.expansion(raw)
        buf.subs.append(_Sub("`", body, raw))
        self.pos = end

    def _braced(self, buf: _WordBuf) -> None:
        self._braces_open += 1
        if self._braces_open > MAX_DEPTH * 4:
            raise _TooDeep
        try:
            self._braced_inner(buf)
        finally:
            self._braces_open -= 1

    def _braced_inner(self, buf: _WordBuf) -> None:
        src, n = self.src, len(self.src)
        start = self.pos
        self.pos += 2
        depth = 1
        scratch = _WordBuf()
        while self.pos < n:
            c = src[self.pos]
            if c == "\\":
                self.pos += 2
            elif c == "'":
                end = src.find("'", self.pos + 1)
                self.pos = n if end < 0 else end + 1
            elif c == '"':
                self._double(scratch)
            elif c == "$":
                self._dollar(scratch, in_double=True)
            elif c == "`":
                self._backtick(scratch)
            else:
                self.pos += 1
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                    if depth == 0:
                        break
        else:
            self.errors.append("${ is not closed")
        buf.expansion(src[start : self.pos])
        buf.subs.extend(scratch.subs)

    def _arith(self, buf: _WordBuf, start: int, end: int) -> None:
        scratch = _WordBuf()
        self.pos = start + 3
        while self.pos < end - 2:
            c = self.src[self.pos]
            if c == "$":
                self._dollar(scratch, in_double=True)
            elif c == "`":
                self._backtick(scratch)
            else:
                self.pos += 2 if c == "\\" else 1
        self.pos = max(self.pos, end)
        buf.expansion(self.src[start:end])
        buf.subs.extend(scratch.subs)

    def _ansi_c(self, buf: _WordBuf) -> None:
        src, n = self.src, len(self.src)
        i = self.pos + 2
        out: list[str] = []
        while i < n and src[i] != "'":
            c = src[i]
            if c != "\\" or i + 1 >= n:
                out.append(c)
                i += 1
                continue
            nxt = src[i + 1]
            if nxt in _ANSI_ESCAPES:
                out.append(_ANSI_ESCAPES[nxt])
                i += 2
            elif m := _HEX_ESCAPE.match(src, i + 1):
                out.append(chr(min(int(next(g for g in m.groups() if g), 16), 0x10FFFF)))
                i = m.end()
            elif m := _OCTAL_ESCAPE.match(src, i + 1):
                out.append(chr(int(m.group(), 8)))
                i = m.end()
            else:
                out.append("\\" + nxt)
                i += 2
        if i >= n:
            self.errors.append("unterminated $'…' quote")
        buf.lit("".join(out))
        buf.quoted = True
        self.pos = i + 1

    def _array(self, buf: _WordBuf) -> None:
        """`name=( … )`: the elements are words like any other; keep their substitutions."""
        start = self.pos
        self.pos += 1
        while True:
            tok = self._lex()
            if tok.kind == "eof":
                self.errors.append("array assignment is not closed")
                break
            if tok.is_op(")"):
                break
            buf.subs.extend(tok.subs)
            buf.dynamic = buf.dynamic or tok.dynamic
        buf.lit(self.src[start : self.pos])

    def _read_heredocs(self) -> None:
        src, n = self.src, len(self.src)
        for doc in self._pending:
            lines: list[str] = []
            closed = False
            while self.pos < n:
                eol = src.find("\n", self.pos)
                line = src[self.pos : n if eol < 0 else eol]
                self.pos = n if eol < 0 else eol + 1
                if doc.strip_tabs:
                    line = line.lstrip("\t")
                if line.rstrip("\r") == doc.delimiter:
                    closed = True
                    break
                lines.append(line + "\n")
            doc.body = "".join(lines)
            if not closed:
                self.errors.append(f"here-document is not closed by {doc.delimiter!r}")
            if not doc.quoted:
                doc.subs = _body_subs(doc.body, self.depth, self.errors)
        self._pending = []


def _body_subs(text: str, depth: int, errors: list[str]) -> list[_Sub]:
    """Substitutions in the body of an unquoted here-document: they run."""
    lexer = _Lexer(text, 0, depth, errors)
    scratch = _WordBuf()
    while lexer.pos < len(text):
        c = text[lexer.pos]
        if c == "$":
            lexer._dollar(scratch, in_double=True)
        elif c == "`":
            lexer._backtick(scratch)
        else:
            lexer.pos += 2 if c == "\\" else 1
    return scratch.subs


def _arith_end(src: str, i: int) -> int | None:
    """End of `$(( … ))` starting after `$((`, or None when it is really `$( (…) … )`."""
    depth = 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c in "'\"":
            end = src.find(c, i + 1)
            if end < 0:
                return None
            i = end + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return i + 2 if src.startswith("))", i) else None
            depth -= 1
        i += 1
    return None


class _Parser:
    """Recursive descent over the lexer. if/while/for bodies are flattened: their
    keywords are skipped and the commands inside are parsed like any other."""

    def __init__(self, src: str, pos: int, depth: int, errors: list[str]) -> None:
        self.src = src
        self.errors = errors
        self.lexer = _Lexer(src, pos, depth, errors)
        self._nesting = 0

    def _enter(self) -> None:
        # Groups and function bodies nest by recursion too; bound them like $(…).
        self._nesting += 1
        if self._nesting > MAX_DEPTH * 4:
            raise _TooDeep

    def parse_all(self) -> _ListNode:
        return self.parse_list()

    def parse_list(
        self, stop_ops: frozenset[str] = frozenset(), stop_words: frozenset[str] = frozenset()
    ) -> _ListNode:
        items: list[tuple[_Pipeline, str | None]] = []
        while True:
            tok = self.lexer.peek()
            if tok.kind == "newline":
                self.lexer.next()
                continue
            if tok.kind == "eof":
                break
            if tok.kind == "op" and tok.text in stop_ops:
                break
            if tok.kind == "word" and not tok.quoted and tok.text in stop_words:
                break
            if tok.kind == "op" and tok.text != "(" and tok.text not in _REDIRECTS:
                self.errors.append(f"unexpected {tok.text!r}")
                self.lexer.next()
                continue
            if tok.is_word("}", "esac"):
                self.errors.append(f"unexpected {tok.text!r}")
                self.lexer.next()
                continue
            pipeline = self.parse_pipeline()
            sep = None
            tok = self.lexer.peek()
            if tok.is_op(";", "&", "&&", "||"):
                self.lexer.next()
                sep = tok.text
                if sep in ("&&", "||"):
                    self._skip_newlines()
                    after = self.lexer.peek()
                    if after.kind == "eof" or after.is_op(*stop_ops) or after.is_word(*stop_words):
                        self.errors.append(f"{sep} without a command after it")
            elif tok.kind == "newline":
                self.lexer.next()
                sep = ";"
            items.append((pipeline, sep))
        return _ListNode(items)

    def parse_pipeline(self) -> _Pipeline:
        if self.lexer.peek().is_word("!"):
            self.lexer.next()
        commands = [self.parse_command()]
        while self.lexer.peek().is_op("|", "|&"):
            self.lexer.next()
            self._skip_newlines()
            command = self.parse_command()
            if isinstance(command, _Simple) and not (
                command.words or command.assigns or command.redirects
            ):
                self.errors.append("| without a command after it")
            commands.append(command)
        return _Pipeline(commands)

    def parse_command(self) -> object:
        self._enter()
        try:
            return self._command()
        finally:
            self._nesting -= 1

    def _command(self) -> object:
        tok = self.lexer.peek()
        start = tok.start
        if tok.is_op("("):
            nxt = self.lexer.peek(1)
            if nxt.is_op("(") and nxt.start == tok.end:
                return self._arith_command()
            self.lexer.next()
            body = self.parse_list(stop_ops=frozenset({")"}))
            self._expect_op(")", "( is not closed")
            return _Group("(", body, self._redirects(), self._text(start))
        if tok.kind != "word" or tok.quoted:
            return self._simple()
        word = tok.text
        if word == "coproc" and (coproc := self._coproc(start)) is not None:
            return coproc
        if word == "{":
            self.lexer.next()
            body = self.parse_list(stop_words=frozenset({"}"}))
            if self.lexer.peek().is_word("}"):
                self.lexer.next()
            else:
                self.errors.append("{ is not closed")
            return _Group("{", body, self._redirects(), self._text(start))
        if word in ("if", "then", "else", "elif", "do", "while", "until", "!"):
            self.lexer.next()
            nxt = self.lexer.peek()
            if nxt.kind in ("newline", "eof") or nxt.is_op(";", "&", "&&", "||", ")"):
                return _Bare([], [], word)
            return self.parse_command()
        if word in ("fi", "done"):
            self.lexer.next()
            return _Bare([], self._redirects(), self._text(start))
        if word in ("for", "select"):
            return self._for()
        if word == "case":
            return self._case()
        if word == "[[":
            return self._double_bracket()
        if word == "function":
            self.lexer.next()
            name = self.lexer.next()
            if self.lexer.peek().is_op("(") and self.lexer.peek(1).is_op(")"):
                self.lexer.next()
                self.lexer.next()
            self._skip_newlines()
            return _FuncDef(name.text, self.parse_command(), self._text(start))
        if self.lexer.peek(1).is_op("(") and self.lexer.peek(2).is_op(")"):
            self.lexer.next()
            self.lexer.next()
            self.lexer.next()
            self._skip_newlines()
            return _FuncDef(word, self.parse_command(), self._text(start))
        return self._simple()

    def _coproc(self, start: int) -> _Coproc | None:
        """`coproc [NAME] COMPOUND`. None for `coproc CMD…`, which stays a simple command
        whose `coproc` the walker peels like any wrapper (bash takes a NAME only before
        a compound command, so `coproc a b` runs `a b`)."""
        if self._starts_compound(1):
            skip = 1
        elif self.lexer.peek(1).kind == "word" and self._starts_compound(2):
            skip = 2
        else:
            return None
        for _ in range(skip):
            self.lexer.next()
        return _Coproc(self.parse_command(), self._text(start))

    def _starts_compound(self, k: int) -> bool:
        tok = self.lexer.peek(k)
        return tok.is_op("(") or tok.is_word(
            "{", "if", "while", "until", "for", "select", "case", "[["
        )

    def _simple(self) -> _Simple:
        start = self.lexer.peek().start
        end = start
        assigns: list[_Tok] = []
        words: list[_Tok] = []
        redirects: list[_Redirect] = []
        while True:
            tok = self.lexer.peek()
            if tok.kind == "word":
                self.lexer.next()
                if not words and _is_assignment(tok):
                    assigns.append(tok)
                else:
                    words.append(tok)
                end = tok.end
            elif tok.kind == "op" and tok.text in _REDIRECTS:
                self.lexer.next()
                target = self._target()
                redirects.append(_Redirect(tok.text, tok.fd, target))
                end = target.end if target else tok.end
            else:
                break
        return _Simple(assigns, words, redirects, self.src[start:end])

    def _target(self) -> _Tok | None:
        if self.lexer.peek().kind == "word":
            return self.lexer.next()
        self.errors.append("redirection without a target")
        return None

    def _redirects(self) -> list[_Redirect]:
        redirects = []
        while (tok := self.lexer.peek()).kind == "op" and tok.text in _REDIRECTS:
            self.lexer.next()
            redirects.append(_Redirect(tok.text, tok.fd, self._target()))
        return redirects

    def _arith_command(self) -> _Bare:
        start = self.lexer.next().start
        self.lexer.next()
        return _Bare(self._until_double_close(), self._redirects(), self._text(start))

    def _until_double_close(self) -> list[_Tok]:
        words: list[_Tok] = []
        while True:
            tok = self.lexer.next()
            if tok.kind == "eof":
                self.errors.append("(( is not closed")
                return words
            nxt = self.lexer.peek()
            if tok.is_op(")") and nxt.is_op(")") and nxt.start == tok.end:
                self.lexer.next()
                return words
            if tok.kind == "word":
                words.append(tok)

    def _for(self) -> _Bare:
        start = self.lexer.next().start
        words: list[_Tok] = []
        if self.lexer.peek().is_op("(") and self.lexer.peek(1).is_op("("):
            self.lexer.next()
            self.lexer.next()
            words = self._until_double_close()
        while True:
            tok = self.lexer.peek()
            if tok.kind != "word" or tok.is_word("do"):
                break
            words.append(self.lexer.next())
        return _Bare(words, [], self._text(start))

    def _case(self) -> _Case:
        start = self.lexer.next().start
        words: list[_Tok] = []
        bodies: list[_ListNode] = []
        if self.lexer.peek().kind == "word":
            words.append(self.lexer.next())
        self._skip_newlines()
        if self.lexer.peek().is_word("in"):
            self.lexer.next()
        else:
            self.errors.append("case without in")
        while True:
            self._skip_newlines()
            tok = self.lexer.peek()
            if tok.kind == "eof":
                self.errors.append("case without esac")
                break
            if tok.is_word("esac"):
                self.lexer.next()
                break
            if tok.is_op("("):
                self.lexer.next()
            while not (tok := self.lexer.next()).is_op(")"):
                if tok.kind == "eof":
                    self.errors.append("case pattern without )")
                    return _Case(words, bodies, [], self._text(start))
                if tok.kind == "word":
                    words.append(tok)
            bodies.append(self.parse_list(stop_ops=_CASE_ENDS, stop_words=frozenset({"esac"})))
            if self.lexer.peek().kind == "op" and self.lexer.peek().text in _CASE_ENDS:
                self.lexer.next()
        return _Case(words, bodies, self._redirects(), self._text(start))

    def _double_bracket(self) -> _Simple:
        """`[[ … ]]`: `&&`, `<` and friends inside are operands, not operators."""
        start = self.lexer.peek().start
        words = [self.lexer.next()]
        while True:
            tok = self.lexer.next()
            if tok.kind == "eof":
                self.errors.append("[[ is not closed")
                break
            if tok.kind == "op":
                tok = replace(tok, kind="word", mask=(False,) * len(tok.text))
            if tok.kind == "word":
                words.append(tok)
            if tok.is_word("]]"):
                break
        return _Simple([], words, self._redirects(), self._text(start))

    def _expect_op(self, text: str, message: str) -> None:
        if self.lexer.peek().is_op(text):
            self.lexer.next()
        else:
            self.errors.append(message)

    def _skip_newlines(self) -> None:
        while self.lexer.peek().kind == "newline":
            self.lexer.next()

    def _text(self, start: int) -> str:
        end = self.lexer.peek().start if self.lexer._peeked else self.lexer.pos
        return self.src[start:end].strip()


def _is_assignment(tok: _Tok) -> bool:
    m = _ASSIGNMENT.match(tok.text)
    if m is None:
        return False
    return all(tok.mask[: m.end()]) if tok.mask else True


# --- from syntax tree to segments ----------------------------------------------------------


# The directories a command may run in; None where that is only known at run time.
_Cwds = tuple[Word | None, ...]


@dataclass(frozen=True)
class _Ctx:
    cwds: _Cwds
    via: tuple[str, ...] = ()
    input_from: tuple[str, ...] = ()
    # What a shell started here would read as its script: ("text", body) for a
    # here-document or `echo … |`, ("pipe", "") for unknown piped input.
    stdin: tuple[str, str] | None = None
    concurrent: bool = False
    depth: int = 0


@dataclass
class _Carry:
    """Redirections and notes of a simple command, attached to the first segment emitted
    for it (or to an empty segment when it runs nothing itself, as `bash -c` does)."""

    writes: list[Word]
    notes: list[Note]
    reads: list[Word] = field(default_factory=list)


class _Walker:
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.segments: list[Segment] = []
        self._concurrent: list[bool] = []
        # Aliases defined so far (`alias g='git push -f'`), and those being expanded.
        self._aliases: dict[str, Word] = {}
        self._expanding: set[str] = set()

    # Lists, pipelines and compound commands.

    def walk_list(self, node: _ListNode, ctx: _Ctx) -> tuple[Word | None, ...]:
        """Walk a command list; returns the directories it may leave the shell in."""
        cwds = ctx.cwds
        chain: list[tuple[_Pipeline, str | None]] = []
        for pipeline, sep in node.items:
            chain.append((pipeline, sep))
            if sep in (";", "&", None):
                cwds = self._and_or(chain, replace(ctx, cwds=cwds), background=sep == "&")
                chain = []
        return cwds

    def _and_or(
        self, chain: list[tuple[_Pipeline, str | None]], ctx: _Ctx, background: bool
    ) -> tuple[Word | None, ...]:
        # `a && b` runs b only where a succeeded, `a || b` only where it failed: a
        # `cd` on the left moves the right side only when it succeeded.
        start = ctx.cwds
        ok: tuple[Word | None, ...] = start
        failed: tuple[Word | None, ...] = ()
        prev = None
        for pipeline, sep in chain:
            cwds = start if prev is None else ok if prev == "&&" else failed or start
            sub = replace(ctx, cwds=cwds, concurrent=ctx.concurrent or background)
            s, f = self._pipeline(pipeline, sub)
            if prev == "||":
                ok, failed = _union(ok, s), f
            elif prev == "&&":
                ok, failed = s, _union(failed, f)
            else:
                ok, failed = s, f
            prev = sep
        return start if background else _union(ok, failed)

    def _pipeline(self, pipeline: _Pipeline, ctx: _Ctx) -> tuple[_Cwds, _Cwds]:
        if len(pipeline.commands) == 1:
            return self._command(pipeline.commands[0], ctx)
        upstream = list(ctx.input_from)
        stdin = ctx.stdin
        for command in pipeline.commands:
            sub = replace(ctx, input_from=tuple(dict.fromkeys(upstream)), stdin=stdin)
            start = len(self.segments)
            # Every stage of a pipeline runs at once, each in its own subshell.
            self._command(command, replace(sub, concurrent=True))
            upstream.extend(seg.name for seg in self.segments[start:] if seg.name)
            text = _stdout_text(command)
            stdin = ("text", text) if text is not None else ("pipe", "")
        return ctx.cwds, ctx.cwds

    def _command(self, node: object, ctx: _Ctx) -> tuple[_Cwds, _Cwds]:
        if isinstance(node, _Simple):
            return self._simple(node, ctx)
        if isinstance(node, _Group):
            cwds = self.walk_list(node.body, ctx)
            self._redirect_only(node.redirects, ctx, node.text)
            if node.kind == "(":
                return ctx.cwds, ctx.cwds
            return cwds, _union(ctx.cwds, cwds)
        if isinstance(node, _Coproc):
            # A background subshell: a `cd` inside moves nothing after it.
            self._command(node.body, replace(ctx, via=(*ctx.via, "coproc"), concurrent=True))
            return ctx.cwds, ctx.cwds
        if isinstance(node, _FuncDef):
            start = len(self.segments)
            # The body is judged as if it ran: a definition is usually followed by a call.
            body_ctx = replace(ctx, via=(*ctx.via, f"function {node.name}"), concurrent=False)
            self._command(node.body, body_ctx)
            for i in range(start, len(self.segments)):
                if self.segments[i].name == node.name:
                    kind = "fork-bomb" if self._concurrent[i] else "recursive-function"
                    seg = self.segments[i]
                    self.segments[i] = replace(seg, notes=(*seg.notes, Note(kind, node.name)))
            return ctx.cwds, ctx.cwds
        if isinstance(node, _Case):
            self._bare(node.words, node.redirects, ctx, node.text)
            results: tuple[Word | None, ...] = ctx.cwds
            for body in node.bodies:
                results = _union(results, self.walk_list(body, ctx))
            return results, results
        if isinstance(node, _Bare):
            self._bare(node.words, node.redirects, ctx, node.text)
            return ctx.cwds, ctx.cwds
        raise AssertionError(f"unknown node {node!r}")

    def _bare(self, words: list[_Tok], redirects: list[_Redirect], ctx: _Ctx, text: str) -> None:
        carry = _Carry([], [])
        self._substitutions(words, redirects, ctx, carry, "")
        carry.writes.extend(self._redirect_writes(redirects))
        carry.reads.extend(_redirect_reads(redirects))
        self._flush(carry, ctx, text)

    def _redirect_only(self, redirects: list[_Redirect], ctx: _Ctx, text: str) -> None:
        self._bare([], redirects, ctx, text)

    # Simple commands.

    def _simple(self, node: _Simple, ctx: _Ctx) -> tuple[_Cwds, _Cwds]:
        own = _base_name(node.words[0].text) if node.words else ""
        carry = _Carry([], [])
        feeders = self._substitutions(node.assigns + node.words, node.redirects, ctx, carry, own)
        carry.writes.extend(self._redirect_writes(node.redirects))
        carry.reads.extend(_redirect_reads(node.redirects))
        stdin = ctx.stdin
        for r in node.redirects:
            if r.target is None or r.fd not in ("", "0"):
                continue
            if r.op in ("<<", "<<-") and r.target.heredoc is not None:
                stdin = ("text", r.target.heredoc.body)
            elif r.op == "<<<":
                stdin = ("pipe", "") if r.target.dynamic else ("text", r.target.text)
            elif r.op in ("<", "<>"):
                stdin = None
        for tok in node.assigns:
            self._assignment(Word(tok.text, tok.dynamic), ctx, node.text, carry)
        argv = [word for tok in node.words for word in _expand(tok, self.errors)]
        sub = replace(
            ctx, input_from=tuple(dict.fromkeys((*ctx.input_from, *feeders))), stdin=stdin
        )
        final = self._run(argv, sub, node.text, carry)
        if final and final[0] in ("cd", "pushd"):
            operands = [a for a in final[1:] if not a.startswith("-") or a == "-"]
            target = operands[0] if operands else Word("~")
            if target == "-":
                return (None,), ctx.cwds
            return tuple(_join(cwd, target) for cwd in ctx.cwds), ctx.cwds
        if final and final[0] == "popd":
            return (None,), ctx.cwds
        return ctx.cwds, ctx.cwds

    def _substitutions(
        self,
        words: list[_Tok],
        redirects: list[_Redirect],
        ctx: _Ctx,
        carry: _Carry,
        own: str,
    ) -> list[str]:
        """Walk the commands inside a command's words; returns the names of those whose
        output the command reads, and notes the substitution on `carry`."""
        feeders: list[str] = []
        tokens = [*words, *(r.target for r in redirects if r.target is not None)]
        subs = [sub for tok in tokens for sub in tok.subs]
        subs += [sub for tok in tokens if tok.heredoc for sub in tok.heredoc.subs]
        kinds = set()
        for sub in subs:
            kinds.add(sub.kind)
            label = {"$(": "$(…)", "`": "`…`", "<(": "<(…)", ">(": ">(…)"}[sub.kind]
            sub_ctx = _Ctx(
                cwds=ctx.cwds,
                via=(*ctx.via, label),
                # >(…) reads what the command writes; the others feed the command.
                input_from=(own,) if sub.kind == ">(" and own else (),
                concurrent=ctx.concurrent,
                depth=ctx.depth + 1,
            )
            start = len(self.segments)
            self.walk_list(sub.body, sub_ctx)
            if sub.kind != ">(":
                feeders.extend(seg.name for seg in self.segments[start:] if seg.name)
        if kinds & {"$(", "`"}:
            carry.notes.append(Note("substitution", "runs $(…) or `…` and uses its output"))
        if kinds & {"<(", ">("}:
            carry.notes.append(Note("process-substitution", "runs <(…) or >(…)"))
        return feeders

    def _redirect_writes(self, redirects: list[_Redirect]) -> list[Word]:
        writes = []
        for r in redirects:
            if r.target is None:
                continue
            target = Word(r.target.text, r.target.dynamic)
            if r.op in _WRITE_REDIRECTS:
                writes.append(target)
            elif r.op == ">&" and not (target.isdigit() or target == "-"):
                writes.append(target)  # `>&file` is `&>file`
        return writes

    def _emit(self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry, *notes: Note) -> Segment:
        writes = [*carry.writes, *file_writes(argv)]
        reads = [*carry.reads, *file_reads(argv)]
        seg = Segment(
            argv=tuple(argv),
            text=text,
            writes=tuple(w for w in writes if not is_harmless_target(w)),
            reads=tuple(dict.fromkeys(r for r in reads if not is_harmless_target(r))),
            cwds=ctx.cwds,
            input_from=ctx.input_from,
            via=ctx.via,
            notes=(*carry.notes, *notes),
        )
        carry.writes.clear()
        carry.notes.clear()
        carry.reads.clear()
        self.segments.append(seg)
        self._concurrent.append(ctx.concurrent)
        return seg

    def _flush(self, carry: _Carry, ctx: _Ctx, text: str) -> None:
        if carry.writes or carry.notes or carry.reads:
            self._emit([], ctx, text, carry)

    def _run(self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry) -> list[Word] | None:
        """Emit the segments for one simple command, peeling wrappers. Returns the argv of
        the command that finally runs, or None when it runs none itself."""
        for _ in range(32):
            while argv and _ASSIGNMENT.match(argv[0]):
                self._assignment(argv[0], ctx, text, carry)
                argv = argv[1:]
            if not argv:
                self._flush(carry, ctx, text)
                return None
            head = argv[0]
            if head.dynamic:
                note = Note("dynamic-command", f"the command name {head} is only known at run time")
                self._emit(argv, ctx, text, carry, note)
                return argv
            argv = [Word(_base_name(head)), *argv[1:]]
            self._expand_alias(argv, ctx, text)
            step = self._unwrap(argv, ctx, text, carry)
            if step is None:
                notes = self._options_that_run(argv, ctx, text)
                self._emit(argv, ctx, text, carry, *notes)
                return argv
            inner, ctx = step
            if inner is None:
                self._flush(carry, ctx, text)
                return None
            argv = inner
        self.errors.append("too many nested command wrappers")
        return None

    def _expand_alias(self, argv: list[Word], ctx: _Ctx, text: str) -> None:
        """An alias defined earlier in the script: judge what it expands to as well. The
        name itself is judged too, since bash expands aliases only in some shells and
        only on lines read after the definition (`alias rm=echo; rm -rf /` runs rm)."""
        name = str(argv[0])
        value = self._aliases.get(name)
        if value is None or name in self._expanding or value.dynamic:
            return
        script = " ".join([value, *(_quote(word) for word in argv[1:])])
        self._expanding.add(name)
        try:
            self._judge_script(
                Word(script, any(w.dynamic for w in argv[1:])),
                ctx,
                f"alias {name}",
                _Carry([], []),
                text,
            )
        finally:
            self._expanding.discard(name)

    def _assignment(self, word: Word, ctx: _Ctx, text: str, carry: _Carry) -> None:
        """Some variables hold a command that programs run (GIT_SSH_COMMAND, EDITOR…), a
        file every non-interactive bash sources (BASH_ENV), a shell function bash imports
        (BASH_FUNC_name%%), git configuration, or code every program loads (LD_PRELOAD):
        judge those too."""
        name, _, value = word.partition("=")
        name = name.rstrip("+")
        value_word = Word(value, word.dynamic)
        if name.startswith("BASH_FUNC_"):
            function = name[len("BASH_FUNC_") :].removesuffix("%%").removesuffix("()")
            detail = f"defines the shell function {function} for the bash it starts"
            carry.notes.append(Note("function-export", detail))
            body = value[2:] if value.startswith("()") else value
            self._judge_script(Word(f"{function}() {body}", word.dynamic), ctx, name, carry, text)
        elif name in _GIT_CONFIG_VARIABLES or _GIT_CONFIG_PAIR.fullmatch(name):
            carry.notes.append(Note("git-config", f"{name} changes git's configuration"))
        elif name in _PRELOAD_VARIABLES and (
            name != "NODE_OPTIONS" or _NODE_PRELOAD.search(value) or word.dynamic
        ):
            carry.notes.append(Note("preload", f"{name} loads code into the programs it starts"))
        elif name in _COMMAND_VARIABLES and value:
            self._judge_script(value_word, ctx, f"{name}=", carry, text)
        elif name in ("LESSOPEN", "LESSCLOSE") and value.lstrip().startswith("|"):
            script = Word(value.lstrip().lstrip("|").replace("%s", "FILE"), word.dynamic)
            self._judge_script(script, ctx, f"{name}=", carry, text)
        elif name == "PATH" and _writable_path_entries(value_word):
            entries = ", ".join(_writable_path_entries(value_word))
            carry.notes.append(Note("path-change", f"PATH gets {entries}"))
        elif name in _SOURCED_VARIABLES and value:
            sub = replace(ctx, via=(*ctx.via, f"{name}="))
            self._emit([Word("source"), value_word], sub, text, _Carry([], []))

    def _nested(self, script: str, ctx: _Ctx, label: str) -> None:
        """Judge a string that will run as shell code (`bash -c`, `eval`, an alias)."""
        if ctx.depth + 1 > MAX_DEPTH:
            raise _TooDeep
        tree = _Parser(script, 0, ctx.depth + 1, self.errors).parse_all()
        self.walk_list(tree, replace(ctx, via=(*ctx.via, label), depth=ctx.depth + 1, stdin=None))

    def _unwrap(
        self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        """Peel one wrapper. None: `argv` is an ordinary command (emit it as it is).
        (inner, ctx): run `inner` next. (None, ctx): everything was emitted already."""
        name = str(argv[0])
        via = replace(ctx, via=(*ctx.via, name))
        inner: list[Word] | None
        if name in ("nohup", "builtin", "busybox", "toybox"):
            inner = argv[2:] if argv[1:2] == ["--"] else argv[1:]
        elif name == "coproc":
            # `coproc CMD…` runs CMD in the background (the compound form is parsed as
            # a _Coproc node).
            inner = argv[1:]
            via = replace(via, concurrent=True)
        elif name in _RUNNERS and argv[1:2] == ["run"]:
            # `uv run pytest`, `poetry run x`: the project's environment, then the command.
            i, _ = _skip_options(argv, 2, "p", _RUNNER_OPTIONS_WITH_VALUE)
            inner = argv[i:]
            via = replace(ctx, via=(*ctx.via, f"{name} run"))
        elif name == "command":
            if any(a in ("-v", "-V") for a in argv[1:]):
                return None  # only looks the name up
            inner = argv[_skip_options(argv, 1, "")[0] :]
        elif name == "exec":
            inner = argv[_skip_options(argv, 1, "a")[0] :]
        elif name == "setsid":
            inner = argv[_skip_options(argv, 1, "")[0] :]
        elif name == "time":
            i, _ = _skip_options(argv, 1, "of", {"--output", "--format"})
            out = _option_value(argv[1:i], "-o", "--output")
            if out is not None:
                carry.writes.append(out)  # GNU time -o FILE writes its report there
            inner = argv[i:]
            # `time ! cmd` times the pipeline `! cmd`: the command is what follows.
            while inner[:1] == ["!"]:
                inner = inner[1:]
        elif name == "stdbuf":
            inner = argv[_skip_options(argv, 1, "ioe", {"--input", "--output", "--error"})[0] :]
        elif name == "nice":
            inner = argv[_skip_options(argv, 1, "n", {"--adjustment"})[0] :]
        elif name == "ionice":
            i, seen = _skip_options(argv, 1, "cnpPu", {"--class", "--classdata", "--pid"})
            if seen & {"-p", "-P", "-u", "--pid", "--pgid", "--uid"}:
                return None
            inner = argv[i:]
        elif name in ("timeout", "gtimeout"):
            i, _ = _skip_options(argv, 1, "sk", {"--signal", "--kill-after"})
            inner = argv[i + 1 :]  # the first operand is the duration
        elif name in _WRAPPERS:
            return self._wrapper(argv, _WRAPPERS[name], via, text, carry)
        elif (name, str(argv[1]) if len(argv) > 1 else "") in _SUBCOMMAND_WRAPPERS:
            spec = _SUBCOMMAND_WRAPPERS[(name, str(argv[1]))]
            sub = replace(ctx, via=(*ctx.via, f"{name} {argv[1]}"))
            if "--" in argv[2:]:
                rest = argv[[str(a) for a in argv].index("--", 2) + 1 :]
                return (rest, sub) if rest else None
            return self._wrapper([argv[0], *argv[2:]], spec, sub, text, carry)
        elif name in _SHELL_STRING_RUNNERS:
            scripts = _shell_strings(argv)
            if scripts is None:
                return None
            for script in scripts:
                self._judge_script(script, ctx, name, _Carry([], []), text)
            self._emit(argv, ctx, text, carry)
            return None, ctx
        elif name == "sem":
            i = _parallel_options_end(argv)
            return (argv[i:], via) if i < len(argv) else None
        elif name == "gdb" and "--args" in argv:
            self._emit(argv, ctx, text, carry, *self._options_that_run(argv, ctx, text))
            rest = argv[[str(a) for a in argv].index("--args") + 1 :]
            if rest:
                self._run(rest, via, text, _Carry([], []))
            return None, ctx
        elif name == "flock":
            return self._flock(argv, ctx, via, text, carry)
        elif name == "script":
            return self._script(argv, ctx, text, carry)
        elif name == "parallel":
            return self._parallel(argv, ctx, text, carry)
        elif name == "sg":
            i, _ = _skip_options(argv, 1, "")
            rest = argv[i + 1 :]  # the first operand is the group
            rest = rest[1:] if rest[:1] == ["-c"] else rest
            if not rest:
                return None
            self._judge_script(_joined(rest), ctx, "sg", carry, text)
            return None, ctx
        elif name in ("systemd-run", "at", "batch"):
            # Judged twice, like sudo: the scheduling itself, and what it will run.
            self._emit(argv, ctx, text, carry)
            if name == "systemd-run":
                i, _ = _skip_options(argv, 1, "upEHMs", _SYSTEMD_RUN_OPTIONS_WITH_VALUE)
                return (argv[i:], via) if i < len(argv) else (None, ctx)
            if ctx.stdin and ctx.stdin[0] == "text":
                self._nested(ctx.stdin[1], ctx, name)
            return None, ctx
        elif name in ("source", ".") and argv[1:2] and argv[1] in _STDIN_PATHS:
            self._emit(argv, ctx, text, carry)
            self._stdin_script(argv, ctx, text, f"{name} {argv[1]}")
            return None, ctx
        elif name == "env":
            return self._env(argv, via, text, carry)
        elif name == "xargs":
            arg_file = _option_value(argv[1:], "-a", "--arg-file")
            if arg_file is not None:
                carry.reads.append(arg_file)
            inner = _xargs(argv, ctx.stdin)
        elif name in ("sudo", "doas", "pkexec", "run0"):
            # Judged twice: the escalation itself, and the command it runs.
            takes = {"sudo": "ugCDprtUTR", "doas": "uC", "pkexec": "", "run0": "ugD"}[name]
            long = {"--user", "--group", "--chdir", "--prompt", "--role", "--type", "--host"}
            i, _ = _skip_options(argv, 1, takes, long | {"--close-from", "--other-user"})
            self._emit(argv, ctx, text, carry)
            if i >= len(argv):
                return None, ctx  # `sudo -l`, `sudo -v`: nothing else runs
            return argv[i:], via
        elif name in ("su", "runuser"):
            self._emit(argv, ctx, text, carry)
            command = _option_value(argv[1:], "-c", "--command")
            if command is not None:
                self._judge_script(command, ctx, f"{name} -c", carry, text)
            elif name == "runuser" and "-u" in argv:
                i, _ = _skip_options(argv, 1, "ugGsw", {"--user", "--group", "--shell"})
                if i < len(argv):
                    return argv[i:], via
            return None, ctx
        elif name == "watch":
            i, seen = _skip_options(argv, 1, "n", {"--interval", "--differences"})
            rest = argv[i:]
            if seen & {"-x", "--exec"}:
                inner = rest
            else:
                self._judge_script(_joined(rest), ctx, "watch", carry, text)
                return None, ctx
        elif name == "find":
            self._find(argv, ctx, text, carry)
            return None, ctx
        elif name == "fd" and _fd_command(argv) is not None:
            self._fd(argv, ctx, text, carry)
            return None, ctx
        elif name in ("sed", "gsed"):
            self._sed(argv, ctx, text, carry)
            return None, ctx
        elif name == "git":
            return self._git(argv, ctx, text, carry)
        elif name == "eval":
            script = _joined(argv[1:])
            self._emit(argv, ctx, text, carry, Note("eval", "runs its arguments as shell code"))
            self._judge_script(script, ctx, "eval", carry, text)
            return None, ctx
        elif name in ("export", "declare", "typeset", "readonly", "local"):
            self._emit(argv, ctx, text, carry)
            for arg in argv[1:]:
                if _ASSIGNMENT.match(arg) or arg.startswith("BASH_FUNC_"):
                    self._assignment(arg, ctx, text, carry)
            return None, ctx
        elif name in ("alias", "trap"):
            self._emit(argv, ctx, text, carry)
            for arg in argv[1:]:
                if name == "alias" and "=" in arg:
                    alias, value = arg.split("=", 1)
                    value_word = Word(value, arg.dynamic)
                    self._judge_script(value_word, ctx, "alias", carry, text)
                    self._aliases[alias] = value_word
                elif name == "trap" and not arg.startswith("-"):
                    self._judge_script(arg, ctx, "trap", carry, text)
                    break
            return None, ctx
        elif name in SHELLS:
            return self._shell(argv, ctx, text, carry)
        else:
            return None
        if not inner:
            return None  # a wrapper that runs nothing: judge it as it is
        return inner, via

    def _judge_script(
        self,
        script: Word,
        ctx: _Ctx,
        label: str,
        carry: _Carry,
        text: str,
        argv: list[Word] | None = None,
    ) -> None:
        """Judge code that will run as shell code; when it is only known at run time, emit
        `argv` (or an empty segment) with a note saying so."""
        if script.dynamic:
            note = Note("dynamic-script", f"{label} runs code only known at run time: {script}")
            self._emit(argv or [], replace(ctx, via=(*ctx.via, label)), text, carry, note)
        else:
            self._nested(script, ctx, label)

    def _judge_program(self, program: Word, ctx: _Ctx, label: str, text: str) -> None:
        """A program an option names (rg --pre PROG): judged as a command of its own,
        given a file found by the tool."""
        if program:
            sub = replace(ctx, via=(*ctx.via, label))
            self._run([program, Word("{found}")], sub, text, _Carry([], []))

    def _stdin_script(self, argv: list[Word], ctx: _Ctx, text: str, label: str) -> None:
        """A shell that reads its script from its input: judge that input when it is known
        now (a here-document, `echo … |`), else say it is not."""
        if ctx.stdin and ctx.stdin[0] == "text":
            self._nested(ctx.stdin[1], ctx, f"{label} <<script")
        else:
            note = Note("stdin-script", f"{argv[0]} runs a script read from its input")
            self._emit(argv, ctx, text, _Carry([], []), note)

    def _env(
        self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        i = 1
        prefix: list[Word] = []
        while i < len(argv):
            arg = argv[i]
            option = value = None
            if arg == "--":
                i += 1
                break
            if arg.startswith("--"):
                name, eq, raw = arg.partition("=")
                i += 1
                if name in ("--unset", "--chdir", "--split-string"):
                    if eq:
                        option, value = name, Word(raw, arg.dynamic)
                    else:
                        option, value = name, argv[i] if i < len(argv) else Word("")
                        i += 1
            elif arg.startswith("-") and len(arg) > 1:
                # A cluster of short options: -i, -0, -v take nothing; -u, -C, -S a value,
                # the rest of the cluster or the next word.
                i += 1
                for j, letter in enumerate(arg[1:], 1):
                    if letter in "uCS":
                        option = "-" + letter
                        if j < len(arg) - 1:
                            value = Word(arg[j + 1 :], arg.dynamic)
                        else:
                            value = argv[i] if i < len(argv) else Word("")
                            i += 1
                        break
            elif "=" in arg:
                # env takes any NAME=VALUE before the command, names bash would refuse
                # included (BASH_FUNC_x%%=…).
                self._assignment(arg, ctx, text, carry)
                i += 1
                continue
            else:
                break
            if option in ("-C", "--chdir") and value is not None:
                ctx = replace(ctx, cwds=tuple(_join(cwd, value) for cwd in ctx.cwds))
            elif option in ("-S", "--split-string") and value is not None:
                prefix = _split_words(value)
                break
        inner = prefix + argv[i:]
        while inner and _ASSIGNMENT.match(inner[0]):
            self._assignment(inner[0], ctx, text, carry)
            inner = inner[1:]
        return (inner, ctx) if inner else None

    def _shell(
        self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        name = argv[0]
        command_mode = stdin_mode = False
        i = 1
        while i < len(argv):
            arg = argv[i]
            if arg in ("--", "-"):
                stdin_mode = stdin_mode or arg == "-"
                i += 1
                break
            if arg.startswith("--"):
                i += 2 if arg in ("--rcfile", "--init-file") else 1
                continue
            if arg[:1] in "-+" and len(arg) > 1:
                letters = arg[1:]
                command_mode = command_mode or (arg[0] == "-" and "c" in letters)
                stdin_mode = stdin_mode or (arg[0] == "-" and "s" in letters)
                i += 2 if ("o" in letters or "O" in letters) else 1
                continue
            break
        rest = argv[i:]
        if command_mode:
            if not rest:
                return None
            self._judge_script(rest[0], ctx, f"{name} -c", carry, text, argv)
            return None, ctx
        if rest and rest[0] in _STDIN_PATHS:
            stdin_mode = True  # `bash /dev/stdin <<< …` reads its script like `bash -s`
        elif rest and not stdin_mode:
            return None  # runs a script file: judged by its name like any program
        if ctx.stdin and ctx.stdin[0] == "text":
            self._nested(ctx.stdin[1], ctx, f"{name} <<script")
            return None, ctx
        if ctx.stdin:
            note = Note("stdin-script", f"{name} runs a script read from its input")
            self._emit(argv, ctx, text, carry, note)
            return None, ctx
        return None

    def _wrapper(
        self, argv: list[Word], spec: _WrapperSpec, ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        """A command that runs the rest of its arguments (taskset MASK cmd, strace -o F
        cmd, …): its own options and leading operands are skipped, files it writes are
        carried to the command it runs."""
        start = 1 + spec.operands if spec.operands_first else 1
        i, seen = _skip_options(argv, start, spec.short_values, set(spec.long_values))
        if seen & spec.no_command:
            return None
        for short, long in spec.writes:
            out = _option_value(argv[1:i], short, long)
            if out is not None:
                carry.writes.append(out)
        inner = argv[i:] if spec.operands_first else argv[i + spec.operands :]
        return (inner, ctx) if inner else None

    def _flock(
        self, argv: list[Word], ctx: _Ctx, via: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        """`flock [opts] FILE CMD…`, `flock [opts] FILE -c 'script'`, `flock [opts] FD`."""
        i, _ = _skip_options(argv, 1, "wE", {"--wait", "--timeout", "--conflict-exit-code"})
        rest = argv[i + 1 :]  # the first operand is the lock file (or descriptor)
        if rest[:1] in (["-c"], ["--command"]):
            if len(rest) > 1:
                self._judge_script(rest[1], ctx, "flock -c", carry, text)
                return None, ctx
            return None
        return (rest, via) if rest else None

    def _script(
        self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        """`script [opts] [FILE]`: runs `-c CMD` (or a shell reading its input) and writes
        the session to FILE (and to the -B/-I/-O/-T logs)."""
        command: Word | None = None
        files: list[Word] = []
        i = 1
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                files.extend(argv[i:])
                break
            if arg.startswith("--"):
                name, eq, value = arg.partition("=")
                takes = name in _SCRIPT_LONG_WITH_VALUE
                word = (
                    Word(value, arg.dynamic)
                    if eq
                    else (argv[i] if takes and i < len(argv) else None)
                )
                i += 1 if takes and not eq else 0
                if name == "--command" and word is not None:
                    command = word
                elif name in ("--log-io", "--log-in", "--log-out", "--log-timing") and word:
                    files.append(word)
                continue
            if arg.startswith("-") and len(arg) > 1:
                for j, letter in enumerate(arg[1:], 1):
                    if letter in "cEmBIOTo":
                        word = Word(arg[j + 1 :], arg.dynamic) if j < len(arg) - 1 else None
                        if word is None and i < len(argv):
                            word, i = argv[i], i + 1
                        if letter == "c":
                            command = word
                        elif letter in "BIOT" and word:
                            files.append(word)
                        break
                continue
            files.append(arg)
        carry.writes.extend(files[:1] or [Word("typescript")])
        carry.writes.extend(files[1:])
        if command is not None:
            self._judge_script(command, ctx, "script -c", carry, text)
            return None, ctx
        if ctx.stdin:
            self._flush(carry, ctx, text)
            self._stdin_script(argv, ctx, text, "script")
            return None, ctx
        return None

    def _parallel(
        self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        """GNU parallel runs a command template as shell code once per argument (after
        `:::`, or read from its input), with {} replaced by the argument, quoted; with
        no template, each argument is a command of its own."""
        i = _parallel_options_end(argv)
        template: list[Word] = []
        while i < len(argv) and argv[i] not in _PARALLEL_SEPARATORS:
            template.append(argv[i])
            i += 1
        inputs: list[Word] = []
        known = True
        while i < len(argv):
            if argv[i] in ("::::", "::::+"):
                known = False  # arguments read from files
            elif argv[i] not in _PARALLEL_SEPARATORS:
                inputs.append(argv[i])
            i += 1
        if i == len(argv) and not inputs and known:
            if ctx.stdin and ctx.stdin[0] == "text":
                inputs = [Word(line) for line in ctx.stdin[1].splitlines() if line.strip()]
            else:
                known = False
        if not template:
            if not known:
                self._stdin_script(argv, ctx, text, "parallel")
                return None, ctx
            for item in inputs[:MAX_BRACE_WORDS]:
                self._judge_script(item, ctx, "parallel", carry, text)
            return None, ctx
        placeholder = _joined(template)
        if not known or not inputs:
            inputs = [Word("$PARALLEL_INPUT", dynamic=True)]
        for item in inputs[:MAX_BRACE_WORDS]:
            value = (
                item if item.dynamic and item.startswith("$") else Word(_quote(item), item.dynamic)
            )
            if _PARALLEL_REPLACEMENT.search(placeholder):
                script = _PARALLEL_REPLACEMENT.sub(str(value).replace("\\", "\\\\"), placeholder)
            else:
                script = f"{placeholder} {value}"
            # The argument is quoted by parallel: it is data, even when unknown.
            self._nested(script, ctx, "parallel")
        self._flush(carry, ctx, text)
        return None, ctx

    def _fd(self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry) -> None:
        """`fd [PATTERN] [PATH…] -x|-X CMD…`: CMD runs on what fd finds under each PATH."""
        found = _fd_command(argv)
        assert found is not None
        start, end = found
        own = argv[:start]
        i, _ = _skip_options(own, 1, "etEdSoj", _FD_LONG_WITH_VALUE)
        operands = [a for a in own[i:] if not a.startswith("-")]
        roots = operands[1:] or [Word(".")]
        roots += [own[k + 1] for k, a in enumerate(own[:-1]) if a == "--search-path"]
        self._emit(own + argv[end + 1 :], ctx, text, carry)
        command = argv[start + 1 : end]
        for root in roots:
            placeholder = Word(root.rstrip("/") + "/{found}", root.dynamic)
            inner = [_FD_REPLACEMENT.sub(placeholder.replace("\\", "\\\\"), w) for w in command]
            words = [
                Word(w, placeholder.dynamic or c.dynamic)
                for w, c in zip(inner, command, strict=True)
            ]
            if not any(_FD_REPLACEMENT.search(w) for w in command):
                words.append(placeholder)
            if words:
                sub = replace(ctx, via=(*ctx.via, f"fd {argv[start]}"))
                self._run(words, sub, text, _Carry([], []))

    def _sed(self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry) -> None:
        """sed's own commands can write (w, s///w), read (r, R) and run (e, s///e) what
        its script names; --sandbox refuses them."""
        scripts, script_file, sandbox, _ = _sed_scripts(argv[1:])
        notes: list[Note] = []
        for script in scripts if not sandbox else []:
            info = _sed_script(str(script))
            if info is None:
                if script.dynamic or set(script) & set("ewWrR"):
                    detail = f"sed runs a script that cannot be read: {script}"
                    notes.append(Note("dynamic-script", detail))
                continue
            dynamic = script.dynamic
            carry.writes.extend(Word(w, dynamic) for w in info.writes)
            carry.reads.extend(Word(r, dynamic) for r in info.reads)
            for command in info.commands:
                self._judge_script(Word(command, dynamic), ctx, "sed e", _Carry([], []), text)
            if info.runs_pattern_space:
                detail = "sed's e runs the text it edits as a command"
                notes.append(Note("dynamic-script", detail))
        if script_file is not None:
            carry.reads.append(script_file)
        self._emit(argv, ctx, text, carry, *notes)

    def _options_that_run(self, argv: list[Word], ctx: _Ctx, text: str) -> list[Note]:
        """Notes for an ordinary command whose options or arguments run code: a program
        named in an option (rg --pre, tar --to-command, …), which is judged as well, or
        an interpreter given its program on the command line or its input."""
        notes: list[Note] = []
        name = str(argv[0])
        for option, value, kind in _option_commands(argv):
            notes.append(Note("option-command", f"{name} {option} runs {value or 'a program'}"))
            if kind == "program" and value is not None:
                self._judge_program(value, ctx, f"{name} {option}", text)
            elif value is not None:
                self._judge_script(value, ctx, f"{name} {option}", _Carry([], []), text)
        inline = _inline_code(argv, ctx.stdin is not None)
        if inline:
            notes.append(Note("inline-code", inline))
        return notes

    def _find(self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry) -> None:
        i = 1
        while i < len(argv) and (argv[i] in ("-H", "-L", "-P", "-D") or argv[i].startswith("-O")):
            i += 2 if argv[i] == "-D" else 1
        roots: list[Word] = []
        while i < len(argv) and not argv[i].startswith("-") and argv[i] not in ("(", "!", ")"):
            roots.append(argv[i])
            i += 1
        roots = roots or [Word(".")]
        expression = argv[i:]
        writes = [
            expression[j + 1]
            for j, a in enumerate(expression[:-1])
            if a in ("-fprint", "-fprint0", "-fprintf", "-fls")
        ]
        carry.writes.extend(writes)
        self._emit(argv, ctx, text, carry)
        # With a name or type filter the command acts on some files under each
        # starting point ({found}); without one, on the whole tree.
        if any(a in _FIND_FILTERS for a in expression):
            roots = [Word(root.rstrip("/") + "/{found}", root.dynamic) for root in roots]
        j = 0
        while j < len(expression):
            action = expression[j]
            if action in ("-exec", "-execdir", "-ok", "-okdir"):
                k = j + 1
                while k < len(expression) and expression[k] not in (";", "+"):
                    k += 1
                # Each file found lies under a starting point: judge the command as
                # if it got the starting points themselves.
                inner: list[Word] = []
                for word in expression[j + 1 : k]:
                    if "{}" not in word:
                        inner.append(word)
                        continue
                    for root in roots:
                        text_ = word.replace("{}", root)
                        inner.append(Word(text_, word.dynamic or root.dynamic))
                if inner:
                    sub = replace(ctx, via=(*ctx.via, f"find {action}"))
                    self._run(inner, sub, text, _Carry([], []))
                j = k + 1
                continue
            if action == "-delete":
                rm = [Word("rm"), Word("-r"), *roots]
                self._emit(rm, replace(ctx, via=(*ctx.via, "find -delete")), text, _Carry([], []))
            j += 1

    def _git(
        self, argv: list[Word], ctx: _Ctx, text: str, carry: _Carry
    ) -> tuple[list[Word] | None, _Ctx] | None:
        i = 1
        configs: list[Word] = []
        notes: list[Note] = []
        while i < len(argv):
            arg = argv[i]
            if arg == "-c" and i + 1 < len(argv):
                configs.append(argv[i + 1])
                i += 2
            elif arg == "-C" and i + 1 < len(argv):
                target = argv[i + 1]
                ctx = replace(ctx, cwds=tuple(_join(cwd, target) for cwd in ctx.cwds))
                i += 2
            elif arg == "--config-env" or arg.startswith(("--config-env=", "--exec-path=")):
                detail = f"git {arg} changes where git finds its configuration or programs"
                notes.append(Note("git-config", detail))
                i += 2 if arg == "--config-env" else 1
            elif arg in _GIT_OPTIONS_WITH_VALUE:
                i += 2
            elif arg.startswith("--") or arg in ("-p", "-P"):
                i += 1
            else:
                break
        rest = argv[i:]
        aliases: dict[str, Word] = {}
        for config in configs:
            key, _, value = config.partition("=")
            value_word = Word(value, config.dynamic)
            if key.lower().startswith("alias."):
                aliases[key[6:]] = value_word
            notes.extend(self._git_config(key, value_word, ctx, text, persistent=False))
        if rest and rest[0] in aliases and not aliases[rest[0]].startswith("!"):
            rest = [*_split_words(aliases[rest[0]]), *rest[1:]]
        sub = rest[0] if rest else ""
        if sub == "config" and _git_config_sets(rest[1:]):
            operands = _operands(rest[1:], frozenset({"-f", "--type"}), frozenset({"--file"}))
            if operands[:1] in (["set"], ["unset"]):
                operands = operands[1:]
            if operands:
                value = operands[1] if len(operands) > 1 else Word("")
                notes.extend(self._git_config(operands[0], value, ctx, text, persistent=True))
        if sub in ("clone", "init", "submodule"):
            # clone -c key=value writes the new repository's config; a template brings
            # its hooks.
            for config in _git_values(rest[1:], "-c", "--config", 3):
                key, _, value = config.partition("=")
                value_word = Word(value, config.dynamic)
                notes.extend(self._git_config(key, value_word, ctx, text, persistent=True))
            if _git_values(rest[1:], "", "--template", 3):
                notes.append(
                    Note("git-config", f"git {sub} --template brings hooks from elsewhere")
                )
        for option, command, kind in _git_option_commands(rest):
            what = command or "a command"
            notes.append(Note("option-command", f"git {sub} {option} runs {what}"))
            if command is not None and kind == "script":
                self._judge_script(command, ctx, f"git {sub} {option}", _Carry([], []), text)
        self._emit([argv[0], *rest], ctx, text, carry, *notes)
        if sub == "rebase":
            for value in _git_values(rest[1:], "-x", "--exec", 3):
                self._judge_script(value, ctx, "git rebase --exec", _Carry([], []), text)
        elif sub == "bisect" and rest[1:2] == ["run"] and len(rest) > 2:
            sub_ctx = replace(ctx, via=(*ctx.via, "git bisect run"))
            self._run(rest[2:], sub_ctx, text, _Carry([], []))
        elif sub == "submodule" and "foreach" in rest:
            j, _ = _skip_options(rest, [str(a) for a in rest].index("foreach") + 1, "")
            if j < len(rest):
                script = rest[j] if j == len(rest) - 1 else _joined(rest[j:])
                self._judge_script(script, ctx, "git submodule foreach", _Carry([], []), text)
        return None, ctx

    def _git_config(
        self, key: str, value: Word, ctx: _Ctx, text: str, *, persistent: bool
    ) -> list[Note]:
        """One configuration value given to git (`-c key=value`, or `git config key
        value`, which lasts). A value git runs as a command is judged as one; any key
        but the harmless ones is noted, since config can point git at hooks, filters,
        helpers and other config files. One-off values that are judged commands need no
        note; lasting ones do, as they run later under an innocent-looking command."""
        lower = key.lower()
        runs = lower in _GIT_COMMAND_KEYS or bool(_GIT_COMMAND_KEY_PATTERNS.fullmatch(lower))
        if lower.startswith("alias."):
            runs = value.startswith("!")
            if runs:
                value = Word(value[1:], value.dynamic)
        if runs and value:
            self._judge_script(value, ctx, f"git config {key}", _Carry([], []), text)
        harmless = lower in _GIT_HARMLESS_KEYS or lower.split(".", 1)[0] in _GIT_HARMLESS_SECTIONS
        if harmless or (not persistent and (runs or lower.startswith("alias."))):
            return []
        what = "lastingly " if persistent else ""
        return [Note("git-config", f"git config {key} {what}changes what git runs or reads")]


# Variables whose value programs run as a command, and those naming a file bash sources.
_COMMAND_VARIABLES = frozenset(
    """GIT_SSH_COMMAND GIT_SSH GIT_EDITOR GIT_SEQUENCE_EDITOR GIT_PAGER GIT_EXTERNAL_DIFF
    GIT_ASKPASS GIT_PROXY_COMMAND SSH_ASKPASS SUDO_ASKPASS EDITOR VISUAL PAGER MANPAGER
    PROMPT_COMMAND""".split()
)
_SOURCED_VARIABLES = frozenset({"BASH_ENV", "ENV"})


def _writable_path_entries(value: Word) -> list[str]:
    """The entries of a PATH value that the agent may have filled: relative ones (and the
    empty entry, which is the current directory), and those under $PWD or another
    variable but $PATH and $HOME."""
    out = []
    for entry in value.split(":"):
        if entry in ("$PATH", "${PATH}"):
            continue
        if not entry.startswith("/") and not entry.startswith(("$HOME", "${HOME}", "~")):
            out.append(entry or "the current directory")
    return out


# Variables that give git configuration or the programs it runs (hooks come with
# templates).
_GIT_CONFIG_VARIABLES = frozenset(
    """GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT GIT_CONFIG_GLOBAL GIT_CONFIG_SYSTEM
    GIT_EXEC_PATH GIT_TEMPLATE_DIR""".split()
)
_GIT_CONFIG_PAIR = re.compile(r"GIT_CONFIG_(KEY|VALUE)_\d+")
# Variables that load code into every program started with them.
_PRELOAD_VARIABLES = frozenset(
    """LD_PRELOAD LD_AUDIT DYLD_INSERT_LIBRARIES NODE_OPTIONS PERL5OPT RUBYOPT""".split()
)
_NODE_PRELOAD = re.compile(r"(^|\s)(-r|--require|--import|--loader|--experimental-loader)\b")
_RUNNERS = frozenset({"uv", "poetry", "pdm", "hatch", "pipenv", "rye"})
_RUNNER_OPTIONS_WITH_VALUE = set(
    """--with --with-requirements --python --project --directory --group --extra --env-file
    --package --index --env""".split()
)
_FIND_FILTERS = frozenset(
    """-name -iname -path -ipath -wholename -iwholename -regex -iregex -newer -mtime -mmin
    -atime -amin -ctime -cmin -size -type -empty -user -group -perm -links -inum
    -samefile""".split()
)
_GIT_OPTIONS_WITH_VALUE = frozenset(
    {"-C", "--git-dir", "--work-tree", "--namespace", "--config-env", "--super-prefix"}
)
# Configuration values git runs as shell commands.
_GIT_COMMAND_KEYS = frozenset(
    """core.sshcommand core.pager core.editor core.fsmonitor core.gitproxy core.askpass
    sequence.editor diff.external gpg.program credential.helper
    uploadpack.packobjectshook""".split()
)
_GIT_COMMAND_KEY_PATTERNS = re.compile(
    r"(diff|merge|filter|credential|gpg|pager)\.[^ ]+\.(textconv|command|driver|clean|smudge"
    r"|process|helper|program)|pager\.[^ ]+|sendemail\.(smtpserver|sendmailcmd|tocmd|cccmd)"
)
# Configuration that changes how git shows and records things, not what it runs.
_GIT_HARMLESS_KEYS = frozenset(
    """user.name user.email user.signingkey init.defaultbranch core.quotepath core.autocrlf
    core.safecrlf core.eol core.abbrev core.longpaths core.filemode core.ignorecase
    commit.gpgsign commit.verbose tag.gpgsign gpg.format pull.rebase pull.ff merge.ff
    merge.conflictstyle rebase.autosquash rebase.autostash rebase.updaterefs diff.noprefix
    diff.renames diff.algorithm diff.colormoved diff.mnemonicprefix push.default
    push.autosetupremote fetch.prune branch.autosetupmerge branch.sort tag.sort
    format.pretty gc.auto maintenance.auto protocol.version versionsort.suffix
    feature.manyfiles index.version help.autocorrect""".split()
)
_GIT_HARMLESS_SECTIONS = frozenset({"color", "advice", "i18n", "log", "pretty", "column", "status"})


# --- wrappers and options that run commands ------------------------------------------------


@dataclass(frozen=True)
class _WrapperSpec:
    """How a command that runs the rest of its arguments takes its own: short options
    with a value (by letter), long ones with a value, how many operands come before
    the command, the options that mean no command runs (taskset -p PID), and the
    options naming files it writes."""

    short_values: str = ""
    long_values: frozenset[str] = frozenset()
    operands: int = 0
    no_command: frozenset[str] = frozenset()
    writes: tuple[tuple[str, str | None], ...] = ()
    # The operands come before the options (setarch ARCH [options] cmd).
    operands_first: bool = False


def _spec(
    short: str = "",
    long: str = "",
    operands: int = 0,
    none: str = "",
    writes: tuple[tuple[str, str | None], ...] = (),
    operands_first: bool = False,
) -> _WrapperSpec:
    return _WrapperSpec(
        short, frozenset(long.split()), operands, frozenset(none.split()), writes, operands_first
    )


_WRAPPERS: dict[str, _WrapperSpec] = {
    "chronic": _spec(),
    "ifne": _spec(),
    "cgexec": _spec("g"),
    "trickle": _spec("dulwtnL"),
    "dbus-launch": _spec(long="--config-file --autolaunch --binary-syntax"),
    "taskset": _spec(operands=1, none="-p --pid"),
    "chrt": _spec("TPD", "--sched-runtime --sched-period --sched-deadline", 1, "-p --pid -m --max"),
    "numactl": _spec(
        "iwpPmNCu",
        "--interleave --weighted-interleave --preferred --preferred-many --membind "
        "--cpunodebind --physcpubind --cpubind --shm --file --length --offset --shmmode "
        "--shmid",
        none="-s --show -H --hardware",
    ),
    "strace": _spec(
        "oepPsuEabIOSXU",
        "--output --trace --attach --user --env --signal --status --string-limit "
        "--trace-path --decode-fds --columns --summary-sort-by",
        writes=(("-o", "--output"),),
    ),
    "ltrace": _spec(
        "oepuslnaADFwxLT", "--output --library --align --indent", writes=(("-o", "--output"),)
    ),
    "valgrind": _spec(writes=(("", "--log-file"), ("", "--xml-file"))),
    "xvfb-run": _spec(
        "efnpsw",
        "--error-file --auth-file --server-num --xauth-protocol --server-args --wait",
        writes=(("-e", "--error-file"),),
    ),
    "unshare": _spec(
        "SGRw",
        "--setuid --setgid --root --wd --map-user --map-group --map-users --map-groups "
        "--propagation --setgroups --kill-child",
    ),
    "setpriv": _spec(
        long="--reuid --regid --ruid --rgid --euid --egid --groups --inh-caps --ambient-caps "
        "--bounding-set --securebits --pdeathsig --selinux-label --apparmor-profile "
        "--landlock-access --landlock-rule"
    ),
    "prlimit": _spec("p", "--pid --output", none="-p --pid"),
    "chroot": _spec(long="--userspec --groups", operands=1),
    "nsenter": _spec("tSGrw", "--target --setuid --setgid --root --wd"),
    "ssh-agent": _spec("aEPt", none="-k -l -D -d -s -c"),
    "dbus-run-session": _spec(long="--config-file --dbus-daemon"),
    "unbuffer": _spec(),
    "eatmydata": _spec(),
    "fakeroot": _spec("lsi", "--lib --faked"),
    "proxychains": _spec("f"),
    "proxychains4": _spec("f"),
    "torsocks": _spec("uaP", "--user --pass --address --port"),
    "catchsegv": _spec(),
    "setarch": _spec(operands=1, operands_first=True),
    "linux32": _spec(),
    "linux64": _spec(),
    "caffeinate": _spec("tw", none="-w"),
    "firejail": _spec(),
    "systemd-inhibit": _spec(long="--what --who --why --mode"),
    "cpulimit": _spec("lpe", "--limit --pid --exe", none="-p --pid -e --exe"),
}
_SYSTEMD_RUN_OPTIONS_WITH_VALUE = set(
    """--unit --property --description --slice --setenv --working-directory --uid --gid
    --nice --host --machine --on-active --on-boot --on-startup --on-unit-active
    --on-unit-inactive --on-calendar --timer-property --path-property --socket-property
    --service-type --expand-environment""".split()
)
_SCRIPT_LONG_WITH_VALUE = frozenset(
    """--command --echo --logging-format --log-io --log-in --log-out --log-timing
    --output-limit""".split()
)
_PARALLEL_SEPARATORS = frozenset({":::", "::::", ":::+", "::::+"})
_PARALLEL_LONG_WITH_VALUE = frozenset(
    """--jobs --sshlogin --sshloginfile --slf --arg-file --delimiter --eof --max-args
    --max-lines --max-procs --max-chars --joblog --results --res --tmpdir --tempdir
    --workdir --wd --timeout --retries --colsep --basefile --bf --return --transfer-file
    --tf --env --tag-string --tagstring --load --memfree --delay --halt --nice --termseq
    --block --block-size --header --rpl --id --semaphorename --replace""".split()
)
_PARALLEL_REPLACEMENT = re.compile(r"\{(\d*[./]*|//|/\.|#|%)\}")
_FD_LONG_WITH_VALUE = set(
    """--extension --type --exclude --max-depth --min-depth --exact-depth --size
    --changed-within --changed-before --owner --threads --max-results --base-directory
    --path-separator --search-path --color --ignore-file --format --batch-size
    --max-buffer-time""".split()
)
_FD_REPLACEMENT = re.compile(r"\{(/|//|\.|/\.)?\}")


def _parallel_options_end(argv: list[Word]) -> int:
    """Index of the first word after GNU parallel's (or sem's) own options."""
    i = 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in _PARALLEL_SEPARATORS:
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if "=" not in arg and (
            name in _PARALLEL_LONG_WITH_VALUE
            or (not name.startswith("--") and len(arg) == 2 and arg[1] in "jSadEIinNLlPsCX")
        ):
            i += 1
    return i


# Commands that run another after a subcommand (bundle exec cmd, conda run -n env cmd);
# with `--`, what follows it is the command.
_SUBCOMMAND_WRAPPERS: dict[tuple[str, str], _WrapperSpec] = {
    ("bundle", "exec"): _spec(),
    ("pnpm", "exec"): _spec(),
    ("yarn", "exec"): _spec(),
    ("rbenv", "exec"): _spec(),
    ("pyenv", "exec"): _spec(),
    ("asdf", "exec"): _spec(),
    ("direnv", "exec"): _spec(operands=1),
    ("conda", "run"): _spec("np", "--name --prefix --cwd"),
    ("mamba", "run"): _spec("np", "--name --prefix --cwd"),
    ("micromamba", "run"): _spec("np", "--name --prefix --cwd"),
    ("pixi", "run"): _spec("e", "--environment --manifest-path"),
    ("aws-vault", "exec"): _spec(operands=1),
    ("op", "run"): _spec(long="--env-file"),
    ("doppler", "run"): _spec("pc", "--project --config"),
    ("perf", "stat"): _spec("eopCGrI", "--event --output --pid --cpu --cgroup --repeat"),
    ("perf", "record"): _spec("eopCGcF", "--event --output --pid --cpu --cgroup --count"),
    ("perf", "trace"): _spec("eopC", "--event --output --pid --cpu"),
    ("nix", "develop"): _spec(operands=0),
}
_HYPERFINE_SCRIPTS = frozenset(
    {"-s", "-p", "-c", "--setup", "--prepare", "--cleanup", "--conclude"}
)
# Commands whose arguments (or some options' values) are shell code they run.
_SHELL_STRING_RUNNERS = frozenset(
    """hyperfine concurrently nix-shell tmux screen watchexec entr nodemon npm""".split()
)


def _shell_strings(argv: list[Word]) -> list[Word] | None:
    """The shell code a runner is given: hyperfine's and concurrently's commands,
    `nix-shell --run`, `tmux new-session|new-window|split-window|run-shell|send-keys`,
    `screen CMD`, `watchexec CMD`, `entr CMD`, `nodemon --exec`, `npm exec -c`. None
    when it runs none (a plain `npm install`)."""
    name, args = str(argv[0]), argv[1:]
    if name in ("hyperfine", "concurrently"):
        takes = {
            "hyperfine": ("wmMrSNuDn", "--warmup --min-runs --max-runs --runs --shell "
                          "--time-unit --parameter-step-size --command-name --style --sort "
                          "--export-csv --export-json --export-markdown --export-asciidoc "
                          "--export-orgmode --output --input"),
            "concurrently": ("ncpPkt", "--names --prefix-colors --prefix --prefix-length "
                             "--timestamp-format --kill-others-on-fail --max-processes "
                             "--success --restart-tries --restart-after --default-input-target "
                             "--handle-input --name-separator"),
        }[name]  # fmt: skip
        scripts = [*_git_values(args, "-s", "--setup", 3), *_git_values(args, "-p", "--prepare", 3),
                   *_git_values(args, "-c", "--cleanup", 3), *_git_values(args, "", "--conclude", 4)] \
            if name == "hyperfine" else []  # fmt: skip
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg.startswith("-") and "=" not in arg:
                if name == "hyperfine" and arg in _HYPERFINE_SCRIPTS:
                    i += 1
                elif (len(arg) == 2 and arg[1] in takes[0]) or arg in takes[1].split():
                    i += 1
                elif arg in ("-P", "--parameter-scan"):
                    i += 3
                elif arg in ("-L", "--parameter-list"):
                    i += 2
                continue
            if not arg.startswith("-"):
                scripts.append(arg)
        return scripts
    if name == "nix-shell":
        return _git_values(args, "", "--run", 0) + _git_values(args, "", "--command", 0) or None
    if name == "tmux":
        sub = next((a for a in args if not a.startswith("-")), None)
        if sub in ("new-session", "new", "new-window", "neww", "split-window", "splitw",
                   "respawn-pane", "respawnp", "respawn-window", "respawnw", "run-shell", "run"):  # fmt: skip
            k = [str(a) for a in args].index(str(sub))
            j, _ = _skip_options(args, k + 1, "stncxyeFfplb", set())
            rest = args[j:]
            return [_joined(rest)] if rest else None
        if sub in ("send-keys", "send"):
            k = [str(a) for a in args].index(str(sub))
            j, _ = _skip_options(args, k + 1, "tN", set())
            keys = [a for a in args[j:] if a not in ("Enter", "C-m", "C-j", "KPEnter")]
            return [_joined(keys)] if keys else None
        return None
    if name == "screen":
        j, seen = _skip_options(args, 0, "SceHhpTtLs", set())
        rest = args[j:]
        return (
            [_joined(rest)]
            if rest and not seen & {"-X", "-r", "-R", "-x", "-ls", "-list"}
            else None
        )
    if name == "watchexec":
        j, _ = _skip_options(args, 0, "weifdEs", {"--watch", "--exts", "--filter", "--ignore",
                                                  "--debounce", "--signal", "--shell", "--env"})  # fmt: skip
        rest = args[j:]
        return [_joined(rest)] if rest else None
    if name == "entr":
        j, _ = _skip_options(args, 0, "")
        rest = args[j:]
        return [_joined(rest)] if rest else None
    if name == "nodemon":
        return _git_values(args, "-x", "--exec", 0) or None
    if name == "npm" and args[:1] == ["exec"]:
        return _git_values(args[1:], "-c", "--call", 0) or None
    return None


def _fd_command(argv: list[Word]) -> tuple[int, int] | None:
    """Where fd's -x/--exec or -X/--exec-batch command starts and ends (`;` or the end)."""
    for i, arg in enumerate(argv):
        if arg in ("-x", "--exec", "-X", "--exec-batch"):
            end = next((k for k in range(i + 1, len(argv)) if argv[k] == ";"), len(argv))
            return i, end
    return None


def _option_commands(argv: list[Word]) -> list[tuple[str, Word | None, str]]:
    """Options of ordinary tools that run another program: (option, value, kind), kind
    "program" (a file to run, given a file) or "script" (shell code)."""
    name, args = str(argv[0]), argv[1:]
    out: list[tuple[str, Word | None, str]] = []

    def option(short: str, long: str | None, kind: str, abbreviated: int = 0) -> None:
        for k, arg in enumerate(args):
            head = arg.split("=", 1)[0]
            hit = (short and (arg == short or (arg.startswith(short) and len(short) == 2))) or (
                long and (head == long or (abbreviated and len(head) >= 2 + abbreviated
                                          and long.startswith(head) and head.startswith("--")))
            )  # fmt: skip
            if not hit:
                continue
            if "=" in arg and arg.startswith("--"):
                value: Word | None = Word(arg.split("=", 1)[1], arg.dynamic)
            elif short and arg.startswith(short) and arg != short:
                value = Word(arg[len(short) :], arg.dynamic)
            else:
                value = args[k + 1] if k + 1 < len(args) else None
            out.append((head, value, kind))

    if name == "rg":
        option("", "--pre", "program")
        option("", "--hostname-bin", "program")
    elif name == "sort":
        option("", "--compress-program", "program", abbreviated=3)
    elif name == "tar":
        option("", "--to-command", "script", abbreviated=3)
        option("-I", "--use-compress-program", "script", abbreviated=3)
        option("-F", "--info-script", "script", abbreviated=3)
        option("", "--new-volume-script", "script", abbreviated=3)
        option("", "--rsh-command", "program", abbreviated=3)
        option("", "--rmt-command", "program", abbreviated=3)
        for arg in args:
            if arg.startswith("--checkpoint-action=") and "exec=" in arg:
                value = Word(arg.split("exec=", 1)[1], arg.dynamic)
                out.append(("--checkpoint-action", value, "script"))
    elif name == "zip":
        option("", "--unzip-command", "script")
        for k, arg in enumerate(args):
            if arg == "-TT" and k + 1 < len(args):
                out.append(("-TT", args[k + 1], "script"))
    elif name == "rsync":
        option("-e", "--rsh", "script")
        option("", "--rsync-path", "script")
    return out


def _git_values(args: list[Word], short: str, long: str, abbreviated: int) -> list[Word]:
    """Every value of a git option given as -x V, -xV, --long V, --long=V or an
    abbreviation of --long."""
    out: list[Word] = []
    for k, arg in enumerate(args):
        following = args[k + 1] if k + 1 < len(args) else None
        head, eq, value = arg.partition("=")
        if short and arg == short:
            if following is not None:
                out.append(following)
        elif short and arg.startswith(short) and not arg.startswith("--"):
            out.append(Word(arg[len(short) :], arg.dynamic))
        elif head.startswith("--") and len(head) >= 2 + abbreviated and long.startswith(head):
            if eq:
                out.append(Word(value, arg.dynamic))
            elif following is not None:
                out.append(following)
    return out


# git subcommands and their options that run a command given there.
_GIT_OPTION_COMMANDS = {
    "fetch": (("", "--upload-pack"),),
    "pull": (("", "--upload-pack"),),
    "clone": (("-u", "--upload-pack"),),
    "ls-remote": (("", "--upload-pack"),),
    "push": (("", "--receive-pack"), ("", "--exec")),
    "archive": (("", "--exec"),),
    "difftool": (("-x", "--extcmd"),),
}


def _git_option_commands(rest: list[Word]) -> list[tuple[str, Word | None, str]]:
    if not rest:
        return []
    sub, args = str(rest[0]), rest[1:]
    out: list[tuple[str, Word | None, str]] = []
    for short, long in _GIT_OPTION_COMMANDS.get(sub, ()):
        for value in _git_values(args, short, long, 3):
            out.append((long, value, "script"))
    if sub == "grep":
        for arg in args:
            if arg.startswith("-O") and len(arg) > 2:
                out.append(("-O", Word(arg[2:], arg.dynamic), "script"))
            elif arg.startswith("--open-files-in-pager=") or arg.startswith("--open="):
                out.append(
                    ("--open-files-in-pager", Word(arg.split("=", 1)[1], arg.dynamic), "script")
                )
    return out


@dataclass
class _SedInfo:
    writes: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    runs_pattern_space: bool = False


def _sed_scripts(args: list[Word]) -> tuple[list[Word], Word | None, bool, list[Word]]:
    """sed's scripts (from -e and --expression, else its first operand), its -f file,
    whether --sandbox is on, and the files it edits. GNU sed takes options anywhere
    among the operands."""
    scripts: list[Word] = []
    script_file: Word | None = None
    operands: list[Word] = []
    sandbox = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            operands.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in ("--expression", "--file", "--line-length"):
                word = Word(value, arg.dynamic) if eq else (args[i] if i < len(args) else Word(""))
                i += 0 if eq else 1
                if name == "--expression":
                    scripts.append(word)
                elif name == "--file":
                    script_file = word
            sandbox = sandbox or name == "--sandbox"
            continue
        if arg.startswith("-") and arg != "-":
            for j, letter in enumerate(arg[1:], 1):
                if letter == "i":
                    break  # -i[SUFFIX]: the rest is the suffix
                if letter in "efl":
                    if j < len(arg) - 1:
                        word = Word(arg[j + 1 :], arg.dynamic)
                    else:
                        word = args[i] if i < len(args) else Word("")
                        i += 1
                    if letter == "e":
                        scripts.append(word)
                    elif letter == "f":
                        script_file = word
                    break
            continue
        operands.append(arg)
    if not scripts and script_file is None and operands:
        scripts.append(operands[0])
        operands = operands[1:]
    return scripts, script_file, sandbox, operands


_SED_SIMPLE = frozenset("=dDgGhHnNpPxzF")


def _sed_script(script: str) -> _SedInfo | None:
    """What a GNU sed script writes (w, W, s///w), reads (r, R) and runs (e COMMAND;
    e alone and s///e run the edited text). None when it cannot be read, which the
    caller treats as unknown."""
    info = _SedInfo()
    n = len(script)
    i = 0

    def skip_blanks(k: int) -> int:
        while k < n and script[k] in " \t":
            k += 1
        return k

    def to_eol(k: int) -> tuple[str, int]:
        end = script.find("\n", k)
        end = n if end < 0 else end
        return script[k:end], end

    def delimited(k: int, delim: str) -> int | None:
        """Index just past the closing `delim` of a part starting at k."""
        while k < n:
            c = script[k]
            if c == "\\":
                k += 2
                continue
            if c == delim:
                return k + 1
            if c == "\n" and delim != "\n":
                return None
            k += 1
        return None

    def address(k: int) -> int | None:
        if k < n and (script[k].isdigit() or script[k] in "$+~"):
            k += 1
            while k < n and (script[k].isdigit() or script[k] == "~"):
                k += 1
            return k
        if k < n and script[k] == "/":
            end = delimited(k + 1, "/")
        elif k < n and script[k] == "\\" and k + 1 < n:
            end = delimited(k + 2, script[k + 1])
        else:
            return k
        while end is not None and end < n and script[end] in "IM":
            end += 1
        return end

    while True:
        i = skip_blanks(i)
        while i < n and script[i] in ";\n \t}":
            i += 1
        if i >= n:
            return info
        if script[i] == "#":
            i = to_eol(i)[1]
            continue
        start = address(i)
        if start is None:
            return None
        i = skip_blanks(start)
        if i < n and script[i] == ",":
            after = address(skip_blanks(i + 1))
            if after is None:
                return None
            i = skip_blanks(after)
        while i < n and script[i] == "!":
            i = skip_blanks(i + 1)
        if i >= n:
            return None
        c = script[i]
        i += 1
        if c == "{" or c in _SED_SIMPLE:
            continue
        if c in "aic":
            i = skip_blanks(i)
            if i < n and script[i] == "\\":
                i += 1
            while i < n and script[i] != "\n":
                i += 2 if script[i] == "\\" else 1
            continue
        if c in "rRwWe":
            name, i = to_eol(skip_blanks(i))
            name = name.strip()
            if c in "rR":
                info.reads.append(name)
            elif c in "wW":
                info.writes.append(name)
            elif name:
                info.commands.append(name)
            else:
                info.runs_pattern_space = True
            continue
        if c in ":btTv":
            while i < n and script[i] not in ";\n":
                i += 1
            continue
        if c in "qQlL":
            i = skip_blanks(i)
            while i < n and script[i].isdigit():
                i += 1
            continue
        if c in "sy":
            if i >= n or script[i] in "\n\\":
                return None
            delim = script[i]
            middle = delimited(i + 1, delim)
            end = delimited(middle, delim) if middle is not None else None
            if end is None:
                return None
            i = end
            if c == "y":
                continue
            while i < n and script[i] not in ";\n}#":
                flag = script[i]
                if flag == "w":
                    name, i = to_eol(skip_blanks(i + 1))
                    info.writes.append(name.strip())
                    break
                if flag == "e":
                    info.runs_pattern_space = True
                elif not (flag.isdigit() or flag in "gpiImM \t"):
                    return None
                i += 1
            continue
        return None


# Interpreters and the options that give them their program on the command line.
_INLINE_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    # name: (short option letters, long options)
    "perl": ("eE", ()),
    "ruby": ("e", ()),
    "node": ("ep", ("--eval", "--print")),
    "nodejs": ("ep", ("--eval", "--print")),
    "bun": ("ep", ("--eval", "--print")),
    "php": ("r", ()),
    "lua": ("e", ()),
    "luajit": ("e", ()),
    "Rscript": ("e", ()),
    "R": ("e", ()),
    "julia": ("eE", ("--eval", "--print")),
    "osascript": ("e", ()),
    "expect": ("c", ()),
    "tclsh": ("", ()),
    "wish": ("", ()),
    "pwsh": ("ce", ("-command", "-Command", "-EncodedCommand", "-encodedcommand", "-ec")),
    "powershell": ("ce", ("-command", "-Command", "-EncodedCommand", "-encodedcommand")),
}
_PYTHON = re.compile(r"(python|pypy)[0-9.]*")
_AWK = frozenset({"awk", "gawk", "mawk", "nawk"})
_VIM = frozenset({"vim", "vi", "nvim", "ex", "view", "gvim", "vimdiff", "rvim", "evim"})
_EMACS_CODE = ("--eval", "-l", "--load", "-f", "--funcall", "--batch", "-batch", "--script", "-x")
_GDB_CODE = ("-ex", "-iex", "-x", "-ix", "-batch", "--batch", "--command", "-eval-command",
             "--eval-command", "-init-eval-command")  # fmt: skip


def _inline_code(argv: list[Word], has_stdin: bool) -> str | None:
    """Why `argv` runs code written into the command or its input rather than a file of
    the workspace, or None: `python3 -c`, `perl -e`, `node -e`, an awk program, `vim
    -c`, `python3 <<EOF`, …"""
    name, args = str(argv[0]), argv[1:]
    if _PYTHON.fullmatch(name):
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "-":
                return f"{name} reads its program from its input"
            if arg.startswith("--") and arg != "--":
                continue
            if arg == "--" or not arg.startswith("-"):
                return None  # a script file (or -m's module)
            for j, letter in enumerate(arg[1:], 1):
                if letter == "c":
                    return f"{name} -c runs the program given on its command line"
                if letter == "m":
                    return None
                if letter in "WX":
                    i += 1 if j == len(arg) - 1 else 0  # the value
                    break
        return f"{name} reads its program from its input" if has_stdin else None
    if name in _AWK:
        if any(a in ("-f", "--file") or a.startswith(("-f", "--file=")) for a in args):
            return None
        return f"{name} runs the program given on its command line"
    if name in _VIM:
        for arg in args:
            if arg in ("-c", "--cmd", "-S") or (arg.startswith("+") and not arg[1:].isdigit()):
                return f"{name} {arg} runs editor commands, which can run shell commands"
            if re.fullmatch(r"-[a-zA-Z]*s[a-zA-Z]*", arg) and has_stdin:
                return f"{name} -s reads editor commands from its input"
        return None
    if name == "emacs":
        hit = next((a for a in args if a.split("=", 1)[0] in _EMACS_CODE), None)
        return f"emacs {hit} runs Lisp given on its command line" if hit else None
    if name == "gdb":
        hit = next((a for a in args if a in _GDB_CODE), None)
        return f"gdb {hit} runs debugger commands, which can run shell commands" if hit else None
    if name == "deno":
        if args[:1] == ["eval"] or (args[:1] == ["run"] and "-" in args):
            return f"deno {args[0]} runs the program given on its command line"
        return None
    spec = _INLINE_OPTIONS.get(name)
    if spec is None:
        return None
    letters, longs = spec
    operand = False
    for arg in args:
        head = arg.split("=", 1)[0]
        if head in longs:
            return f"{name} {head} runs the program given on its command line"
        if arg == "--" or not arg.startswith("-"):
            operand = arg != "-"
            break
        if not arg.startswith("--") and any(letter in arg[1:] for letter in letters):
            return f"{name} {arg} runs the program given on its command line"
    if not operand and has_stdin:
        return f"{name} reads its program from its input"
    return None


# --- helpers ------------------------------------------------------------------------------


def _base_name(text: str) -> str:
    if "/" in text:
        base = text.rstrip("/").rsplit("/", 1)[-1]
        return base or text
    return text


def _quote(word: Word) -> str:
    if word and re.fullmatch(r"[A-Za-z0-9_@%+=:,./~{}*?\[\]-]+", word):
        return str(word)
    if word.dynamic and "'" not in word:
        return str(word)
    return "'" + word.replace("'", "'\\''") + "'"


def _joined(words: list[Word]) -> Word:
    return Word(" ".join(words), any(w.dynamic for w in words))


def _split_words(text: Word) -> list[Word]:
    """Split a string into words the way the shell would (for `env -S` and git aliases)."""
    try:
        tree = _Parser(str(text), 0, 0, []).parse_all()
    except (_TooDeep, RecursionError):
        tree = _ListNode([])
    if len(tree.items) == 1 and len(tree.items[0][0].commands) == 1:
        node = tree.items[0][0].commands[0]
        if isinstance(node, _Simple) and not node.redirects:
            words = [w for tok in node.assigns + node.words for w in _expand(tok, [])]
            return [Word(w, w.dynamic or text.dynamic) for w in words]
    return [Word(part, text.dynamic) for part in text.split()]


def _expand(tok: _Tok, errors: list[str]) -> list[Word]:
    """Brace-expand an argument word (`r{m,}` is `rm r`). An expansion too large to
    follow is an error rather than a word left as written: `r{m,}{,}{,}…` must not
    slip through as an unknown command."""
    if "{" not in tok.text or not tok.mask:
        return [Word(tok.text, tok.dynamic)]
    budget = [MAX_BRACE_WORDS * 8]
    expanded = _braces(tok.text, tok.mask, budget)
    if expanded is None:
        errors.append(f"brace expansion makes more than {MAX_BRACE_WORDS} words")
        return [Word(tok.text, tok.dynamic)]
    return [Word(text, tok.dynamic) for text, _ in expanded]


def _braces(
    text: str, mask: tuple[bool, ...], budget: list[int]
) -> list[tuple[str, tuple[bool, ...]]] | None:
    """Expand the first unquoted {a,b,…} and recurse; None when the result would pass
    MAX_BRACE_WORDS words or the work `budget` runs out."""
    budget[0] -= 1
    if budget[0] < 0:
        return None
    for i, ch in enumerate(text):
        if ch != "{" or not mask[i]:
            continue
        depth = 0
        commas: list[int] = []
        close = -1
        for j in range(i, len(text)):
            if not mask[j]:
                continue
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    close = j
                    break
            elif text[j] == "," and depth == 1:
                commas.append(j)
        if close < 0 or not commas:
            continue
        results: list[tuple[str, tuple[bool, ...]]] = []
        bounds = [i, *commas, close]
        for a, b in zip(bounds, bounds[1:], strict=False):
            joined = text[:i] + text[a + 1 : b] + text[close + 1 :]
            joined_mask = mask[:i] + mask[a + 1 : b] + mask[close + 1 :]
            expanded = _braces(joined, joined_mask, budget)
            if expanded is None:
                return None
            results.extend(expanded)
            if len(results) > MAX_BRACE_WORDS:
                return None
        return results
    return [(text, mask)]


def _skip_options(
    argv: list[Word], i: int, takes_value: str, long_with_value: set[str] | None = None
) -> tuple[int, set[str]]:
    """Index of the first operand at or after `i`, skipping options and the values of
    those that take one (`takes_value` lists the short ones by letter). Also returns
    the options seen."""
    seen: set[str] = set()
    long_with_value = long_with_value or set()
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return i + 1, seen
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):
            name = arg.split("=", 1)[0]
            seen.add(name)
            i += 2 if "=" not in arg and name in long_with_value else 1
            continue
        i += 1
        for j, letter in enumerate(arg[1:], 1):
            seen.add("-" + letter)
            if letter in takes_value:
                if j == len(arg) - 1:
                    i += 1  # the value is the next word
                break
    return i, seen


def _operands(
    args: list[Word], takes_value: frozenset[str], long_with_value: frozenset[str] = frozenset()
) -> list[Word]:
    out: list[Word] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i + 1 :])
            break
        if arg.startswith("--"):
            i += 2 if "=" not in arg and arg in long_with_value else 1
        elif arg.startswith("-") and arg != "-":
            i += 2 if arg in takes_value else 1
        else:
            out.append(arg)
            i += 1
    return out


def _option_value(
    args: list[Word], short: str, long: str | None, *, abbreviated: int = 0
) -> Word | None:
    """The value of an option given as `-o V`, `-oV`, `-xyo V` or `--long[=]V`; with
    `abbreviated`, also `--lo[=]V`, as getopt_long and git take any prefix of a long
    option that is at least that many letters long (an ambiguous one they refuse)."""
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else None
        if arg == "--":
            return None
        if long and arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name == long or (
                abbreviated and len(name) >= 2 + abbreviated and long.startswith(name)
            ):
                return Word(value, arg.dynamic) if eq else following
            continue
        if not short or arg.startswith("--") or not arg.startswith("-"):
            continue
        if arg == short:
            return following
        if re.fullmatch(r"-[A-Za-z]+", arg) and arg.endswith(short[1]):
            return following
        if arg.startswith(short):
            return Word(arg[len(short) :], arg.dynamic)
    return None


def _in_place_files(name: str, args: list[Word]) -> list[Word]:
    in_place = False
    script_given = False
    files: list[Word] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            files.extend(args[i + 1 :])
            break
        if arg.startswith("--"):
            in_place = in_place or arg.startswith("--in-place")
            if arg in ("--expression", "--file"):
                script_given = True
                i += 1
            script_given = script_given or arg.startswith(("--expression=", "--file="))
        elif arg.startswith("-") and arg != "-":
            letters = arg[1:]
            if name == "sed" and letters.startswith("i"):
                in_place = True  # -i, -i.bak, -iE: everything after i is a suffix
            else:
                for j, letter in enumerate(letters):
                    if letter == "i":
                        in_place = True
                        break
                    if letter in "ef" or (name == "sed" and letter == "l"):
                        script_given = script_given or letter in "ef"
                        if j == len(letters) - 1:
                            i += 1
                        break
        else:
            files.append(arg)
        i += 1
    if not in_place:
        return []
    return files if script_given else files[1:]


def _tar_creates(args: list[Word]) -> bool:
    if args and not args[0].startswith("-") and set(args[0]) & set("cru"):
        return True
    return any(
        a in ("--create", "--append", "--update", "--catenate", "--concatenate")
        or (a.startswith("-") and not a.startswith("--") and bool(set(a[1:]) & set("cruA")))
        for a in args
    )


def _tar_extracts(args: list[Word]) -> bool:
    if args and not args[0].startswith("-") and "x" in args[0]:
        return True
    return any(
        a in ("--extract", "--get") or (a.startswith("-") and not a.startswith("--") and "x" in a)
        for a in args
    )


def _xargs(argv: list[Word], stdin: tuple[str, str] | None) -> list[Word]:
    """The command xargs runs, with the words it reads from its input when they are
    known now (`echo a b | xargs rm`), else one unknown word."""
    replace_str: str | None = None
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-"):
            break
        if arg in ("-I", "--replace") or arg.startswith("--replace="):
            if arg == "-I" and i + 1 < len(argv):
                replace_str = argv[i + 1]
                i += 2
                continue
            replace_str = arg.split("=", 1)[1] if "=" in arg else "{}"
        elif arg.startswith("-I"):
            replace_str = arg[2:]
        elif arg.startswith("-i"):
            replace_str = arg[2:] or "{}"
        elif arg in ("-a", "-d", "-E", "-L", "-n", "-P", "-s") or arg in _XARGS_LONG_WITH_VALUE:
            i += 1
        i += 1
    inner = argv[i:] or [Word("echo")]
    words = [Word(w) for w in stdin[1].split()] if stdin and stdin[0] == "text" else []
    received = words or [Word("{xargs input}", dynamic=True)]
    if replace_str and any(replace_str in word for word in inner):
        return [r for word in inner for r in (received if replace_str in word else [word])]
    return [*inner, *received]


_XARGS_LONG_WITH_VALUE = frozenset(
    """--arg-file --delimiter --max-lines --max-args --max-procs --max-chars
    --process-slot-var --eof""".split()
)


def _stdout_text(node: object) -> str | None:
    """What a pipeline stage writes, when it is plain text known now (`echo …`,
    `cat <<EOF`): a shell reading it runs that text, which can then be judged."""
    if not isinstance(node, _Simple) or not node.words or node.assigns:
        return None
    name = _base_name(node.words[0].text)
    args = node.words[1:]
    if name == "echo" and not any(t.dynamic for t in args):
        texts = [t.text for t in args]
        while texts and texts[0] in ("-n", "-e", "-E"):
            texts = texts[1:]
        return " ".join(texts)
    if name == "cat" and not args:
        for r in node.redirects:
            if r.target and r.target.heredoc is not None:
                return r.target.heredoc.body
            if r.target and r.op == "<<<" and not r.target.dynamic:
                return r.target.text
    return None


def _join(base: Word | None, target: Word) -> Word | None:
    if base is None:
        return None
    if target.startswith(("/", "~", "$")):
        return target
    if base == ".":
        return target
    return Word(base.rstrip("/") + "/" + target, base.dynamic or target.dynamic)


def _union(a: _Cwds, b: _Cwds) -> _Cwds:
    merged = tuple(dict.fromkeys((*a, *b)))
    return merged if len(merged) <= MAX_CWDS else (None,)
