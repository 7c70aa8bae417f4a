"""The argument check every tool applies to a call before it runs: required keys
present, no unknown keys, basic JSON types and numeric minimums."""

from __future__ import annotations

from typing import Any

from harness_tui.providers.base import ToolSpec
from harness_tui.tools.base import ToolError

_JSON_TYPES: dict[str, str] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
}


def _coerce(kind: str, value: Any) -> tuple[bool, Any]:
    """Whether `value` is of JSON type `kind`, and the value to use."""
    # bool is an int subclass in Python but never a number in JSON.
    if kind == "string":
        return isinstance(value, str), value
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        # Models sometimes write 10.0 for 10; accept it as the integer it denotes.
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return False, value
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool), value
    if kind == "array":
        return isinstance(value, list), value
    if kind == "object":
        return isinstance(value, dict), value
    return True, value


def check_args(spec: ToolSpec, args: Any) -> dict[str, Any]:
    """Check a call's arguments against the tool's schema: required keys present, no
    unknown keys, basic types and numeric minimums. Returns the arguments with
    null-valued optional keys dropped (models often send null for "not given").

    Raises ToolError with a message the model can act on.
    """
    name = spec.name
    if not isinstance(args, dict):
        raise ToolError(f"{name}: arguments must be a JSON object, got {type(args).__name__}")
    schema = spec.parameters
    properties: dict[str, Any] = schema.get("properties", {})
    cleaned = {key: value for key, value in args.items() if value is not None}
    missing = [key for key in schema.get("required", ()) if key not in cleaned]
    if missing:
        raise ToolError(f"{name}: missing required argument(s): {', '.join(missing)}")
    if schema.get("additionalProperties") is False:
        unknown = sorted(key for key in cleaned if key not in properties)
        if unknown:
            raise ToolError(
                f"{name}: unknown argument(s): {', '.join(unknown)} "
                f"(accepted: {', '.join(properties)})"
            )
    for key, value in list(cleaned.items()):
        prop = properties.get(key, {})
        kind = prop.get("type")
        if kind is None:
            continue
        ok, value = _coerce(kind, value)
        if not ok:
            raise ToolError(
                f"{name}: argument {key!r} must be {_JSON_TYPES.get(kind, kind)}, "
                f"got {type(value).__name__}"
            )
        if kind in ("integer", "number"):
            if "minimum" in prop and value < prop["minimum"]:
                raise ToolError(f"{name}: argument {key!r} must be at least {prop['minimum']}")
            if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
                raise ToolError(
                    f"{name}: argument {key!r} must be greater than {prop['exclusiveMinimum']}"
                )
        cleaned[key] = value
    return cleaned
