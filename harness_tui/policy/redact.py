"""Redaction of secrets before events are stored.

Two nets: the literal values of secret-looking environment variables of this process
(an API key a tool printed is caught whatever its shape), and patterns of well-known
key formats, private keys and passwords in URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness_tui.policy.env import is_secret_name

_PATTERNS = [
    # Provider and platform keys by their published prefixes.
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    re.compile(
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
        re.DOTALL,
    ),
]
# scheme://user:password@host — keep the user, drop the password.
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]+:)([^\s@/]+)(@)")
REDACTED = "[redacted]"
# Shorter values are too likely to occur by chance in ordinary output.
_MIN_SECRET_LENGTH = 8


class Redactor:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        values = {
            value
            for name, value in (environ or {}).items()
            if is_secret_name(name) and len(value) >= _MIN_SECRET_LENGTH
        }
        # Longest first, so a value that contains another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)

    def text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(REDACTED, text)
        return _URL_PASSWORD.sub(rf"\g<1>{REDACTED}\g<3>", text)

    def data(self, value: Any) -> Any:
        """A JSON-like value with every string redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value
