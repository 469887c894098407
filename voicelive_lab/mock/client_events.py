"""Checking client events before the session acts on them: the service's error shape, with the ``param`` named.

:func:`load_client_event` reads one text frame, and :func:`check_client_event` checks the event's fields against
the shapes the SDK's ``ClientEvent*`` models declare (strings, integers that are not booleans, lists, objects,
``null`` where a field is optional), so a handler only ever sees fields of the right type. What a field's *value*
may be given the session (a voice that exists, a tool choice that names a configured tool, an item id in the
conversation) is checked where it is used. :func:`session_field_problem` does the same for the session fields
``session.update`` and ``response.create`` carry.

Bounds, so that no one event can make the server build something huge:

- a frame nests at most ``MAX_NESTING`` levels, and its integers have at most ``MAX_INTEGER_DIGITS`` digits;
- audio (``input_audio_buffer.append``, ``input_audio.turn.append``, an item's ``input_audio``) is at most
  ``MAX_AUDIO_CHARS`` (15 MiB) of base64, which leaves room in the server's 16 MiB frame;
- a message's text, a typed delta, a transcript or a reason is at most ``MAX_TEXT_CHARS`` characters;
  instructions at most ``MAX_INSTRUCTIONS_CHARS``;
- a function call's ``arguments`` and a function output's ``output`` are at most ``MAX_FUNCTION_CHARS`` (64 KiB);
- a message has at most ``MAX_CONTENT_PARTS`` content parts, a response at most ``MAX_INPUT_ITEMS`` input items,
  a session at most ``MAX_TOOLS`` tools; ids are at most ``MAX_ID_CHARS`` characters;
- ``metadata`` holds at most ``MAX_METADATA_PAIRS`` pairs of short strings, as the service's metadata does.

Longer than the kit's usual ~350 lines on purpose: it has one job, the shapes of all twenty client event types and
of the session fields, with the few helpers they share (items, content parts, tools), checked as a whole by the fuzz
test.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

MAX_NESTING = 64
MAX_INTEGER_DIGITS = 40
MAX_AUDIO_CHARS = 15 * 1024 * 1024
MAX_TEXT_CHARS = 32_000
MAX_INSTRUCTIONS_CHARS = 100_000
MAX_FUNCTION_CHARS = 64 * 1024
MAX_CONTENT_PARTS = 32
MAX_INPUT_ITEMS = 100
MAX_TOOLS = 128
MAX_ID_CHARS = 256
MAX_NAME_CHARS = 256
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512
MAX_LIST_ITEMS = 1000

BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
INTERIM_TYPES = ("static_interim_response", "llm_interim_response")
INTERIM_TRIGGERS = ("latency", "tool")
INCLUDE_OPTIONS = (
    "item.input_audio_transcription.logprobs",
    "item.input_audio_transcription.phrases",
    "file_search_call.results",
)
ROLES = ("user", "assistant", "system")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


class ClientEventError(Exception):
    """A client event the service would refuse; becomes an ``error`` event, the session goes on."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


# ----------------------------------------------------------------- reading a frame


class _NumberRefused(ValueError):
    pass


def load_client_event(text: str) -> dict[str, Any]:
    """The event a text frame holds, or :class:`ClientEventError`: never another exception, whatever the text."""
    try:
        event = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except RecursionError:
        raise ClientEventError(f"The frame nests deeper than {MAX_NESTING} levels.", "invalid_json") from None
    except _NumberRefused as error:
        raise ClientEventError(str(error), "invalid_json") from None
    except json.JSONDecodeError as error:
        message = f"The frame is not valid JSON ({error.msg} at position {error.pos})."
        raise ClientEventError(message, "invalid_json") from None
    except ValueError as error:  # a number Python will not read, whatever its digits
        raise ClientEventError(f"The frame is not valid JSON ({error}).", "invalid_json") from None
    if _nesting(event) > MAX_NESTING:
        raise ClientEventError(f"The frame nests deeper than {MAX_NESTING} levels.", "invalid_json")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ClientEventError("Each event must be a JSON object with a string 'type'.", "invalid_event", "type")
    return event


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NumberRefused(f"The frame holds an integer of more than {MAX_INTEGER_DIGITS} digits.")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberRefused(f"The frame holds a number too large for a float ({text[:40]}).")
    return value


def _refuse_constant(name: str) -> Any:
    raise _NumberRefused(f"{name} is not a JSON value.")


def _nesting(value: Any) -> int:
    """How many containers deep ``value`` goes, counted without recursion (it stops past the bound)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


# ----------------------------------------------------------------- shapes

#: ``check(value, param)`` raises :class:`ClientEventError` naming ``param`` when ``value`` has the wrong shape.
Check = Callable[[Any, str], None]


def _wrong_type(param: str, kind: str) -> ClientEventError:
    return ClientEventError(f"'{param}' must be {kind}.", "invalid_type", param)


def _too_long(param: str, limit: int, unit: str) -> ClientEventError:
    return ClientEventError(f"'{param}' holds at most {limit} {unit}.", "invalid_value", param)


def _string(max_chars: int = MAX_ID_CHARS, non_empty: bool = False) -> Check:
    def check(value: Any, param: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(param, "a string")
        if non_empty and not value.strip():
            raise ClientEventError(f"'{param}' must not be empty.", "invalid_value", param)
        if len(value) > max_chars:
            raise _too_long(param, max_chars, "characters")

    return check


def _integer(low: int | None = None) -> Check:
    def check(value: Any, param: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(param, "an integer")
        if low is not None and value < low:
            raise ClientEventError(f"'{param}' must be at least {low}.", "invalid_value", param)

    return check


def _boolean(value: Any, param: str) -> None:
    if not isinstance(value, bool):
        raise _wrong_type(param, "true or false")


def _number(value: Any, param: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _wrong_type(param, "a number")


def _one_of(*allowed: str) -> Check:
    def check(value: Any, param: str) -> None:
        if not isinstance(value, str):
            raise _wrong_type(param, "a string")
        if value not in allowed:
            raise ClientEventError(
                f"{value[:64]!r} is not supported; use one of {list(allowed)}.", "invalid_value", param
            )

    return check


def _audio(value: Any, param: str) -> None:
    """Base64 audio: the right alphabet, whole quads, padding only at the end (decoding it is the handler's job)."""
    if not isinstance(value, str):
        raise _wrong_type(param, "a string of base64-encoded audio")
    if len(value) > MAX_AUDIO_CHARS:
        raise _too_long(param, MAX_AUDIO_CHARS, "characters of base64 (send audio in smaller pieces)")
    if len(value) % 4 or not value.isascii() or BASE64.fullmatch(value) is None:
        raise ClientEventError(f"'{param}' must be base64-encoded audio bytes.", "invalid_value", param)


def _any_object(value: Any, param: str) -> None:
    if not isinstance(value, dict):
        raise _wrong_type(param, "an object")


def _list(each: Check, max_items: int = MAX_LIST_ITEMS) -> Check:
    def check(value: Any, param: str) -> None:
        if not isinstance(value, list):
            raise _wrong_type(param, "a list")
        if len(value) > max_items:
            raise _too_long(param, max_items, "entries")
        for index, entry in enumerate(value):
            each(entry, f"{param}[{index}]")

    return check


def _string_map(max_pairs: int, key_chars: int, value_chars: int) -> Check:
    """An object of string values, such as ``metadata`` or ``custom_speech``."""

    def check(value: Any, param: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object of strings")
        if len(value) > max_pairs:
            raise _too_long(param, max_pairs, "pairs")
        for key, entry in value.items():
            if len(key) > key_chars:
                raise _too_long(f"{param}.{key[:32]}", key_chars, "characters in its name")
            _string(value_chars)(entry, f"{param}.{key}")

    return check


def _either(kinds: str, *checks: Check) -> Check:
    """The first check whose type fits decides; ``kinds`` says what fits, for the message when none does."""

    def check(value: Any, param: str) -> None:
        for option in checks:
            try:
                option(value, param)
                return
            except ClientEventError as error:
                if error.code != "invalid_type" or error.param != param:  # the type fits; something in it does not
                    raise
        raise _wrong_type(param, kinds)

    return check


def _fields(spec: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object whose listed fields have these shapes; ``null`` is the same as leaving an optional field out.

    Fields not listed are left alone, as the service's lenient models leave them.
    """

    def check(value: Any, param: str) -> None:
        if not isinstance(value, dict):
            raise _wrong_type(param, "an object")
        for name, field_check in spec.items():
            field = _join(param, name)
            if value.get(name) is not None:
                field_check(value[name], field)
            elif name in required:
                raise ClientEventError(f"Missing required field '{field}'.", "missing_required_parameter", field)

    return check


def _join(param: str, name: str) -> str:
    return f"{param}.{name}" if param else name


# ----------------------------------------------------------------- conversation items

ID = _string(MAX_ID_CHARS, non_empty=True)
TEXT = _string(MAX_TEXT_CHARS)
CONTENT_PARTS: dict[str, Check] = {
    "input_text": _fields({"text": TEXT}, required=("text",)),
    "text": _fields({"text": TEXT}, required=("text",)),
    "input_audio": _fields({"audio": _audio, "transcript": TEXT}, required=("audio",)),
    "audio": _fields({"audio": _audio, "transcript": TEXT}),
    "input_image": _fields({"image_url": _string(MAX_AUDIO_CHARS), "detail": _string()}),
}


def _content_part(value: Any, param: str) -> None:
    _fields({"type": _string()}, required=("type",))(value, param)
    part_check = CONTENT_PARTS.get(value["type"])
    if part_check is not None:  # another type is the item handler's to refuse
        part_check(value, param)


ITEMS: dict[str, Check] = {
    "message": _fields(
        {"role": _one_of(*ROLES), "content": _list(_content_part, MAX_CONTENT_PARTS), "status": _string()},
        required=("role", "content"),
    ),
    "function_call": _fields(
        {
            "name": _string(MAX_NAME_CHARS, non_empty=True),
            "call_id": ID,
            "arguments": _string(MAX_FUNCTION_CHARS),
            "status": _string(),
        },
        required=("name", "call_id"),
    ),
    "function_call_output": _fields(
        {"call_id": ID, "output": _string(MAX_FUNCTION_CHARS), "status": _string()}, required=("call_id", "output")
    ),
    "mcp_approval_response": _fields(
        {"approval_request_id": ID, "approve": _boolean, "reason": TEXT}, required=("approval_request_id", "approve")
    ),
}


def _item(value: Any, param: str) -> None:
    """A conversation item a client sends: its type's fields (an unknown type is the item handler's to refuse)."""
    _fields({"type": _string(), "id": ID}, required=("type",))(value, param)
    item_check = ITEMS.get(value["type"])
    if item_check is not None:
        item_check(value, param)


# ----------------------------------------------------------------- events

INPUT_ITEMS = _list(_item, MAX_INPUT_ITEMS)
#: ``response`` fields that are not session settings; those (modalities, voice, tools…) are checked as
#: ``session.update`` checks them, against the session, by ``response_settings``.
RESPONSE = _fields(
    {
        "commit": _boolean,
        "cancel_previous": _boolean,
        "conversation": _one_of("auto", "none"),
        "append_input_items": INPUT_ITEMS,
        "input_items": INPUT_ITEMS,
        "pre_generated_assistant_message": _item,
        "invoke_input": _any_object,
    }
)
TURN_ID = _fields({"turn_id": ID}, required=("turn_id",))
NO_FIELDS = _fields({})
EVENTS: dict[str, Check] = {
    "session.update": _fields({"session": _any_object}, required=("session",)),
    "transcription_session.update": _fields({"session": _any_object}, required=("session",)),
    "session.avatar.connect": _fields({"client_sdp": _string(MAX_FUNCTION_CHARS)}, required=("client_sdp",)),
    "input_audio_buffer.append": _fields({"audio": _audio}, required=("audio",)),
    "input_audio_buffer.commit": NO_FIELDS,
    "input_audio_buffer.clear": NO_FIELDS,
    "input_audio.clear": NO_FIELDS,
    "input_audio.turn.start": TURN_ID,
    "input_audio.turn.append": _fields({"turn_id": ID, "audio": _audio}, required=("turn_id", "audio")),
    "input_audio.turn.end": TURN_ID,
    "input_audio.turn.cancel": TURN_ID,
    "conversation.item.create": _fields({"item": _item, "previous_item_id": ID}, required=("item",)),
    "conversation.item.truncate": _fields(
        {"item_id": ID, "content_index": _integer(), "audio_end_ms": _integer()}, required=("item_id", "audio_end_ms")
    ),
    "conversation.item.delete": _fields({"item_id": ID}, required=("item_id",)),
    "conversation.item.retrieve": _fields({"item_id": ID}, required=("item_id",)),
    "response.create": _fields({"response": RESPONSE, "additional_instructions": _string(MAX_INSTRUCTIONS_CHARS)}),
    "response.cancel": _fields({"response_id": ID}),
    "output_audio_buffer.clear": NO_FIELDS,
    "input_text.delta": _fields({"id": ID, "delta": TEXT, "content_index": _integer(low=0)}, required=("id", "delta")),
    "input_text.done": _fields({"id": ID, "content_index": _integer(low=0)}, required=("id",)),
    "mcp_approval_response": ITEMS["mcp_approval_response"],
}
EVENT_ID = _fields({"event_id": _string(MAX_ID_CHARS)})


def check_client_event(event: dict[str, Any]) -> None:
    """Refuses (with :class:`ClientEventError`) an event of a known type whose fields have the wrong shape."""
    EVENT_ID(event, "")
    check = EVENTS.get(event["type"])
    if check is not None:
        check(event, "")


# ----------------------------------------------------------------- session fields

VOICE_OBJECT = _fields(
    {
        "type": _string(),
        "name": _string(MAX_NAME_CHARS),
        "temperature": _number,
        "endpoint_id": _string(),
        "custom_lexicon_url": _string(2048),
        "custom_text_normalization_url": _string(2048),
        "prefer_locales": _list(_string(32), 16),
        "locale": _string(32),
        "style": _string(),
        "pitch": _string(32),
        "rate": _string(32),
        "volume": _string(32),
    }
)
INTERIM_RESPONSE = _fields(
    {
        "type": _one_of(*INTERIM_TYPES),
        "triggers": _list(_one_of(*INTERIM_TRIGGERS), len(INTERIM_TRIGGERS)),
        "latency_threshold_ms": _integer(low=0),
        "texts": _list(_string(MAX_TEXT_CHARS), 32),
        "model": _string(),
        "instructions": _string(MAX_INSTRUCTIONS_CHARS),
        "max_completion_tokens": _integer(low=1),
    },
    required=("type",),
)


def _tool(value: Any, param: str) -> None:
    _fields({"type": _string()}, required=("type",))(value, param)


#: The shapes of these session fields, and whether each may be ``null`` (the setting is off). Their values are
#: checked by session_config.py; the fields not listed here are checked there alone.
SESSION_FIELDS: dict[str, tuple[Check, bool]] = {
    "instructions": (_string(MAX_INSTRUCTIONS_CHARS), False),
    "modalities": (_list(_string(32), 8), False),
    "voice": (_either("a voice name or a voice object", _string(MAX_NAME_CHARS), VOICE_OBJECT), False),
    "temperature": (_number, False),
    "max_response_output_tokens": (_either("an integer or 'inf'", _integer(), _one_of("inf")), False),
    "tools": (_list(_tool, MAX_TOOLS), False),
    "tool_choice": (
        _either("a string or an object", _string(), _fields({"type": _string(), "name": _string()})),
        False,
    ),
    "parallel_tool_calls": (_boolean, False),
    "input_audio_transcription": (
        _fields(
            {
                "model": _string(),
                "language": _string(256),
                "phrase_list": _list(_string(MAX_NAME_CHARS)),
                "custom_speech": _string_map(MAX_METADATA_PAIRS, MAX_ID_CHARS, MAX_ID_CHARS),
            }
        ),
        True,
    ),
    "output_audio_timestamp_types": (_list(_string(32), 8), False),
    "animation": (_fields({"model_name": _string(), "outputs": _list(_string(32), 8)}), True),
    "interim_response": (INTERIM_RESPONSE, True),
    "include": (_list(_one_of(*INCLUDE_OPTIONS), len(INCLUDE_OPTIONS)), True),
    "metadata": (_string_map(MAX_METADATA_PAIRS, MAX_METADATA_KEY_CHARS, MAX_METADATA_VALUE_CHARS), True),
    "reasoning_effort": (_one_of(*REASONING_EFFORTS), True),
    "avatar": (_fields({"character": _string(), "style": _string(), "customized": _boolean}), True),
}


def session_field_problem(field: str, value: Any, param: str) -> tuple[str, str, str] | None:
    """``(param, message, code)`` when a session field has the wrong shape, else None (its value is checked apart)."""
    shape = SESSION_FIELDS.get(field)
    if shape is None:
        return None
    check, nullable = shape
    if value is None:
        return None if nullable else (param, f"'{param}' must not be null.", "invalid_type")
    try:
        check(value, param)
    except ClientEventError as error:
        return str(error.param), str(error), error.code
    return None


def require_field(event: dict[str, Any], key: str, kind: type, param: str | None = None) -> Any:
    """``event[key]`` when it is there and of ``kind``; else the error naming it (``param``, default ``key``)."""
    value = event.get(key)
    if value is None:
        raise ClientEventError(f"Missing required field '{param or key}'.", "missing_required_parameter", param or key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ClientEventError(f"'{param or key}' must be of type {kind.__name__}.", "invalid_type", param or key)
    return value
