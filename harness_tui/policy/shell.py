"""Shell command analysis: which simple commands would a command line run?

Pure functions, no I/O. `analyze(command)` parses the text closely enough to bash to
judge it and returns one `Segment` per simple command that may run, including those
hidden in `$(…)`, backticks, `<(…)`, `bash -c '…'`, here-documents fed to a shell,
`find -exec`, `xargs`, `eval`, `alias` and wrappers such as `sudo`, `env`, `timeout`
or `nohup`. Command names are normalised (`\\rm`, `'rm'`, `r''m` and `/bin/rm` are all
`rm`; `git -c k=v -C dir push` is `git push`).

The analysis errs towards finding more commands rather than fewer: a function body is
judged as if it ran, both sides of `||` are judged, and a `cd` that might fail leaves
both the old and the new directory possible. Whatever cannot be parsed is reported in
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
    fork-bomb, recursive-function, unparseable."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Segment:
    """One simple command that may run.

    `argv` is normalised (wrappers peeled, command name reduced to its base name);
    `writes` are the files it writes (redirections and file-writing commands, minus
    /dev/null and friends); `cwds` the directories it may run in, as written (None:
    unknown); `input_from` the commands whose output reaches it (pipes, `<(…)`, `$(…)`);
    `via` how it was reached (`sudo`, `bash -c`, `$(…)`, …)."""

    argv: tuple[Word, ...]
    text: str
    writes: tuple[Word, ...] = ()
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


def file_writes(argv: tuple[Word, ...] | list[Word]) -> list[Word]:
    """Files a (normalised) command writes by its own arguments, as written."""
    if not argv:
        return []
    name, args = argv[0], list(argv[1:])
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
        out = _option_value(args, "-o", "--output")
        return [out] if out and out != "-" else []
    if name == "wget":
        out = _option_value(args, "-O", "--output-document")
        return [out] if out and out != "-" else []
    if name == "tar" and _tar_extracts(args):
        return [_option_value(args, "-C", "--directory") or Word(".")]
    if name == "unzip":
        out = _option_value(args, "-d", None)
        return [out or Word(".")]
    return []


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


class _Walker:
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.segments: list[Segment] = []
        self._concurrent: list[bool] = []

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
        self._flush(carry, ctx, text)

    def _redirect_only(self, redirects: list[_Redirect], ctx: _Ctx, text: str) -> None:
        self._bare([], redirects, ctx, text)

    # Simple commands.

    def _simple(self, node: _Simple, ctx: _Ctx) -> tuple[_Cwds, _Cwds]:
        own = _base_name(node.words[0].text) if node.words else ""
        carry = _Carry([], [])
        feeders = self._substitutions(node.assigns + node.words, node.redirects, ctx, carry, own)
        carry.writes.extend(self._redirect_writes(node.redirects))
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
        seg = Segment(
            argv=tuple(argv),
            text=text,
            writes=tuple(w for w in writes if not is_harmless_target(w)),
            cwds=ctx.cwds,
            input_from=ctx.input_from,
            via=ctx.via,
            notes=(*carry.notes, *notes),
        )
        carry.writes.clear()
        carry.notes.clear()
        self.segments.append(seg)
        self._concurrent.append(ctx.concurrent)
        return seg

    def _flush(self, carry: _Carry, ctx: _Ctx, text: str) -> None:
        if carry.writes or carry.notes:
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
            step = self._unwrap(argv, ctx, text, carry)
            if step is None:
                self._emit(argv, ctx, text, carry)
                return argv
            inner, ctx = step
            if inner is None:
                self._flush(carry, ctx, text)
                return None
            argv = inner
        self.errors.append("too many nested command wrappers")
        return None

    def _assignment(self, word: Word, ctx: _Ctx, text: str, carry: _Carry) -> None:
        """Some variables hold a command that programs run (GIT_SSH_COMMAND, EDITOR…) or
        a file every non-interactive bash sources (BASH_ENV): judge those too."""
        name, _, value = word.partition("=")
        name = name.rstrip("+")
        value_word = Word(value, word.dynamic)
        if name in _COMMAND_VARIABLES and value:
            self._judge_script(value_word, ctx, f"{name}=", carry, text)
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
        if name in ("nohup", "builtin", "busybox"):
            inner = argv[1:]
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
            inner = argv[_skip_options(argv, 1, "of", {"--output", "--format"})[0] :]
        elif name == "stdbuf":
            inner = argv[_skip_options(argv, 1, "ioe", {"--input", "--output", "--error"})[0] :]
        elif name == "nice":
            inner = argv[_skip_options(argv, 1, "n", {"--adjustment"})[0] :]
        elif name == "ionice":
            i, seen = _skip_options(argv, 1, "cnpPu", {"--class", "--classdata", "--pid"})
            if seen & {"-p", "-P", "-u", "--pid", "--pgid", "--uid"}:
                return None
            inner = argv[i:]
        elif name == "timeout":
            i, _ = _skip_options(argv, 1, "sk", {"--signal", "--kill-after"})
            inner = argv[i + 1 :]  # the first operand is the duration
        elif name == "env":
            return self._env(argv, via)
        elif name == "xargs":
            inner = _xargs(argv, ctx.stdin)
        elif name in ("sudo", "doas", "pkexec"):
            # Judged twice: the escalation itself, and the command it runs.
            takes = {"sudo": "ugCDprtUTR", "doas": "uC", "pkexec": ""}[name]
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
                if _ASSIGNMENT.match(arg):
                    self._assignment(arg, ctx, text, carry)
            return None, ctx
        elif name in ("alias", "trap"):
            self._emit(argv, ctx, text, carry)
            for arg in argv[1:]:
                if name == "alias" and "=" in arg:
                    value = arg.split("=", 1)[1]
                    self._judge_script(Word(value, arg.dynamic), ctx, "alias", carry, text)
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

    def _env(self, argv: list[Word], ctx: _Ctx) -> tuple[list[Word] | None, _Ctx] | None:
        i = 1
        prefix: list[Word] = []
        option: str
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                i += 1
                break
            if arg in ("-u", "--unset", "-C", "--chdir", "-S", "--split-string"):
                option, value = arg, argv[i + 1] if i + 1 < len(argv) else Word("")
                i += 2
            elif arg.startswith("--") and "=" in arg:
                option, raw = arg.split("=", 1)
                value = Word(raw, arg.dynamic)
                i += 1
            elif arg.startswith(("-u", "-C", "-S")) and len(arg) > 2:
                option, value = arg[:2], Word(arg[2:], arg.dynamic)
                i += 1
            elif arg.startswith("-"):
                i += 1
                continue
            else:
                break
            if option in ("-C", "--chdir"):
                ctx = replace(ctx, cwds=tuple(_join(cwd, value) for cwd in ctx.cwds))
            elif option in ("-S", "--split-string"):
                prefix = _split_words(value)
                break
        inner = prefix + argv[i:]
        while inner and _ASSIGNMENT.match(inner[0]):
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
        if rest and not stdin_mode:
            return None  # runs a script file: judged by its name like any program
        if ctx.stdin and ctx.stdin[0] == "text":
            self._nested(ctx.stdin[1], ctx, f"{name} <<script")
            return None, ctx
        if ctx.stdin:
            note = Note("stdin-script", f"{name} runs a script read from its input")
            self._emit(argv, ctx, text, carry, note)
            return None, ctx
        return None

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
        while i < len(argv):
            arg = argv[i]
            if arg == "-c" and i + 1 < len(argv):
                configs.append(argv[i + 1])
                i += 2
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
                if value.startswith("!"):
                    script = Word(value[1:], config.dynamic)
                    self._judge_script(script, ctx, "git alias", carry, text)
            elif key.lower() in _GIT_COMMAND_KEYS:
                self._judge_script(value_word, ctx, f"git -c {key}", carry, text)
        if rest and rest[0] in aliases and not aliases[rest[0]].startswith("!"):
            rest = [*_split_words(aliases[rest[0]]), *rest[1:]]
        self._emit([argv[0], *rest], ctx, text, carry)
        return None, ctx


# Variables whose value programs run as a command, and those naming a file bash sources.
_COMMAND_VARIABLES = frozenset(
    """GIT_SSH_COMMAND GIT_SSH GIT_EDITOR GIT_SEQUENCE_EDITOR GIT_PAGER GIT_EXTERNAL_DIFF
    GIT_ASKPASS SSH_ASKPASS SUDO_ASKPASS EDITOR VISUAL PAGER MANPAGER PROMPT_COMMAND""".split()
)
_SOURCED_VARIABLES = frozenset({"BASH_ENV", "ENV"})
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
    """core.sshcommand core.pager core.editor core.fsmonitor sequence.editor diff.external
    gpg.program credential.helper""".split()
)


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


def _option_value(args: list[Word], short: str, long: str | None) -> Word | None:
    """The value of an option given as `-o V`, `-oV`, `-xyo V` or `--long[=]V`."""
    letter = short[1]
    for i, arg in enumerate(args):
        following = args[i + 1] if i + 1 < len(args) else None
        if arg == short or (long and arg == long):
            return following
        if long and arg.startswith(long + "="):
            return Word(arg[len(long) + 1 :], arg.dynamic)
        if arg.startswith("--") or not arg.startswith("-"):
            continue
        if re.fullmatch(r"-[A-Za-z]+", arg) and arg.endswith(letter):
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
