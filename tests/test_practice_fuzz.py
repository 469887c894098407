"""Property-based: whatever a client sends, the practice session answers (an ``error`` or its usual reply) and goes on.

Hypothesis builds client events of every type the SDK knows, with every field its models declare, filled with
values that fit and values that do not (wrong types, nulls, bad base64, broken tool schemas, unknown fields), and
raw frames no SDK would send (deep nesting, numbers too long to read, not JSON at all). All of them go over one
WebSocket to one practice session. After each frame a probe (``conversation.item.retrieve`` of an id that does not
exist) must come back as an ``item_not_found`` error: the session is alive and read everything before it. No
handler may fail: nothing is logged with a traceback or at ERROR level, and no ``server_error`` reaches the client.
The run is bounded (``max_examples``) and deterministic (``derandomize``), so it takes seconds, the same each time.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import math
import threading
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from azure.ai.voicelive import models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicelive_lab.mock import MockServer
from voicelive_lab.mock.recognizer import PlaceholderRecognizer

#: Client event types the SDK's ClientEventType lists beyond the models it has for them, and their fields.
EXTRA_EVENTS = {
    "mcp_approval_response": ["type", "event_id", "approval_request_id", "approve", "reason"],
    "transcription_session.update": ["type", "event_id", "session"],
}
PROBE_ITEM = "item_probe_missing"
#: Event types and session fields drawn more often than the rest: their mistakes can show later, in a response.
OFTEN = ["session.update", "response.create", "conversation.item.create"]
USED_LATER = {"tools", "tool_choice", "interim_response", "voice", "modalities", "max_output_tokens", "input_items"}
#: The question asked now and then: its words fit the fuzzed function tools' names (get_weather, lookup).
QUESTION = {
    "type": "conversation.item.create",
    "item": {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Lookup the weather in Paris for the next days."}],
    },
}


def sdk_fields(model: type) -> list[str]:
    """The JSON names of the fields an SDK model declares."""
    model.__new__(model)  # the SDK fills in its field table when a model is first made
    return [field._rest_name for field in model._attr_to_rest_field.values()]


EVENT_FIELDS = {name: sdk_fields(model) for name, model in models.ClientEvent.__mapping__.items()} | EXTRA_EVENTS
RESPONSE_FIELDS = sdk_fields(models.ResponseCreateParams)
SESSION_FIELDS = sdk_fields(models.RequestSession)

# ----------------------------------------------------------------- values

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
counts = st.integers(min_value=-3, max_value=3_000_000)
audio = st.one_of(
    st.binary(max_size=1600).map(lambda pcm: base64.b64encode(pcm).decode()),
    st.sampled_from(["abc", "é", "a===", "====", "YQ", "not base64!", "", "QUJD\n", "QU JD"]),
)
#: Mostly ids the fuzzed events themselves give, so that later events find the items and turns earlier ones made.
ids = st.one_of(
    st.sampled_from(["item_a", "item_b", "call_1", "turn_1", "root"]), st.sampled_from(["", " "]), st.text(max_size=12)
)
names = st.sampled_from(["city", "location", "days", "names", "unit"])


def either(*fitting: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value that fits (seven times in eight), or any JSON value at all: mostly one thing is wrong at a time."""
    fits = st.one_of(*fitting)
    return st.integers(0, 7).flatmap(lambda n: json_values if n == 0 else fits)


def typed(
    kinds: dict[str, dict[str, st.SearchStrategy[Any]]], **optional: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """An object with a ``type`` from ``kinds`` and that type's fields, each fitting or not; now and then one is
    left out, or the whole object is some other JSON value."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        kind = draw(either(st.sampled_from(list(kinds))))
        fields = kinds.get(kind, {}) if isinstance(kind, str) else {}
        value = draw(st.fixed_dictionaries({name: either(s) for name, s in fields.items()}, optional=optional))
        if value and draw(st.integers(0, 7)) == 0:
            value.pop(draw(st.sampled_from(sorted(value))))
        return {"type": kind, **value}

    return either(build())


schemas: st.SearchStrategy[Any] = st.deferred(
    lambda: either(
        st.fixed_dictionaries(
            {},
            optional={
                "type": either(st.sampled_from(["object", "array", "string", "integer", "number", "boolean", "null"])),
                "description": either(st.text(max_size=12)),
                "properties": either(st.dictionaries(names, schemas, max_size=3)),
                "required": either(st.lists(names, max_size=3)),
                "items": schemas,
                "enum": either(st.lists(scalars, max_size=3)),
                "minimum": either(st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
                "maximum": either(st.integers()),
                "minItems": either(counts),
                "maxItems": either(counts),
                "minLength": either(counts),
                "maxLength": either(counts),
                "format": either(st.just("date")),
                "anyOf": either(st.lists(schemas, max_size=2)),
                "default": json_values,
                "const": json_values,
            },
        )
    )
)
parameters = either(
    st.fixed_dictionaries(
        {"type": either(st.just("object"))},
        optional={
            "properties": either(st.dictionaries(names, schemas, max_size=3)),
            "required": either(st.lists(names, max_size=3)),
        },
    )
)
tools = typed(
    {
        "function": {
            "name": st.sampled_from(["get_weather", "lookup", "get_weather", "lookup", "bad name!", ""]),
            "description": st.text(max_size=20),
            "parameters": parameters,
        },
        "mcp": {
            "server_label": st.sampled_from(["practice", "x"]),
            "server_url": st.sampled_from(["http://practice-mcp.local/mcp", "ftp://nowhere"]),
            "require_approval": st.sampled_from(["always", "never"]),
        },
    }
)
content_parts = typed(
    {
        "input_text": {"text": st.text(max_size=40)},
        "text": {"text": st.text(max_size=40)},
        "input_audio": {"audio": audio},
        "audio": {"transcript": st.text(max_size=8)},
        "input_image": {"image_url": st.text(max_size=8)},
    }
)
items = typed(
    {
        "message": {
            "role": st.sampled_from(["user", "assistant", "system", "robot"]),
            "content": st.lists(content_parts, min_size=1, max_size=3),
        },
        "function_call": {
            "name": st.sampled_from(["get_weather", "lookup"]),
            "call_id": ids,
            "arguments": st.just("{}"),
        },
        "function_call_output": {"call_id": ids, "output": st.text(max_size=20)},
        "mcp_approval_response": {"approval_request_id": ids, "approve": st.booleans()},
    },
    id=either(ids),
    status=either(st.just("completed")),
)
#: Values that fit each named field (anywhere it appears), besides any JSON value.
FITTING: dict[str, st.SearchStrategy[Any]] = {
    "audio": audio,
    "item": items,
    "append_input_items": st.lists(items, max_size=2),
    "input_items": st.lists(items, max_size=2),
    "pre_generated_assistant_message": items,
    "item_id": ids,
    "previous_item_id": ids,
    "response_id": ids,
    "turn_id": ids,
    "id": ids,
    "approval_request_id": ids,
    "audio_end_ms": st.integers(min_value=-10, max_value=10_000),
    "content_index": st.integers(min_value=-1, max_value=2),
    "delta": st.text(max_size=30),
    "approve": st.booleans(),
    "client_sdp": st.text(max_size=30),
    "modalities": st.lists(st.sampled_from(["text", "audio", "animation", "avatar"]), max_size=3),
    "instructions": st.text(max_size=30),
    "additional_instructions": st.text(max_size=30),
    "voice": st.one_of(
        st.sampled_from(["alloy", "en-US-AvaNeural"]),
        typed(
            {
                "azure-standard": {"name": st.sampled_from(["en-US-AvaNeural", "de-DE-KatjaNeural"])},
                "openai": {"name": st.just("alloy")},
            },
            rate=json_values,
            pitch=either(st.sampled_from(["+10%", "high"])),
        ),
    ),
    "input_audio_format": st.sampled_from(["pcm16", "g711_ulaw", "mp3"]),
    "output_audio_format": st.sampled_from(["pcm16", "pcm16_16000hz", "g711_alaw", "pcm24"]),
    "input_audio_sampling_rate": st.sampled_from([8000, 16000, 24000, 44100, 12345]),
    "turn_detection": st.one_of(
        st.none(),
        typed(
            {"server_vad": {}, "azure_semantic_vad": {}, "semantic_vad": {}, "push_to_talk": {}},
            threshold=either(st.floats(0, 1)),
            silence_duration_ms=either(st.integers(0, 2000)),
            create_response=either(st.booleans()),
            end_of_utterance_detection=either(typed({"semantic_detection_v1": {}})),
        ),
    ),
    "input_audio_noise_reduction": st.one_of(st.none(), typed({"azure_deep_noise_suppression": {}, "near_field": {}})),
    "input_audio_echo_cancellation": st.one_of(
        st.none(), typed({"server_echo_cancellation": {}}, channels=json_values, reference_source=json_values)
    ),
    "input_audio_transcription": st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {"model": either(st.sampled_from(["azure-speech", "whisper-1", "x"]))},
            optional={"language": either(st.just("en-US")), "phrase_list": either(st.lists(st.text(max_size=5)))},
        ),
    ),
    "tools": st.lists(tools, max_size=2),
    "tool_choice": st.one_of(
        st.sampled_from(["auto", "none", "required", "sometimes"]),
        st.fixed_dictionaries({"type": either(st.just("function")), "name": either(st.just("get_weather"))}),
    ),
    "parallel_tool_calls": st.booleans(),
    "temperature": st.floats(min_value=-1, max_value=3),
    "max_output_tokens": st.one_of(st.just("inf"), st.integers(min_value=-1, max_value=5000)),
    "max_response_output_tokens": st.one_of(st.just("inf"), st.integers(min_value=-1, max_value=5000)),
    "metadata": st.dictionaries(st.text(max_size=70), either(st.text(max_size=8)), max_size=3),
    "interim_response": typed(
        {"static_interim_response": {"texts": st.lists(st.text(max_size=8))}, "llm_interim_response": {}},
        triggers=either(st.lists(st.sampled_from(["latency", "tool", "x"]), max_size=2)),
        latency_threshold_ms=either(st.integers(-5, 5000)),
    ),
    "include": st.lists(st.sampled_from(["item.input_audio_transcription.logprobs", "x"]), max_size=2),
    "reasoning_effort": st.sampled_from(["low", "high", "extreme"]),
    "output_audio_timestamp_types": st.lists(st.sampled_from(["word", "phoneme"]), max_size=2),
    "animation": st.fixed_dictionaries({}, optional={"outputs": either(st.lists(st.sampled_from(["viseme_id", "x"])))}),
    "avatar": st.fixed_dictionaries({"character": either(st.just("lisa"))}),
    "commit": st.booleans(),
    "cancel_previous": st.booleans(),
    "conversation": st.sampled_from(["auto", "none", "some"]),
}


def field_values(name: str) -> st.SearchStrategy[Any]:
    return either(FITTING[name]) if name in FITTING else json_values


def few_fields(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """One to three of ``fields`` (a session's, a response's), each fitting or not; now and then an unknown one.

    The fields a response uses later (tools, tool choice, interim response) come up more often than the rest.
    """
    often = [name for name in fields if name in USED_LATER] * 3
    chosen = st.lists(st.sampled_from([*fields, *often, "unknown_field"]), min_size=1, max_size=3, unique=True)
    return chosen.flatmap(lambda names: st.fixed_dictionaries({name: field_values(name) for name in names}))


@st.composite
def client_events(draw: st.DrawFn) -> dict[str, Any]:
    """An event of a type the SDK knows (or one it does not): its fields, each fitting or not, all or some."""
    event_type = draw(st.sampled_from([*EVENT_FIELDS, *OFTEN * 3, "rate_limits.update"]))
    fields = [name for name in EVENT_FIELDS.get(event_type, []) if name not in ("type", "event_id")]
    values = {name: field_values(name) for name in fields}
    optional = {"event_id": either(st.text(max_size=8)), "unknown_field": json_values}
    every = st.fixed_dictionaries(values, optional=optional)
    some = st.fixed_dictionaries({}, optional=values | optional)
    return {"type": event_type, **draw(st.integers(0, 3).flatmap(lambda n: some if n == 0 else every))}


FITTING["session"] = few_fields(SESSION_FIELDS)
FITTING["response"] = few_fields(RESPONSE_FIELDS)


def nested(depth: int) -> str:
    return '{"type": "input_audio_buffer.clear", "extra": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


raw_frames = st.one_of(
    st.sampled_from([1, 63, 64, 65, 1000, 100_000]).map(lambda n: "[" * n + "]" * n),
    st.sampled_from([63, 64, 65, 999]).map(nested),
    st.sampled_from([39, 40, 41, 4300, 4301, 100_000]).map(
        lambda digits: '{"type": "session.update", "session": {"temperature": ' + "9" * digits + "}}"
    ),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999"]).map(
        lambda number: '{"type": "session.update", "session": {"temperature": ' + number + "}}"
    ),
    st.text(max_size=30),
    client_events().flatmap(lambda event: st.integers(0, len(json.dumps(event))).map(lambda n: json.dumps(event)[:n])),
    st.binary(max_size=16),
)
#: Tools alone: a bad schema shows only when a response scores or calls the tool, so they come up often.
tool_updates = st.lists(tools, min_size=1, max_size=2).map(
    lambda tools: {"type": "session.update", "session": {"tools": tools}}
)
#: Of ten frames: one raw frame, one update of the tools, eight client events of any type.
frames = st.integers(0, 9).flatmap(
    lambda n: raw_frames if n == 0 else (tool_updates if n == 1 else client_events()).map(json.dumps)
)

# ----------------------------------------------------------------- the connection


class Wire:
    """One raw WebSocket to the practice server, open across examples, on an event loop of its own.

    A reader task queues what arrives; waiting for an answer stops early once the server has logged a failure
    (a response that failed never sends its ``response.done``).
    """

    def __init__(self, server: MockServer, failed: Callable[[], bool]) -> None:
        self._failed = failed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._probes = itertools.count()
        url = server.endpoint.replace("http", "ws") + "/voice-live/realtime"
        self._http, self._ws, self._inbox, self._reader = self.call(self._open(url, server.api_key))

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        finally:
            future.cancel()

    async def _open(self, url: str, key: str) -> tuple[Any, ...]:
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(url, headers={"api-key": key}, max_msg_size=0)
        inbox: asyncio.Queue[str | None] = asyncio.Queue()
        return http, ws, inbox, asyncio.create_task(self._read(ws, inbox))

    @staticmethod
    async def _read(ws: aiohttp.ClientWebSocketResponse, inbox: asyncio.Queue[str | None]) -> None:
        async for message in ws:
            inbox.put_nowait(message.data if message.type == aiohttp.WSMsgType.TEXT else None)
        inbox.put_nowait(None)  # the connection ended

    def exchange(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Send one frame, then a probe; every event the server sent until the probe's answer (included)."""
        return self.call(self._exchange(frame, f"probe_{next(self._probes)}"))

    async def _exchange(self, frame: str | bytes, probe_id: str) -> list[dict[str, Any]]:
        await (self._ws.send_bytes(frame) if isinstance(frame, bytes) else self._ws.send_str(frame))
        probe = {"type": "conversation.item.retrieve", "item_id": PROBE_ITEM, "event_id": probe_id}
        await self._ws.send_str(json.dumps(probe))
        return await self.read_until(lambda e: e["type"] == "error" and e["error"].get("event_id") == probe_id)

    async def read_until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Events up to the first ``done`` one, or up to the moment the server logged a failure."""
        received: list[dict[str, Any]] = []
        while not received or not done(received[-1]):
            try:
                data = await asyncio.wait_for(self._inbox.get(), 0.25)
            except asyncio.TimeoutError:
                if self._failed():
                    return received
                continue
            assert data is not None, f"the session ended (close code {self._ws.close_code})"
            received.append(json.loads(data))
        return received

    def turn(self) -> list[dict[str, Any]]:
        """A question that may call a tool and a response to it (replacing any in progress): the events up to its
        ``response.done``, or up to the error refusing it."""
        return self.call(self._turn(f"turn_{next(self._probes)}"))

    async def _turn(self, turn_id: str) -> list[dict[str, Any]]:
        await self._ws.send_str(json.dumps(QUESTION))
        create = {"type": "response.create", "response": {"cancel_previous": True}, "event_id": turn_id}
        await self._ws.send_str(json.dumps(create))

        def answered(event: dict[str, Any]) -> bool:
            done = event["type"] == "response.done" and event["response"]["status"] != "cancelled"
            return done or (event["type"] == "error" and event["error"].get("event_id") == turn_id)

        return await self.read_until(answered)

    def close(self) -> None:
        self.call(self._ws.close())
        self.call(self._http.close())
        self.call(asyncio.wait_for(self._reader, 5))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


class Records(logging.Handler):
    """Log records of the practice server that show a failure: a traceback, or ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.failures: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.failures.append(record)

    def text(self) -> str:
        return "\n".join(self.format(record) for record in self.failures)


@pytest.fixture
def failures() -> Iterator[Records]:
    logger = logging.getLogger("voicelive_lab.mock")
    records, level = Records(), logger.level
    records.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(records)
    logger.setLevel(logging.WARNING)  # failures are logged at ERROR (log.exception); client errors at DEBUG
    yield records
    logger.removeHandler(records)
    logger.setLevel(level)


@pytest.fixture
def wire(failures: Records) -> Iterator[Wire]:
    with MockServer(speed=math.inf, first_audio_delay_ms=0, recognizer=PlaceholderRecognizer()) as server:
        connection = Wire(server, lambda: bool(failures.failures))
        yield connection
        connection.close()


def check_answers(received: list[dict[str, Any]], failures: Records) -> None:
    """Nothing failed on the way, and the probe's error came back: the session is alive and read the frame."""
    check_errors(received, failures)
    probe = received[-1]["error"]
    assert (probe["type"], probe["code"], probe["param"]) == ("invalid_request_error", "item_not_found", "item_id")


def check_errors(received: list[dict[str, Any]], failures: Records) -> None:
    """Nothing failed in the server, and every error is a refusal of the client's input, with a code and a message."""
    assert not failures.failures, failures.text()
    for event in received:
        if event["type"] == "error":
            error = event["error"]
            assert error["type"] == "invalid_request_error", error
            assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"], error


@pytest.mark.slow
def test_no_client_input_breaks_the_session(wire: Wire, failures: Records) -> None:
    """Each frame, and now and then a question after it (a bad setting may only show when a response uses it)."""

    @settings(
        max_examples=1000,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(frame=frames, ask=st.integers(0, 4).map(lambda n: n == 0))
    def each_frame_is_answered(frame: str | bytes, ask: bool) -> None:
        failures.failures.clear()  # a failure shows in the example that met it, even after an earlier one failed
        check_answers(wire.exchange(frame), failures)
        if ask:
            check_errors(wire.turn(), failures)

    each_frame_is_answered()

    # Whatever the session's settings came to, it still answers a question.
    answer = wire.turn()
    check_errors(answer, failures)
    assert answer[-1]["type"] == "response.done" and answer[-1]["response"]["output"], answer[-1]
