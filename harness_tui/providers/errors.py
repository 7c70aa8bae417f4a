"""SDK exceptions → ProviderError, classified the same way for every HTTP provider.

The anthropic and openai SDKs are generated from one template: both raise
`APIStatusError` (with `.status_code`, `.body` and `.response.headers`),
`APIConnectionError`, its subclass `APITimeoutError`, and `APIError` above them all.
The SDK module is passed in rather than imported, so that using one provider never
imports the other's SDK.
"""

from __future__ import annotations

import email.utils
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from harness_tui.providers.base import ProviderError

# 408 and 409 are worth another attempt, like 429 and every 5xx (Anthropic's 529
# "overloaded" among them).
RETRYABLE_STATUS = frozenset({408, 409, 429})


def sdk_exceptions(sdk: ModuleType) -> tuple[type[BaseException], ...]:
    """What `provider_error` classifies: the SDK's errors and the transport's own."""
    return (sdk.APIError, *transport_errors())


def provider_error(
    err: BaseException,
    *,
    sdk: ModuleType,
    prefix: str,
    started: bool,
    in_stream: Callable[[Any], ProviderError],
    timeout_s: float,
) -> ProviderError:
    """One of `sdk_exceptions(sdk)` as the ProviderError the engine's loop retries on.

    `prefix` names the provider and host ("anthropic (api.anthropic.com)"); `started`
    says whether the response had begun (its headers were in); `timeout_s` is the
    timeout the SDK's HTTP client was given. `in_stream` classifies the rest: an error
    the server reported inside a stream it had already started (a 2xx status error or
    a bare `APIError`, depending on the SDK), whose vocabulary differs per API.
    """
    if isinstance(err, sdk.APIStatusError) and not 200 <= err.status_code < 300:
        return _status_error(err, prefix)
    if isinstance(err, (sdk.APIConnectionError, *transport_errors())):
        # Some SDK versions wrap a failure in the middle of the body like a failed
        # connect, others let the HTTP library's own error through: both end here.
        what = _transport_failure(err, sdk=sdk, started=started, timeout_s=timeout_s)
        return ProviderError(f"{prefix}: {what}", retryable=True)
    if isinstance(err, sdk.APIError):
        return in_stream(err)
    return ProviderError(f"{prefix}: {describe_cause(err)}", retryable=True)


def _transport_failure(
    err: BaseException, *, sdk: ModuleType, started: bool, timeout_s: float
) -> str:
    """What happened to the connection, in words, from the exception and its causes."""
    chain = _chain(err)
    timeouts = (sdk.APITimeoutError, TimeoutError, *_transport_class("TimeoutException"))
    if any(isinstance(e, timeouts) for e in chain):
        # The HTTP client's own timeout, a backstop behind the RequestClock's deadlines.
        key = "([provider] request_timeout_s)"
        if started:
            return f"no data from the model server for {timeout_s:g} s {key}"
        return f"no response from the model server within {timeout_s:g} s {key}"
    if not started:
        return f"connection failed: {describe_cause(err)}"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "the model server reset the connection mid-stream"
    if any(isinstance(e, _transport_class("RemoteProtocolError")) for e in chain):
        # h11's "peer closed connection without sending complete message body".
        return "the model server closed the connection mid-stream"
    return f"the connection to the model server broke mid-stream: {describe_cause(err)}"


def _chain(err: BaseException) -> list[BaseException]:
    """`err` and what caused it, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in found:
        found.append(current)
        # The HTTP libraries chain with `raise … from`; anyio's stream errors only
        # implicitly, and the reset ("Connection reset by peer") is down there.
        current = current.__cause__ or current.__context__
    return found


def _status_error(err: Any, prefix: str) -> ProviderError:
    status: int = err.status_code
    message = body_message(err.body) or err.message
    headers = err.response.headers
    retryable = status in RETRYABLE_STATUS or status >= 500
    hint = headers.get("x-should-retry")
    if hint in ("true", "false"):
        # The server's own verdict wins over the status code.
        retryable = hint == "true"
    return ProviderError(
        f"{prefix}: {status} {message}",
        retryable=retryable,
        status=status,
        retry_after=retry_after_seconds(headers),
    )


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
            error_type: str = error["type"]
            return error_type
    return None


def describe_cause(err: BaseException) -> str:
    """The underlying reason of a connection error ("Connection refused", …): the first
    cause with a message of its own, under the SDK's generic "Connection error."."""
    chain = _chain(err)
    for cause in chain[1:]:
        if str(cause):
            return str(cause)
    return str(err) or type(chain[-1]).__name__


def transport_errors() -> tuple[type[BaseException], ...]:
    """The HTTP library's transport error classes.

    The SDKs only wrap errors raised while connecting; a connection that drops in the
    middle of a streamed body surfaces as the HTTP library's own error. Whichever
    library the installed SDK runs on is already imported by the time this is called.
    """
    return _transport_class("TransportError")


def _transport_class(name: str) -> tuple[type[BaseException], ...]:
    """The HTTP library's exception class `name`, from whichever library is loaded."""
    found = []
    for library in ("httpx2", "httpx"):
        module = sys.modules.get(library)
        if module is not None and hasattr(module, name):
            found.append(getattr(module, name))
    return tuple(found)
