"""Loopback model servers that speak the Anthropic and OpenAI wire protocols.

The real SDKs are pointed at them (`base_url=server.base_url`, or `server.env()` for a
`harness-tui --exec` subprocess), so tests exercise the same HTTP, SSE parsing and
error handling a user's run does. Each server runs a stdlib HTTP server on 127.0.0.1
in a daemon thread, which serves sync tests, async tests and subprocesses alike.

    replies = [
        ErrorReply(429, "slow down", headers={"retry-after": "1"}),
        Reply("Reading it.", tool_calls=[("read_file", {"path": "calc.py"})]),
    ]
    with LoopbackAnthropic(replies) as server:
        env = {**os.environ, **server.env()}   # ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY
        subprocess.run(["harness-tui", "--exec", "fix it"], env=env, ...)
    assert server.requests[1].body["system"][0]["cache_control"] == {"type": "ephemeral"}

Replies are served in order, one per model request: `Reply` (a streamed assistant
turn), `ErrorReply` (an HTTP error in the provider's JSON format), `StreamError` (an
error inside a started stream) or one of the faulty servers: `Stall` (a reply that
never finishes: silent, or sending keep-alives or a trickle of text forever) and
`Malformed` (a stream that turns into bytes no SSE parser can read). Once they run out every request gets a plain final
text (`default_text`), which ends an agent's turn. `server.requests` records every
request: method, path, headers, parsed JSON body.
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ToolCallSpec = tuple[str, "Mapping[str, Any] | str"]


@dataclass
class Reply:
    """One scripted assistant turn, streamed in the protocol's SSE format.

    `tool_calls` are (name, arguments) pairs; arguments given as a str are sent verbatim
    (to test malformed JSON), a mapping is JSON-encoded. Either way the JSON text is
    split over several deltas, as the real APIs do.
    """

    text: str = ""
    tool_calls: Sequence[ToolCallSpec] = ()
    # Anthropic only: a thinking block (with a signature) ahead of the text, as models
    # with thinking on send; the OpenAI protocol ignores it.
    thinking: str = ""
    # input_tokens, output_tokens, cache_read_tokens, cache_write_tokens; missing
    # counts get plausible defaults.
    usage: Mapping[str, int] | None = None
    # OpenAI only: False sends no usage even when asked (stream_options.include_usage),
    # as some compatible servers do.
    usage_reported: bool = True
    stop_reason: str | None = None
    # Close the connection after this many stream events, without finishing the body:
    # a connection dropped mid-stream.
    disconnect_after: int | None = None
    # Reset the connection (TCP RST) after this many stream events: a proxy or a
    # crashed server that aborts it rather than closing it.
    reset_after: int | None = None
    # Send the first text delta (or, without text, the first event), then wait for this
    # to be set before sending the rest, so a test can act (cancel, steer) while a
    # reply is still streaming.
    gate: threading.Event | None = None


@dataclass
class ErrorReply:
    """An HTTP error with a JSON body in the protocol's error format."""

    status: int
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    error_type: str | None = None


@dataclass
class StreamError:
    """A stream that starts fine (HTTP 200) and then reports an error inside it: an
    `event: error` for Anthropic, a `data: {"error": …}` line for OpenAI."""

    message: str = "Overloaded"
    error_type: str = "overloaded_error"
    # Stream events sent before the error.
    after_events: int = 3


@dataclass
class Stall:
    """A reply that never finishes, held until the client gives up or the server closes.

    `after_events`: how many events of an ordinary streamed reply go out first; None
    sends nothing at all, not even the response headers. Then, every `every_s`
    seconds, `keepalive`: None (silence), "ping" (`event: ping`, as Anthropic sends),
    "comment" (an SSE comment line, `: keep-alive`, as proxies and OpenAI-compatible
    servers send) or "text" (a real content event with one more word, which never
    reaches the end of the reply).
    """

    after_events: int | None = 2
    keepalive: str | None = None
    every_s: float = 0.05


@dataclass
class Malformed:
    """A stream that starts fine and then sends `data` where an event's JSON belongs:
    a broken proxy, a truncated buffer, a server bug."""

    data: str = '{"type": "content_block_delta", "index": 0, "delta": {"type": "te'
    # Stream events sent before the malformed one.
    after_events: int = 2


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or the raw text when it was not JSON


AnyReply = Reply | ErrorReply | StreamError | Stall | Malformed
# Chooses the reply to a model request from the request itself, for clients that send
# requests of their own between a turn's (a title, a summary): None takes the next
# scripted reply.
Responder = Callable[[RecordedRequest], "AnyReply | None"]

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_OPENAI_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


class LoopbackServer:
    """A model server on 127.0.0.1; `protocol` is "anthropic", "openai" (Chat
    Completions) or "responses" (OpenAI Responses, see loopback_responses.py)."""

    def __init__(
        self,
        protocol: str,
        replies: Iterable[AnyReply] = (),
        *,
        default_text: str = "Done.",
        respond: Responder | None = None,
    ) -> None:
        if protocol not in ("anthropic", "openai", "responses"):
            raise ValueError(
                f"protocol must be 'anthropic', 'openai' or 'responses', not {protocol!r}"
            )
        self.protocol = protocol
        self.default_text = default_text
        self.respond = respond
        self.requests: list[RecordedRequest] = []
        self._replies: deque[AnyReply] = deque(replies)
        self._lock = threading.Lock()
        self._served = 0
        # Set on close: handlers holding a Stall open let go of it.
        self._closing = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> LoopbackServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-{self.protocol}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what tests use ----------------------------------------------------------

    @property
    def port(self) -> int:
        """The port it listens on; still known after close, for asserting on messages."""
        if self._port is None:
            raise RuntimeError("loopback server was never started")
        return self._port

    @property
    def host(self) -> str:
        """host:port, as provider error messages name it."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        # The Anthropic SDK adds /v1/messages; the OpenAI SDK expects the /v1 itself.
        root = f"http://{self.host}"
        return root if self.protocol == "anthropic" else f"{root}/v1"

    def env(self, api_key: str = "loopback-key") -> dict[str, str]:
        """Environment for a subprocess that should talk to this server."""
        if self.protocol == "anthropic":
            return {"ANTHROPIC_BASE_URL": self.base_url, "ANTHROPIC_API_KEY": api_key}
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    def push(self, *replies: AnyReply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    # -- serving -----------------------------------------------------------------

    def _next_reply(self, recorded: RecordedRequest) -> tuple[AnyReply, int]:
        with self._lock:
            self.requests.append(recorded)
            self._served += 1
            chosen = self.respond(recorded) if self.respond is not None else None
            if chosen is not None:
                return chosen, self._served
            reply = self._replies.popleft() if self._replies else Reply(self.default_text)
            return reply, self._served

    def _route(self) -> str:
        """The path (its end) a model request is posted to."""
        return "/v1/messages" if self.protocol == "anthropic" else "/chat/completions"

    def _handle_other(self, handler: _Handler, recorded: RecordedRequest) -> bool:
        """Answer a request that is not a model request, if it is one the clients send
        around their turns; False when it is unknown (a 404)."""
        path = recorded.path.split("?", 1)[0]
        if recorded.method == "POST" and path.endswith("/v1/messages/count_tokens"):
            # Claude Code counts tokens before it compacts; a rough count will do.
            size = len(json.dumps(recorded.body)) if recorded.body else 0
            _send_json(handler, 200, {"input_tokens": max(1, size // 4)})
            return True
        if recorded.method == "GET" and path.endswith("/models"):
            _send_json(handler, 200, {"object": "list", "data": [], "models": []})
            return True
        return False

    def _handle(self, handler: _Handler, recorded: RecordedRequest) -> None:
        path = recorded.path.split("?", 1)[0]
        if recorded.method != "POST" or not path.endswith(self._route()):
            with self._lock:
                self.requests.append(recorded)
            if self._handle_other(handler, recorded):
                return
            with self._lock:
                self.requests.append(recorded)
            self._send_error(handler, ErrorReply(404, f"no route for {recorded.method} {path}"), 0)
            return
        reply, number = self._next_reply(recorded)
        if isinstance(reply, ErrorReply):
            self._send_error(handler, reply, number)
            return
        body = recorded.body if isinstance(recorded.body, dict) else {}
        model = str(body.get("model") or "loopback-model")
        if isinstance(reply, StreamError):
            self._send_stream_error(handler, reply, model, number)
            return
        if isinstance(reply, Stall):
            self._send_stall(handler, reply, model, number)
            return
        if isinstance(reply, Malformed):
            head = self._events(Reply("An answer that turns into garbage"), model, number, body)
            name = "content_block_delta" if self.protocol == "anthropic" else None
            _send_stream(handler, [*head[: reply.after_events], (name, reply.data)], Reply())
            return
        if not body.get("stream"):
            _send_json(handler, 200, self._whole_message(reply, model, number))
            return
        _send_stream(handler, self._events(reply, model, number, body), reply)

    def _events(
        self, reply: Reply, model: str, number: int, body: Mapping[str, Any]
    ) -> list[Event]:
        if self.protocol == "anthropic":
            return _anthropic_events(reply, model, number)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        include_usage = include_usage and reply.usage_reported
        return _openai_events(reply, model, number, include_usage)

    def _send_stall(self, handler: _Handler, reply: Stall, model: str, number: int) -> None:
        if reply.after_events is None:
            # Not a byte: the request was read, the answer never comes.
            self._closing.wait()
            handler.close_connection = True
            return
        head = self._events(Reply("Thinking"), model, number, {})[: reply.after_events]
        _start_stream(handler)
        for event in head:
            _write_chunk(handler, _sse(event))
        while not self._closing.wait(reply.every_s):
            if reply.keepalive == "ping":
                _write_chunk(handler, _sse(("ping", {"type": "ping"})))
            elif reply.keepalive == "comment":
                _write_chunk(handler, b": keep-alive\n\n")
            elif reply.keepalive == "text":
                _write_chunk(handler, _sse(self._text_event(" and", model, number)))
        handler.close_connection = True

    def _text_event(self, text: str, model: str, number: int) -> Event:
        if self.protocol == "anthropic":
            delta = {"type": "text_delta", "text": text}
            return (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": delta},
            )
        return _openai_events(Reply(text), model, number, False)[1]

    def _send_error(self, handler: _Handler, reply: ErrorReply, number: int) -> None:
        message = reply.message or f"loopback error {reply.status}"
        if self.protocol == "anthropic":
            error_type = reply.error_type or _ANTHROPIC_ERROR_TYPES.get(
                reply.status, "api_error" if reply.status >= 500 else "invalid_request_error"
            )
            body: dict[str, Any] = {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": f"req_loopback_{number}",
            }
        else:
            error_type = reply.error_type or (
                "server_error" if reply.status >= 500 else "invalid_request_error"
            )
            body = {
                "error": {
                    "message": message,
                    "type": error_type,
                    "param": None,
                    "code": _OPENAI_ERROR_CODES.get(reply.status),
                }
            }
        _send_json(handler, reply.status, body, reply.headers)

    def _send_stream_error(
        self, handler: _Handler, reply: StreamError, model: str, number: int
    ) -> None:
        head = Reply("Partial answer that never finishes", tool_calls=[("noop", {})])
        if self.protocol == "anthropic":
            events = _anthropic_events(head, model, number)[: reply.after_events]
            error: Event = (
                "error",
                {"type": "error", "error": {"type": reply.error_type, "message": reply.message}},
            )
        else:
            events = _openai_events(head, model, number, False)[: reply.after_events]
            error = (None, {"error": {"message": reply.message, "type": reply.error_type}})
        _send_stream(handler, [*events, error], Reply())

    def _whole_message(self, reply: Reply, model: str, number: int) -> dict[str, Any]:
        """The non-streaming form of a reply."""
        usage = _usage(reply)
        calls = [(name, _arguments_text(args)) for name, args in reply.tool_calls]
        if self.protocol == "anthropic":
            content: list[dict[str, Any]] = []
            if reply.thinking:
                content.append(
                    {
                        "type": "thinking",
                        "thinking": reply.thinking,
                        "signature": _signature(number),
                    }
                )
            if reply.text:
                content.append({"type": "text", "text": reply.text})
            for i, (name, text) in enumerate(calls):
                content.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_loopback_{number}_{i}",
                        "name": name,
                        "input": _loads_or_empty(text),
                    }
                )
            return {
                "id": f"msg_loopback_{number}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": reply.stop_reason or ("tool_use" if calls else "end_turn"),
                "stop_sequence": None,
                "usage": _anthropic_usage(usage),
            }
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": f"call_loopback_{number}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": text},
                }
                for i, (name, text) in enumerate(calls)
            ]
        return {
            "id": f"chatcmpl-loopback{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": reply.stop_reason or ("tool_calls" if calls else "stop"),
                }
            ],
            "usage": _openai_usage(usage),
        }


class LoopbackAnthropic(LoopbackServer):
    """Speaks POST /v1/messages (streaming and not), errors in Anthropic's format."""

    def __init__(
        self,
        replies: Iterable[AnyReply] = (),
        *,
        default_text: str = "Done.",
        respond: Responder | None = None,
    ) -> None:
        super().__init__("anthropic", replies, default_text=default_text, respond=respond)


class LoopbackOpenAI(LoopbackServer):
    """Speaks POST /v1/chat/completions (streaming and not), errors in OpenAI's format."""

    def __init__(
        self,
        replies: Iterable[AnyReply] = (),
        *,
        default_text: str = "Done.",
        respond: Responder | None = None,
    ) -> None:
        super().__init__("openai", replies, default_text=default_text, respond=respond)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 with chunked bodies, like the real APIs: the SDK keeps its connection
    # alive between requests and sees each SSE event as it is written.
    protocol_version = "HTTP/1.1"
    owner: LoopbackServer

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        recorded = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        try:
            self.owner._handle(self, recorded)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away (a cancelled stream); nothing left to tell it.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


# -- wire formats ------------------------------------------------------------------


def _usage(reply: Reply) -> dict[str, int]:
    given = dict(reply.usage or {})
    written = len(reply.text) + sum(len(_arguments_text(a)) + len(n) for n, a in reply.tool_calls)
    return {
        "input_tokens": given.get("input_tokens", 100),
        "output_tokens": given.get("output_tokens", max(1, math.ceil(written / 4))),
        "cache_read_tokens": given.get("cache_read_tokens", 0),
        "cache_write_tokens": given.get("cache_write_tokens", 0),
    }


def _anthropic_usage(usage: Mapping[str, int]) -> dict[str, int]:
    return {
        "input_tokens": usage["input_tokens"],
        "output_tokens": usage["output_tokens"],
        "cache_read_input_tokens": usage["cache_read_tokens"],
        "cache_creation_input_tokens": usage["cache_write_tokens"],
    }


def _openai_usage(usage: Mapping[str, int]) -> dict[str, Any]:
    # OpenAI counts cached tokens inside prompt_tokens.
    prompt = usage["input_tokens"] + usage["cache_read_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage["output_tokens"],
        "total_tokens": prompt + usage["output_tokens"],
        "prompt_tokens_details": {"cached_tokens": usage["cache_read_tokens"]},
    }


def _arguments_text(arguments: Mapping[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(dict(arguments))


def _loads_or_empty(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


def _signature(number: int) -> str:
    return f"loopback-signature-{number}"


def _split(text: str, parts: int = 3) -> list[str]:
    """`text` in `parts` pieces (fewer when it is shorter), cut anywhere, even inside
    a JSON string or a word, because that is how the real APIs cut their deltas."""
    if not text:
        return []
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _text_pieces(text: str) -> list[str]:
    words = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    size = max(1, math.ceil(len(words) / 3))
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


Event = tuple[str | None, Any]  # (SSE event name or None, data as JSON-able or raw str)


def _anthropic_events(reply: Reply, model: str, number: int) -> list[Event]:
    usage = _usage(reply)
    start_usage = _anthropic_usage(usage) | {"output_tokens": 1}
    events: list[Event] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_loopback_{number}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if reply.thinking:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                },
            )
        )
        deltas = [{"type": "thinking_delta", "thinking": p} for p in _text_pieces(reply.thinking)]
        deltas.append({"type": "signature_delta", "signature": _signature(number)})
        for delta in deltas:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    if reply.text:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        for piece in _text_pieces(reply.text):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for i, (name, arguments) in enumerate(reply.tool_calls):
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_loopback_{number}_{i}",
                        "name": name,
                        "input": {},
                    },
                },
            )
        )
        # The API opens every tool input with an empty partial_json.
        for piece in ["", *_split(_arguments_text(arguments))]:
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    stop_reason = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _openai_events(reply: Reply, model: str, number: int, include_usage: bool) -> list[Event]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Event:
        data: dict[str, Any] = {
            "id": f"chatcmpl-loopback{number}",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            data["usage"] = None
        return (None, data)

    created = int(time.time())
    events = [chunk({"role": "assistant", "content": ""})]
    for piece in _text_pieces(reply.text):
        events.append(chunk({"content": piece}))
    for i, (name, arguments) in enumerate(reply.tool_calls):
        opening = {
            "index": i,
            "id": f"call_loopback_{number}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [opening]}))
        for piece in _split(_arguments_text(arguments)):
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    finish = reply.stop_reason or ("tool_calls" if reply.tool_calls else "stop")
    events.append(chunk({}, finish))
    if include_usage:
        events.append(
            (
                None,
                {
                    "id": f"chatcmpl-loopback{number}",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": None,
                    "choices": [],
                    "usage": _openai_usage(_usage(reply)),
                },
            )
        )
    events.append((None, "[DONE]"))
    return events


def _sse(event: Event) -> bytes:
    name, data = event
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {payload}\n\n".encode()


def _send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    raw = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(raw)
    handler.wfile.flush()


def _start_stream(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()


def _send_stream(handler: BaseHTTPRequestHandler, events: list[Event], reply: Reply) -> None:
    _start_stream(handler)
    gate_pending = reply.gate is not None
    for sent, event in enumerate(_with_gate_marks(events)):
        if reply.disconnect_after is not None and sent >= reply.disconnect_after:
            # Leave the chunked body unfinished and hang up: the client sees the
            # connection drop in the middle of the stream.
            handler.close_connection = True
            return
        if reply.reset_after is not None and sent >= reply.reset_after:
            _reset(handler)
            return
        _write_chunk(handler, _sse(event[0]))
        if gate_pending and event[1] and reply.gate is not None:
            reply.gate.wait(timeout=60)
            gate_pending = False
    _write_chunk(handler, b"")


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Abort the connection: with a zero linger time, closing sends a TCP RST, and the
    client's next read fails with "connection reset by peer"."""
    handler.wfile.flush()
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def _with_gate_marks(events: list[Event]) -> Iterator[tuple[Event, bool]]:
    """Each event with whether a gated reply pauses after it: after the first text
    delta, or after the first event of a reply without text."""
    texts = [i for i, event in enumerate(events) if _is_text_delta(event)]
    pause_at = texts[0] if texts else 0
    for i, event in enumerate(events):
        yield event, i == pause_at


def _is_text_delta(event: Event) -> bool:
    name, data = event
    if not isinstance(data, dict):
        return False
    if name == "content_block_delta":
        return data.get("delta", {}).get("type") == "text_delta"
    choices = data.get("choices") or []
    return bool(choices and choices[0].get("delta", {}).get("content"))


def _write_chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    handler.wfile.flush()
