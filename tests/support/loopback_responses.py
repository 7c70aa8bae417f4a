"""A loopback model server for the OpenAI Responses API (`POST /v1/responses`), which
Codex speaks and nothing else.

The same `Reply` scripts as loopback.py: text becomes a `message` output item with
`output_text` deltas, each tool call a `function_call` item whose arguments arrive in
deltas, and `response.completed` carries the usage. Errors use OpenAI's JSON format.

    with LoopbackResponses([Reply(tool_calls=[("shell", {"command": ["ls"]})])]) as server:
        ...  # [model_providers.loop] base_url = server.base_url, wire_api = "responses"
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from tests.support.loopback import (
    AnyReply,
    Event,
    LoopbackServer,
    Reply,
    Responder,
    StreamError,
    _arguments_text,
    _send_stream,
    _split,
    _text_pieces,
    _usage,
)


class LoopbackResponses(LoopbackServer):
    """Speaks POST /v1/responses (streaming and not), errors in OpenAI's format."""

    def __init__(
        self,
        replies: Iterable[AnyReply] = (),
        *,
        default_text: str = "Done.",
        respond: Responder | None = None,
    ) -> None:
        super().__init__("responses", replies, default_text=default_text, respond=respond)

    def _route(self) -> str:
        return "/responses"

    def _events(
        self, reply: Reply, model: str, number: int, body: Mapping[str, Any]
    ) -> list[Event]:
        return _responses_events(reply, model, number)

    def _text_event(self, text: str, model: str, number: int) -> Event:
        return _typed(
            "response.output_text.delta",
            item_id=f"msg_loopback_{number}",
            output_index=0,
            content_index=0,
            delta=text,
        )

    def _send_stream_error(self, handler: Any, reply: StreamError, model: str, number: int) -> None:
        head = _responses_events(Reply("Partial answer that never finishes"), model, number)
        failed = _typed(
            "response.failed",
            response=_response(number, model, "failed", [], None)
            | {"error": {"code": reply.error_type, "message": reply.message}},
        )
        _send_stream(handler, [*head[: reply.after_events], failed], Reply())

    def _whole_message(self, reply: Reply, model: str, number: int) -> dict[str, Any]:
        return _response(number, model, "completed", _output_items(reply, number), _usage(reply))


def _typed(type_: str, **data: Any) -> Event:
    return (type_, {"type": type_, **data})


def _response(
    number: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: Mapping[str, int] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"resp_loopback_{number}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "model": model,
        "output": output,
        "error": None,
        "incomplete_details": None,
        "usage": None,
    }
    if usage is not None:
        body["usage"] = {
            "input_tokens": usage["input_tokens"] + usage["cache_read_tokens"],
            "input_tokens_details": {"cached_tokens": usage["cache_read_tokens"]},
            "output_tokens": usage["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input_tokens"]
            + usage["cache_read_tokens"]
            + usage["output_tokens"],
        }
    return body


def _message_item(number: int, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if text else []
    return {
        "type": "message",
        "id": f"msg_loopback_{number}",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_item(number: int, i: int, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_loopback_{number}_{i}",
        "call_id": f"call_loopback_{number}_{i}",
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def _output_items(reply: Reply, number: int) -> list[dict[str, Any]]:
    items = [_message_item(number, reply.text, "completed")] if reply.text else []
    for i, (name, arguments) in enumerate(reply.tool_calls):
        items.append(_call_item(number, i, name, _arguments_text(arguments), "completed"))
    return items


def _responses_events(reply: Reply, model: str, number: int) -> list[Event]:
    events = [
        _typed("response.created", response=_response(number, model, "in_progress", [], None)),
        _typed("response.in_progress", response=_response(number, model, "in_progress", [], None)),
    ]
    index = 0
    if reply.text:
        item_id = f"msg_loopback_{number}"
        where = {"item_id": item_id, "output_index": index, "content_index": 0}
        events.append(
            _typed(
                "response.output_item.added",
                output_index=index,
                item=_message_item(number, "", "in_progress"),
            )
        )
        events.append(
            _typed(
                "response.content_part.added",
                **where,
                part={"type": "output_text", "text": "", "annotations": []},
            )
        )
        for piece in _text_pieces(reply.text):
            events.append(_typed("response.output_text.delta", **where, delta=piece))
        events.append(_typed("response.output_text.done", **where, text=reply.text))
        events.append(
            _typed(
                "response.content_part.done",
                **where,
                part={"type": "output_text", "text": reply.text, "annotations": []},
            )
        )
        events.append(
            _typed(
                "response.output_item.done",
                output_index=index,
                item=_message_item(number, reply.text, "completed"),
            )
        )
        index += 1
    for i, (name, arguments) in enumerate(reply.tool_calls):
        text = _arguments_text(arguments)
        item_id = f"fc_loopback_{number}_{i}"
        events.append(
            _typed(
                "response.output_item.added",
                output_index=index,
                item=_call_item(number, i, name, "", "in_progress"),
            )
        )
        for piece in _split(text):
            events.append(
                _typed(
                    "response.function_call_arguments.delta",
                    item_id=item_id,
                    output_index=index,
                    delta=piece,
                )
            )
        events.append(
            _typed(
                "response.function_call_arguments.done",
                item_id=item_id,
                output_index=index,
                arguments=text,
            )
        )
        events.append(
            _typed(
                "response.output_item.done",
                output_index=index,
                item=_call_item(number, i, name, text, "completed"),
            )
        )
        index += 1
    completed = _response(number, model, "completed", _output_items(reply, number), _usage(reply))
    events.append(_typed("response.completed", response=completed))
    # The SSE stream carries a sequence number on every event.
    return [(name, {**data, "sequence_number": n}) for n, (name, data) in enumerate(events)]
