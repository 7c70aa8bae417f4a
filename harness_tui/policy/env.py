"""The environment tool subprocesses run with: provider keys and other secrets removed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# Names a secret is commonly kept under. A key the user wants a tool to see can be
# allowed by name.
_SECRET_NAME = re.compile(
    r"(API_?KEY|_TOKEN$|^TOKEN$|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|CREDENTIALS?$|ACCESS_KEY)",
    re.IGNORECASE,
)
_ALWAYS = frozenset({"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_AUTH_TOKEN"})


def is_secret_name(name: str) -> bool:
    return name in _ALWAYS or bool(_SECRET_NAME.search(name))


def scrub_env(environ: Mapping[str, str], allow: Iterable[str] = ()) -> dict[str, str]:
    allowed = set(allow)
    return {
        name: value
        for name, value in environ.items()
        if name in allowed or not is_secret_name(name)
    }
