"""Function calling from words: which tool a request is for, and arguments that satisfy the tool's JSON schema."""

from __future__ import annotations

import datetime
import re
from typing import Any

from .brain import CITIES, STOPWORDS, words_of

PLACE = re.compile(r"\b(?:in|for|at|near|to)\s+((?:[A-Z][\w'-]*)(?:\s+[A-Z][\w'-]*)*)")
#: The same in a recogniser's lower-case words ("the weather in paris today"): up to two words after the
#: preposition, ended by a stop word or a word of time.
SPOKEN_PLACE = re.compile(r"\b(?:in|for|at|near)\s+([\w'-]+(?:\s+[\w'-]+)?)", re.IGNORECASE)
TIME_WORDS = frozenset("today tomorrow tonight now yesterday morning afternoon evening weekend week".split())
#: A number the words give (a longer run of digits is no argument: it would not fit a float).
NUMBER = re.compile(r"(?<![\d.])-?\d{1,15}(?:\.\d{1,15})?(?![\d.])")
NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip
PLACE_NAMES = ("location", "city", "place", "country", "region", "destination", "where", "town")
#: Words that make a required yes/no argument False ("switch off the lamp"); without them it is True.
NEGATIONS = frozenset("off no not don't never disable stop false".split())
#: A tool must share this many content words with the request (its name's words count double).
MIN_TOOL_SCORE = 2
#: The longest string an argument takes from the words heard (tool_schemas.py counts on it to bound arguments).
MAX_HEARD_CHARS = 100


def choose_tool(tools: list[dict[str, Any]], tool_choice: Any, heard: str) -> dict[str, Any] | None:
    """The function tool this turn calls, or None for a spoken reply."""
    functions = [tool for tool in tools if tool.get("type") == "function"]
    if not functions or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        return next((tool for tool in functions if tool["name"] == tool_choice.get("name")), None)
    scored = sorted(((tool_score(tool, heard), index) for index, tool in enumerate(functions)), reverse=True)
    best_score, best = scored[0][0], functions[scored[0][1]]
    if best_score >= MIN_TOOL_SCORE:
        return best
    return functions[0] if tool_choice == "required" else None


def tool_score(tool: dict[str, Any], heard: str) -> int:
    """How well the words heard fit a tool: shared content words, its name's words counting double."""
    heard_words = {_stem(word) for word in words_of(heard) if word not in STOPWORDS}
    name_words = {_stem(word) for word in _name_words(tool["name"]) if word not in STOPWORDS}
    other_words = {_stem(word) for word in words_of(" ".join(_tool_texts(tool))) if word not in STOPWORDS}
    return 2 * len(heard_words & name_words) + len(heard_words & (other_words - name_words))


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return words_of(spaced)


def _tool_texts(tool: dict[str, Any]) -> list[str]:
    """The tool's description, and its parameters' names, descriptions and allowed values."""
    texts = [str(tool.get("description") or "")]
    properties = (tool.get("parameters") or {}).get("properties") or {}
    for name, schema in properties.items():
        texts += [" ".join(_name_words(name)), str((schema or {}).get("description") or "")]
        texts += [str(value) for value in (schema or {}).get("enum") or []]
    return texts


def sentences_for_tools(tools: list[dict[str, Any]]) -> tuple[str, ...]:
    """Requests the recognizer should expect for these tools: their words, and "… in <city>" for places."""
    sentences: list[str] = []
    for tool in tools:
        if tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            continue
        spoken = " ".join(_name_words(tool["name"]))
        sentences += [text for text in _tool_texts(tool) if text.strip()]
        sentences += [spoken, f"Can you {spoken}?", f"What is the {spoken}?"]
        properties = (tool.get("parameters") or {}).get("properties") or {}
        if any(any(place in name.lower() for place in PLACE_NAMES) for name in properties):
            topic = " ".join(word for word in _name_words(tool["name"]) if word not in ("get", "find", "check"))
            sentences += [f"What is the {topic} in {city}?" for city in CITIES]
    return tuple(sentences)


def arguments_for(schema: dict[str, Any] | None, heard: str) -> dict[str, Any]:
    """Arguments for ``schema``: the required properties, and optional ones only when the words give them."""
    schema = schema or {"type": "object"}
    properties: dict[str, Any] = schema.get("properties") or {}
    required = [key for key in schema.get("required") or [] if isinstance(key, str)]
    arguments = {key: _value_for(properties.get(key) or {}, key, heard) for key in required}
    for key, property_schema in properties.items():
        if key not in arguments:
            value = _heard_value(property_schema or {}, key, heard)
            if value is not None:
                arguments[key] = value
    return arguments


def _heard_value(schema: dict[str, Any], name: str, heard: str) -> Any:
    """An optional property's value when the words say it (an allowed value, a place, a number), else None."""
    words = set(words_of(heard))
    for value in schema.get("enum") or []:
        if isinstance(value, str) and set(words_of(value)) and set(words_of(value)) <= words:
            return value
    if schema.get("type") in ("string", None) and _is_place(name, schema):
        place = _place_in(heard)
        return place[:MAX_HEARD_CHARS] if place else None
    if schema.get("type") in ("integer", "number"):
        number = _number_heard(heard)
        return None if number is None else (int(number) if schema["type"] == "integer" else number)
    return None


def _is_place(name: str, schema: dict[str, Any]) -> bool:
    text = f"{name} {schema.get('description') or ''}".lower()
    return any(place in text for place in PLACE_NAMES)


def _number_heard(heard: str) -> float | None:
    match = NUMBER.search(heard)
    if match:
        return float(match.group())
    spoken = next((NUMBER_WORDS[word] for word in words_of(heard) if word in NUMBER_WORDS), None)
    return None if spoken is None else float(spoken)


def _value_for(schema: dict[str, Any], name: str, heard: str) -> Any:
    if "const" in schema:
        return schema["const"]
    heard_value = _heard_value(schema, name, heard)
    if heard_value is not None:
        return heard_value
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        return arguments_for(schema, heard)
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [_value_for(schema.get("items") or {}, name, heard) for _ in range(count)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(1, low + (1 if "exclusiveMinimum" in schema else 0))
        value = min(value, schema.get("maximum", value))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return not NEGATIONS & set(words_of(heard))
    if kind == "null":
        return None
    return _string_for(schema, name, heard)


def _string_for(schema: dict[str, Any], name: str, heard: str) -> str:
    if schema.get("format") == "date":
        return datetime.date.today().isoformat()
    text = (_place_in(heard) or _last_content_words(heard) or f"example {name}".strip())[:MAX_HEARD_CHARS]
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[: int(high)] if high is not None else text


def _place_in(heard: str) -> str | None:
    """The place the words name: "in Paris" as written, or "in paris today" as heard (then "Paris")."""
    place = PLACE.search(heard)
    if place:
        return place.group(1)
    for match in SPOKEN_PLACE.finditer(heard):
        kept: list[str] = []
        for word in match.group(1).split():
            if word.lower() in STOPWORDS or word.lower() in TIME_WORDS:
                break
            kept.append(word.capitalize())
        if kept:
            return " ".join(kept)
    return None


def _last_content_words(heard: str) -> str:
    """The words after the last stop word: "what is the stock price of Contoso" → "Contoso"."""
    tokens = re.findall(r"[\w'-]+", heard)
    tail: list[str] = []
    for token in reversed(tokens):
        if token.lower() in STOPWORDS:
            break
        tail.insert(0, token)
    return " ".join(tail)
