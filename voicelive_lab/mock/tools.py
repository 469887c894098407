"""Function calling: which tool a turn calls, and arguments that satisfy the tool's JSON schema."""

from __future__ import annotations

import re
from typing import Any

PLACE = re.compile(r"\b(?:in|for|at|near)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)")


def choose_tool(tools: list[dict[str, Any]], tool_choice: Any, user_text: str) -> dict[str, Any] | None:
    """The function tool this turn calls, or None for a spoken reply."""
    functions = [tool for tool in tools if tool.get("type") == "function"]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        return next((tool for tool in functions if tool["name"] == tool_choice.get("name")), None)
    named = next((tool for tool in functions if _names_tool(user_text, tool["name"])), None)
    if named is not None:
        return named
    return functions[0] if tool_choice == "required" else None


def _names_tool(text: str, name: str) -> bool:
    lowered = f" {' '.join(re.findall(r'[a-z0-9]+', text.lower()))} "
    spoken = " ".join(re.findall(r"[a-z0-9]+", name.lower().replace("_", " ")))
    return bool(spoken) and f" {spoken} " in lowered


def arguments_for(schema: dict[str, Any] | None, user_text: str) -> dict[str, Any]:
    """Arguments for ``schema``: every required property (or all, when none are marked required)."""
    value = _value_for(schema or {"type": "object"}, "", user_text)
    return value if isinstance(value, dict) else {}


def _value_for(schema: dict[str, Any], name: str, user_text: str) -> Any:
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        wanted = schema.get("required") or list(properties)
        return {key: _value_for(properties.get(key, {}), key, user_text) for key in wanted}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [_value_for(schema.get("items", {}), name, user_text) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, low + (1 if "exclusiveMinimum" in schema else 0))
        value = min(value, schema.get("maximum", value))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string_for(schema, name, user_text)


def _string_for(schema: dict[str, Any], name: str, user_text: str) -> str:
    if schema.get("format") == "date":
        return "2026-01-01"
    place = PLACE.search(user_text)
    text = place.group(1) if place else f"example {name}".strip()
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[: int(high)] if high is not None else text
