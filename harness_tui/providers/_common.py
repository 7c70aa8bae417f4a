"""Helpers shared by the HTTP providers; no SDK is imported here.

Kept apart from the provider modules so that using one provider never imports the
other's SDK. Their errors are mapped in `providers/errors.py`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Sent when a custom base URL (a proxy, a local server, a loopback test server) is
# configured but no key is: the SDKs refuse to send a request without credentials.
PLACEHOLDER_KEY = "harness-tui-no-key"


def parse_arguments(raw: str, initial: Any = None) -> dict[str, Any]:
    """Tool-call arguments streamed as JSON text → the arguments object."""
    if not raw.strip():
        return dict(initial) if isinstance(initial, Mapping) else {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        # Models do emit broken JSON (cut off by max_tokens, or simply malformed). Keep
        # the raw text so the tool can answer with a readable error the model can fix,
        # instead of the whole turn failing here.
        return {"_raw": raw}
    return value


def host_label(url: Any) -> str:
    """host:port of the SDK client's base URL, for error messages."""
    return f"{url.host}:{url.port}" if url.port else str(url.host)
