"""Function tools as the service checks them: a name, a description, and ``parameters`` as a JSON Schema.

``parameters`` must be the JSON Schema subset a model can fill in and the practice server's function calling
(``tools.py``) can read: ``type: "object"`` at the top, ``properties`` an object of schema objects, ``required``
naming some of them, ``items`` a schema object, numbers where numbers belong. Beyond the shape, caps keep a schema,
and the arguments built from it, small:

- a schema's JSON is at most ``MAX_SCHEMA_CHARS`` characters, nested at most ``MAX_SCHEMA_DEPTH`` levels, with at
  most ``MAX_PROPERTIES`` properties and ``MAX_ENUM_VALUES`` allowed values in all;
- ``minItems``, ``minLength`` and ``minProperties`` are at most ``MAX_MINIMUM_COUNT``;
- the arguments the schema asks for (every array at its ``minItems``, every string at least its ``minLength``) come
  to at most about ``MAX_ARGUMENT_CHARS`` characters: more than a reply's 4096 tokens could ever hold.

The check is written out here rather than left to the ``jsonschema`` package (which Jupyter brings along): that
package takes about a second to import, and the first ``session.update`` with tools would stall every session on
the server's event loop while it did.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from .tools import MAX_HEARD_CHARS

#: The function names the service takes.
FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_DESCRIPTION_CHARS = 8192
MAX_SCHEMA_CHARS = 64 * 1024
MAX_SCHEMA_DEPTH = 10
MAX_PROPERTIES = 1000
MAX_ENUM_VALUES = 1000
MAX_MINIMUM_COUNT = 10_000
MAX_ARGUMENT_CHARS = 64 * 1024
#: The longest string tools.py takes from the words heard for one argument.
HEARD_CHARS = MAX_HEARD_CHARS
#: The characters one number or boolean argument takes at most, as tools.py writes them.
SCALAR_CHARS = 32

TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")
SCHEMA_KEYWORDS = ("items", "not", "additionalProperties", "contains", "propertyNames", "if", "then", "else")
SCHEMA_LIST_KEYWORDS = ("anyOf", "oneOf", "allOf", "prefixItems")
SCHEMA_MAP_KEYWORDS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
MINIMUM_COUNTS = ("minItems", "minLength", "minProperties", "minContains")
MAXIMUM_COUNTS = ("maxItems", "maxLength", "maxProperties", "maxContains")
TEXT_KEYWORDS = ("description", "title", "format", "pattern", "$ref", "$id", "$schema", "$comment", "$anchor")
FLAG_KEYWORDS = ("nullable", "uniqueItems", "deprecated", "readOnly", "writeOnly")


class SchemaProblem(NamedTuple):
    """The first thing wrong with a tool: the field, as a dotted path, and what is wrong with it."""

    param: str
    message: str


def function_tool_problem(tool: dict[str, Any], param: str) -> SchemaProblem | None:
    """What is wrong with a ``{"type": "function", ...}`` tool, or None; ``param`` names the tool."""
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        return SchemaProblem(f"{param}.name", "A function tool needs a 'name'.")
    if not FUNCTION_NAME.fullmatch(name):
        return SchemaProblem(f"{param}.name", "A function name has 1 to 64 letters, digits, '_' or '-'.")
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        return SchemaProblem(f"{param}.description", "description must be a string.")
    if description is not None and len(description) > MAX_DESCRIPTION_CHARS:
        return SchemaProblem(f"{param}.description", f"description holds at most {MAX_DESCRIPTION_CHARS} characters.")
    return parameters_problem(tool.get("parameters"), f"{param}.parameters")


def parameters_problem(parameters: Any, param: str) -> SchemaProblem | None:
    """What is wrong with a function's ``parameters`` schema, or None (no parameters, or ``{}``, are fine)."""
    if parameters is None or parameters == {}:
        return None
    if not isinstance(parameters, dict):
        return SchemaProblem(param, "'parameters' must be a JSON schema object.")
    if parameters.get("type") != "object":
        return SchemaProblem(f"{param}.type", "The parameters schema must have type 'object' at the top.")
    size = len(json.dumps(parameters))
    if size > MAX_SCHEMA_CHARS:
        return SchemaProblem(param, f"The parameters schema is {size} characters of JSON; at most {MAX_SCHEMA_CHARS}.")
    counts = _Counts()
    problem = next(_schema_problems(parameters, param, 0, counts), None)
    if problem is not None:
        return problem
    needed = _arguments_chars(parameters)
    if needed > MAX_ARGUMENT_CHARS:
        return SchemaProblem(
            param,
            f"Arguments for this schema could take about {needed} characters; at most {MAX_ARGUMENT_CHARS} "
            "are allowed (lower minItems or minLength).",
        )
    return None


class _Counts:
    """Properties and enum values seen so far in one schema."""

    def __init__(self) -> None:
        self.properties = 0
        self.enum_values = 0


def _schema_problems(schema: Any, param: str, depth: int, counts: _Counts) -> Iterator[SchemaProblem]:
    """The problems of one (sub)schema, outermost first; the caller takes the first."""
    if not isinstance(schema, dict):
        yield SchemaProblem(param, "A schema must be an object such as {'type': 'string'}.")
        return
    if depth > MAX_SCHEMA_DEPTH:
        yield SchemaProblem(param, f"Schemas nest at most {MAX_SCHEMA_DEPTH} levels deep.")
        return
    yield from _keyword_problems(schema, param, counts)
    for keyword in SCHEMA_KEYWORDS:
        value = schema.get(keyword)
        if keyword in schema and not (keyword == "additionalProperties" and isinstance(value, bool)):
            yield from _schema_problems(value, f"{param}.{keyword}", depth + 1, counts)
    for keyword in SCHEMA_LIST_KEYWORDS:
        if keyword in schema:
            subschemas = schema[keyword]
            if not isinstance(subschemas, list) or not subschemas:
                yield SchemaProblem(f"{param}.{keyword}", f"{keyword} must be a non-empty list of schemas.")
                return
            for index, subschema in enumerate(subschemas):
                yield from _schema_problems(subschema, f"{param}.{keyword}[{index}]", depth + 1, counts)
    for keyword in SCHEMA_MAP_KEYWORDS:
        if keyword in schema:
            subschemas = schema[keyword]
            if not isinstance(subschemas, dict):
                yield SchemaProblem(f"{param}.{keyword}", f"{keyword} must be an object mapping names to schemas.")
                return
            if keyword == "properties":
                counts.properties += len(subschemas)
                if counts.properties > MAX_PROPERTIES:
                    yield SchemaProblem(f"{param}.properties", f"A schema has at most {MAX_PROPERTIES} properties.")
                    return
            for name, subschema in subschemas.items():
                yield from _schema_problems(subschema, f"{param}.{keyword}.{name}", depth + 1, counts)


def _keyword_problems(schema: dict[str, Any], param: str, counts: _Counts) -> Iterator[SchemaProblem]:
    """Problems with the keywords that are not subschemas: type, required, enum, numbers, counts, texts."""
    kind = schema.get("type")
    if "type" in schema and not _is_type(kind):
        yield SchemaProblem(f"{param}.type", f"type must be one of {list(TYPES)}, or a list of them.")
    if "required" in schema:
        yield from _required_problems(schema, param)
    if "enum" in schema:
        values = schema["enum"]
        if not isinstance(values, list) or not values:
            yield SchemaProblem(f"{param}.enum", "enum must be a non-empty list of the allowed values.")
        else:
            counts.enum_values += len(values)
            if counts.enum_values > MAX_ENUM_VALUES:
                yield SchemaProblem(f"{param}.enum", f"A schema has at most {MAX_ENUM_VALUES} enum values in all.")
    for keyword in NUMBER_KEYWORDS:
        if keyword in schema and not _is_number(schema[keyword]):
            yield SchemaProblem(f"{param}.{keyword}", f"{keyword} must be a number.")
    if "multipleOf" in schema and _is_number(schema["multipleOf"]) and schema["multipleOf"] <= 0:
        yield SchemaProblem(f"{param}.multipleOf", "multipleOf must be greater than 0.")
    for keyword in (*MINIMUM_COUNTS, *MAXIMUM_COUNTS):
        if keyword in schema and not _is_count(schema[keyword]):
            yield SchemaProblem(f"{param}.{keyword}", f"{keyword} must be a non-negative integer.")
        elif keyword in MINIMUM_COUNTS and schema.get(keyword, 0) > MAX_MINIMUM_COUNT:
            yield SchemaProblem(f"{param}.{keyword}", f"{keyword} may be at most {MAX_MINIMUM_COUNT}.")
    for keyword in TEXT_KEYWORDS:
        if keyword in schema and not isinstance(schema[keyword], str):
            yield SchemaProblem(f"{param}.{keyword}", f"{keyword} must be a string.")
    for keyword in FLAG_KEYWORDS:
        if keyword in schema and not isinstance(schema[keyword], bool):
            yield SchemaProblem(f"{param}.{keyword}", f"{keyword} must be true or false.")


def _required_problems(schema: dict[str, Any], param: str) -> Iterator[SchemaProblem]:
    required = schema["required"]
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        yield SchemaProblem(f"{param}.required", "required must be a list of property names.")
        return
    if len(set(required)) != len(required):
        yield SchemaProblem(f"{param}.required", "required names each property once.")
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return  # the check of properties says what is wrong
    for index, name in enumerate(required):
        if name not in properties:
            yield SchemaProblem(f"{param}.required[{index}]", f"'{name}' is required but is not in properties.")


def _is_type(kind: Any) -> bool:
    if isinstance(kind, str):
        return kind in TYPES
    return (
        isinstance(kind, list)
        and bool(kind)
        and all(isinstance(k, str) and k in TYPES for k in kind)
        and len(set(kind)) == len(kind)
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _arguments_chars(schema: dict[str, Any]) -> int:
    """About the most characters of JSON ``tools.arguments_for`` writes for ``schema`` (an upper bound)."""
    if "const" in schema:
        return _json_chars(schema["const"])
    sizes = [HEARD_CHARS + 2, SCALAR_CHARS]
    sizes += [_json_chars(value) for value in schema.get("enum") or []]
    if "default" in schema:
        sizes.append(_json_chars(schema["default"]))
    kind = schema.get("type", "string")
    kinds = kind if isinstance(kind, list) else [kind]
    if "object" in kinds:
        sizes.append(_object_chars(schema))
    if "array" in kinds:
        items = declared if isinstance(declared := schema.get("items"), dict) else {}
        sizes.append(2 + max(1, schema.get("minItems", 1)) * (_arguments_chars(items) + 1))
    if "string" in kinds:
        sizes.append(max(schema.get("minLength", 0), HEARD_CHARS) + 2)
    if "integer" in kinds or "number" in kinds:  # a bound such as 1e300 is written out in full
        bounds = [schema[key] for key in ("minimum", "exclusiveMinimum", "maximum") if key in schema]
        sizes += [len(str(int(abs(bound)))) + SCALAR_CHARS for bound in bounds]
    return max(sizes)


def _object_chars(schema: dict[str, Any]) -> int:
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    total = 2
    for name, subschema in properties.items():
        heard = max([HEARD_CHARS + 2, SCALAR_CHARS] + [_json_chars(value) for value in subschema.get("enum") or []])
        total += len(json.dumps(name)) + 2 + (_arguments_chars(subschema) if name in required else heard)
    return total


def _json_chars(value: Any) -> int:
    return len(json.dumps(value))
