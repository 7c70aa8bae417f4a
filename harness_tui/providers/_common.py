"""Helpers shared by the HTTP providers; no SDK is imported here.

Kept apart from the provider modules so that using one provider never imports the
other's SDK.
"""

from __future__ import annotations

import email.utils
import json
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
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


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`retry-after-ms`, else `retry-after` as seconds or as an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def body_message(body: object) -> str | None:
    """The provider's own words from an error body, on one short line.

    Handles `{"error": {"message": …}}` (Anthropic, OpenAI), the inner error object
    the OpenAI SDK keeps, `{"error": "…"}` (Ollama), `{"detail": "…"}` (vLLM and other
    FastAPI servers) and plain-text bodies (proxies).
    """
    message: object = None
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message") or error.get("detail")
        else:
            message = error
    elif isinstance(body, str):
        message = body
    if not message:
        return None
    text = re.sub(r"\s+", " ", str(message)).strip()
    if len(text) > 300:
        return text[:300] + "…"
    return text or None


def body_error_type(body: object) -> str | None:
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping) and isinstance(error.get("type"), str):
            return error["type"]
    return None


def host_label(url: Any) -> str:
    """host:port of the SDK client's base URL, for error messages."""
    return f"{url.host}:{url.port}" if url.port else str(url.host)


def describe_cause(err: BaseException) -> str:
    """The underlying reason of an SDK connection error ("Connection refused", …)."""
    cause = err.__cause__
    if cause is None:
        return str(err)
    return str(cause) or type(cause).__name__


def transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's transport error classes.

    The SDKs only wrap errors raised while connecting; a connection that drops in the
    middle of a streamed body surfaces as the HTTP library's own error. Whichever
    library the installed SDK runs on is already imported by the time this is called.
    """
    found = []
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "TransportError"):
            found.append(module.TransportError)
    return tuple(found)
