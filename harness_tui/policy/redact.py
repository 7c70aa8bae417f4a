"""Redaction of secrets before events are stored and before artifact files are written.

Three nets:

- the literal values of this process's secret-named environment variables (an API key
  a tool printed is caught whatever its shape): values of at least 4 characters that
  are not placeholder words ("true", "none", …); one shorter than 8 only where it
  stands alone (not inside a longer word or number), since short strings also occur
  by chance;
- well-known token formats: provider keys (Anthropic, OpenAI), Stripe (`sk_live_…`,
  `rk_live_…`), GitHub, GitLab, Slack tokens and webhook URLs, npm, AWS access key
  ids, Google API keys, JWTs, private key blocks;
- secrets written out in text: an env-style assignment to a secret-named variable
  (`DB_PASSWORD=…` in a `.env` file or `env` output: the value goes, the name stays),
  and the password of a URL (`scheme://user:***@host`; `***` rather than the usual
  marker keeps the URL well-formed).

Text (events) and bytes (artifact files) are redacted by the same rules. Bytes are
matched as bytes, never decoded, so a binary artifact stays byte for byte what the
command wrote except where a secret was replaced (which changes its length). Output
that streams to a file is redacted as it arrives (`Redactor.stream`), holding back only
an unfinished line, so a secret split across two reads is still caught.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, AnyStr

from harness_tui.policy.env import is_secret_name

REDACTED = "[redacted]"
URL_PASSWORD_MARK = "***"
# Shorter values of secret-named variables are not secrets worth hiding ("1", "on").
MIN_SECRET_LENGTH = 4
# Below this length a value is replaced only where it stands alone.
_LOOSE_SECRET_LENGTH = 8
# Values that are settings or placeholders, not secrets, whatever the variable's name.
_PLACEHOLDERS = frozenset(
    """true false yes no none null nil on off test dummy default unset disabled enabled
    changeme example secret password token redacted""".split()
)

# (pattern, replacement, needles): a replacement template keeps the groups it names; a
# pattern is tried only on text holding one of its needles (a plain substring search is
# far faster than the regex, and most output holds none).
_TOKENS: list[tuple[str, str, tuple[str, ...]]] = [
    # Provider and platform keys by their published prefixes.
    (r"\bsk-ant-[A-Za-z0-9_\-]{16,}", REDACTED, ("sk-ant-",)),
    (r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}", REDACTED, ("sk-",)),
    # Stripe secret and restricted keys.
    (r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}", REDACTED, ("k_live_", "k_test_")),
    (r"\bgh[pousr]_[A-Za-z0-9]{30,}", REDACTED, ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (r"\bgithub_pat_[A-Za-z0-9_]{30,}", REDACTED, ("github_pat_",)),
    (r"\bglpat-[A-Za-z0-9_\-]{20,}", REDACTED, ("glpat-",)),
    (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", REDACTED, ("xox",)),
    (r"\bxapp-[0-9]-[A-Za-z0-9\-]{10,}", REDACTED, ("xapp-",)),
    (
        r"(\bhttps?://hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/\-]+",
        rf"\g<1>{REDACTED}",
        ("hooks.slack.com",),
    ),
    (r"\bnpm_[A-Za-z0-9]{36}\b", REDACTED, ("npm_",)),
    (r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b", REDACTED, ("AKIA", "ASIA")),
    (r"\bAIza[0-9A-Za-z_\-]{35}\b", REDACTED, ("AIza",)),
    # A JWT: header and payload are base64url JSON objects ("eyJ" is '{"').
    (r"\beyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*", REDACTED, ("eyJ",)),
    (
        r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
        REDACTED,
        ("PRIVATE KEY",),
    ),
    # scheme://user:password@host — keep the user, drop the password (which may hold
    # an `@` itself: the last one before the host ends it).
    (
        r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"'<>]*:)[^\s/?#\"'<>]+@",
        rf"\g<1>{URL_PASSWORD_MARK}@",
        ("://",),
    ),
]
# NAME=value, NAME='value' or NAME="value" for an upper-case, env-style name; whether the
# name is a secret's is decided by env.is_secret_name. A `$` starts a reference, not a
# value.
_ASSIGNMENT = r"\b([A-Z][A-Z0-9_]*)=([\"']?)([^\s\"'$`]{" + str(MIN_SECRET_LENGTH) + r",})\2"
# Every name env.is_secret_name accepts holds one of these (upper-case names only here).
_ASSIGNMENT_NEEDLES = ("KEY", "TOKEN", "SECRET", "PASSW", "CREDENTIAL")

# A stream hands on whole lines; a line longer than this is handed on up to its last
# blank, or failing that all but its last _OVERLAP bytes, so memory stays bounded.
_MAX_LINE = 64 * 1024
_OVERLAP = 4096
# An unfinished private key block is held back whole up to this size.
_MAX_KEY_BLOCK = 1024 * 1024
_KEY_BEGIN = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----")
_KEY_END = re.compile(rb"-----END [A-Z ]*PRIVATE KEY-----")


class _Rules:
    """The rules compiled for one string type (str for events, bytes for files)."""

    def __init__(self, values: list[str], kind: type[str] | type[bytes]) -> None:
        def convert(text: str) -> Any:
            return text if kind is str else text.encode("utf-8")

        self.values: re.Pattern[Any] | None = None
        self.value_needles = [convert(value) for value in values]
        if values:
            long = [re.escape(v) for v in values if len(v) >= _LOOSE_SECRET_LENGTH]
            short = [re.escape(v) for v in values if len(v) < _LOOSE_SECRET_LENGTH]
            alternatives = []
            if long:
                alternatives.append("|".join(long))
            if short:
                alone = "|".join(short)
                alternatives.append(r"(?<![A-Za-z0-9])(?:" + alone + r")(?![A-Za-z0-9])")
            self.values = re.compile(convert("|".join(alternatives)))
        self.redacted = convert(REDACTED)
        self.tokens = [
            (
                re.compile(convert(pattern), re.ASCII),
                convert(replacement),
                [convert(needle) for needle in needles],
            )
            for pattern, replacement, needles in _TOKENS
        ]
        self.assignment = re.compile(convert(_ASSIGNMENT), re.ASCII)
        self.assignment_needles = [convert(needle) for needle in _ASSIGNMENT_NEEDLES]
        self.equals = convert("=")
        placeholders = {convert(word) for word in _PLACEHOLDERS}
        redacted = self.redacted

        def assignment(match: re.Match[Any]) -> Any:
            name, quote, value = match.group(1, 2, 3)
            plain_name = name if isinstance(name, str) else name.decode("ascii")
            if not is_secret_name(plain_name) or value.lower() in placeholders:
                return match.group(0)
            return name + (b"=" if isinstance(name, bytes) else "=") + quote + redacted + quote

        self.replace_assignment: Callable[[re.Match[Any]], Any] = assignment

    def apply(self, text: AnyStr) -> AnyStr:
        if self.values is not None and any(value in text for value in self.value_needles):
            text = self.values.sub(self.redacted, text)
        for pattern, replacement, needles in self.tokens:
            if any(needle in text for needle in needles):
                text = pattern.sub(replacement, text)
        if self.equals in text and any(needle in text for needle in self.assignment_needles):
            text = self.assignment.sub(self.replace_assignment, text)
        return text


class Redactor:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        values = {
            value
            for name, value in (environ or {}).items()
            if is_secret_name(name)
            and len(value) >= MIN_SECRET_LENGTH
            and value.lower() not in _PLACEHOLDERS
        }
        # Longest first, so a value that contains another is replaced whole.
        ordered = sorted(values, key=len, reverse=True)
        self._text = _Rules(ordered, str)
        self._bytes = _Rules(ordered, bytes)

    def text(self, text: str) -> str:
        return self._text.apply(text)

    def bytes(self, data: bytes) -> bytes:
        """`data` with every secret replaced; every other byte as it was."""
        return self._bytes.apply(data)

    def stream(self) -> RedactingStream:
        """A filter for output written to a file as it arrives."""
        return RedactingStream(self)

    def data(self, value: Any) -> Any:
        """A JSON-like value with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


class RedactingStream:
    """Redacts a byte stream cut anywhere: `feed` returns what can be handed on now,
    `flush` the rest at the end. Together they return what `Redactor.bytes` makes of
    the whole (a line longer than 64 KiB may be cut within it; a private key block
    longer than 1 MiB is dropped whole from its start).

    No rule matches across a line end, except a private key block, so whole lines are
    handed on at once and only an unfinished line (or key block) is held back."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._buffer = b""
        self._in_key = False  # inside a key block too long to hold: dropping it

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        self._buffer += data
        return self._hand_on(final=False)

    def flush(self) -> bytes:
        return self._hand_on(final=True)

    def _hand_on(self, *, final: bool) -> bytes:
        if self._in_key and not self._skip_key(final):
            return b""
        buffer = self._buffer
        if final:
            cut = len(buffer)
        else:
            cut = max(buffer.rfind(b"\n"), buffer.rfind(b"\r")) + 1
            if len(buffer) - cut > _MAX_LINE:
                blank = max(buffer.rfind(b" ", cut), buffer.rfind(b"\t", cut))
                cut = blank + 1 if blank > cut else len(buffer) - _OVERLAP
            begin = _last_key_begin(buffer, cut)
            if begin is not None:
                if len(buffer) - begin <= _MAX_KEY_BLOCK:
                    cut = begin  # held until its end arrives
                else:
                    # Hand on everything up to the key as [redacted], drop the rest of
                    # the key as it comes.
                    cut = len(buffer)
                    self._in_key = True
        if cut <= 0:
            return b""
        self._buffer = buffer[cut:] if not self._in_key else b""
        return self._redactor.bytes(buffer[:cut])

    def _skip_key(self, final: bool) -> bool:
        """Drop what belongs to a key block being dropped; True once it ended."""
        end = _KEY_END.search(self._buffer)
        if end is None:
            # Its end marker may be arriving split: keep a marker's length.
            self._buffer = b"" if final else self._buffer[-64:]
            return False
        self._buffer = self._buffer[end.end() :]
        self._in_key = False
        return True


def _last_key_begin(buffer: bytes, cut: int) -> int | None:
    """Where the last private key block starting before `cut` begins, if it does not
    also end before `cut`."""
    begin = buffer.rfind(b"-----BEGIN ", 0, cut)
    while begin != -1:
        if _KEY_BEGIN.match(buffer, begin):
            end = _KEY_END.search(buffer, begin)
            return begin if end is None or end.end() > cut else None
        begin = buffer.rfind(b"-----BEGIN ", 0, begin)
    return None
