"""Streaming one response: the assistant's message (audio or text) or a function call, cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .ids import IdFactory
from .pcm import OUTPUT_RATE_FOR_FORMAT, b64encode, encode_output
from .speech import SpokenText, split_pieces, synthesize

TEXT_WORD_MS = 60
ARGUMENT_CHUNKS = 3


@dataclass(frozen=True)
class Pacing:
    """How fast responses stream. ``speed`` is a multiple of real time; ``math.inf`` sends at once."""

    speed: float = 4.0
    chunk_ms: int = 80
    first_audio_delay_ms: float = 100.0


@dataclass(frozen=True)
class ResponsePlan:
    """What a response will say or call, decided when it is created."""

    modalities: tuple[str, ...]
    text: str = ""
    tool: dict[str, Any] | None = None
    arguments: dict[str, Any] | None = None


@dataclass
class ActiveResponse:
    id: str
    #: Decided once the words of the user's turn are known, before the first event.
    plan: ResponsePlan = field(default_factory=lambda: ResponsePlan(("text", "audio")))
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None
    audio_ms_sent: float = 0.0
    first_audio_at: float | None = None
    item_id: str | None = None
    task: asyncio.Task[None] | None = None


class Sender(Protocol):
    def __call__(self, event_type: str, due: float | None = None, /, **fields: Any) -> Awaitable[None]: ...


@dataclass
class ConversationView:
    """What the streamer needs from the session: ids, settings, the conversation and the socket state."""

    ids: IdFactory
    session: Callable[[], dict[str, Any]]
    add_item: Callable[[dict[str, Any]], str | None]
    closing: Callable[[], bool]
    spoken: dict[str, SpokenText]


class ResponseStreamer:
    """Sends the events of one response in protocol order, stopping early when it is cancelled."""

    def __init__(self, send: Sender, view: ConversationView, pacing: Pacing) -> None:
        self._send = send
        self._view = view
        self._pacing = pacing
        self._loop = asyncio.get_running_loop()

    async def run(self, response: ActiveResponse) -> None:
        await self._send("response.created", None, response=self._response_object(response, "in_progress", []))
        if response.plan.tool is not None:
            item = await self._function_call(response)
        else:
            item = await self._message(response)
        if response.reason:
            status, details = "cancelled", {"type": "cancelled", "reason": response.reason}
        else:
            status, details = "completed", None
        done = self._response_object(response, status, [item], details, self._usage(response, item))
        await self._send("response.done", None, response=done)

    async def _message(self, response: ActiveResponse) -> dict[str, Any]:
        audio = "audio" in response.plan.modalities
        item = {
            "id": self._view.ids.new("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        response.item_id = item["id"]
        await self._announce_item(response, item)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        part_type, text_key = ("audio", "transcript") if audio else ("text", "text")
        await self._send("response.content_part.added", None, **ids, part={"type": part_type, text_key: ""})
        if audio:
            said = await self._stream_audio(response, ids)
            await self._send("response.audio.done", None, **ids)
            for event_type in self._extras():
                await self._send(event_type.replace(".delta", ".done"), None, **ids)
            await self._send("response.audio_transcript.done", None, **ids, transcript=said)
        else:
            said = await self._stream_text(response, ids)
            await self._send("response.text.done", None, **ids, text=said)
        part = {"type": part_type, text_key: said}
        await self._send("response.content_part.done", None, **ids, part=part)
        item.update(status="incomplete" if response.reason else "completed", content=[part])
        await self._send("response.output_item.done", None, response_id=response.id, output_index=0, item=item)
        return item

    async def _stream_audio(self, response: ActiveResponse, ids: dict[str, Any]) -> str:
        session = self._view.session()
        audio_format = session["output_audio_format"]
        rate = OUTPUT_RATE_FOR_FORMAT[audio_format]
        spoken = await asyncio.to_thread(synthesize, response.plan.text, session.get("voice"), rate)
        self._view.spoken[ids["item_id"]] = spoken
        chunk = rate * self._pacing.chunk_ms // 1000
        pieces = list(spoken.pieces)
        extras = self._extras()
        words = list(spoken.words) if "response.audio_timestamp.delta" in extras else []
        visemes = list(spoken.visemes) if "response.animation_viseme.delta" in extras else []
        said: list[str] = []
        start = self._loop.time() + self._pacing.first_audio_delay_ms / 1000 / self._pacing.speed
        for offset in range(0, len(spoken.samples), chunk):
            due = start + offset / rate / self._pacing.speed
            if await self._wait_unless_cancelled(response, due):
                break
            while pieces and pieces[0][0] < offset + chunk:
                said.append(pieces.pop(0)[1])
                await self._send("response.audio_transcript.delta", due, **ids, delta=said[-1])
            chunk_end_ms = (offset + chunk) * 1000 / rate
            while words and words[0].offset_ms < chunk_end_ms:
                word = words.pop(0)
                await self._send(
                    "response.audio_timestamp.delta",
                    due,
                    **ids,
                    audio_offset_ms=word.offset_ms,
                    audio_duration_ms=word.duration_ms,
                    text=word.text,
                    timestamp_type="word",
                )
            while visemes and visemes[0][0] < chunk_end_ms:
                audio_offset_ms, viseme_id = visemes.pop(0)
                await self._send(
                    "response.animation_viseme.delta", due, **ids, audio_offset_ms=audio_offset_ms, viseme_id=viseme_id
                )
            samples = spoken.samples[offset : offset + chunk]
            if response.first_audio_at is None:
                response.first_audio_at = self._loop.time()
            response.audio_ms_sent += len(samples) * 1000 / rate
            await self._send("response.audio.delta", due, **ids, delta=b64encode(encode_output(samples, audio_format)))
        return "".join(said)

    def _extras(self) -> list[str]:
        """The delta events the session asked for beside the audio: word timestamps, visemes."""
        session = self._view.session()
        extras = []
        if "word" in (session.get("output_audio_timestamp_types") or []):
            extras.append("response.audio_timestamp.delta")
        if "viseme_id" in ((session.get("animation") or {}).get("outputs") or []):
            extras.append("response.animation_viseme.delta")
        return extras

    async def _stream_text(self, response: ActiveResponse, ids: dict[str, Any]) -> str:
        said: list[str] = []
        start = self._loop.time()
        for index, piece in enumerate(split_pieces(response.plan.text)):
            due = start + index * TEXT_WORD_MS / 1000 / self._pacing.speed
            if await self._wait_unless_cancelled(response, due):
                break
            said.append(piece)
            await self._send("response.text.delta", due, **ids, delta=piece)
        return "".join(said)

    async def _function_call(self, response: ActiveResponse) -> dict[str, Any]:
        tool = response.plan.tool or {}
        arguments = json.dumps(response.plan.arguments or {}, separators=(",", ":"))  # compact, as a model writes
        item = {
            "id": self._view.ids.new("item"),
            "object": "realtime.item",
            "type": "function_call",
            "name": tool.get("name"),
            "call_id": self._view.ids.new("call"),
            "arguments": "",
            "status": "in_progress",
        }
        response.item_id = item["id"]
        await self._announce_item(response, item)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "call_id": item["call_id"]}
        size = max(1, math.ceil(len(arguments) / ARGUMENT_CHUNKS))
        start = self._loop.time()
        sent = ""
        for index in range(0, len(arguments), size):
            due = start + (index // size) * TEXT_WORD_MS / 1000 / self._pacing.speed
            if await self._wait_unless_cancelled(response, due):
                break
            sent += arguments[index : index + size]
            await self._send(
                "response.function_call_arguments.delta", due, **ids, delta=arguments[index : index + size]
            )
        if not response.reason:
            await self._send("response.function_call_arguments.done", None, **ids, name=item["name"], arguments=sent)
        item.update(status="incomplete" if response.reason else "completed", arguments=sent)
        await self._send("response.output_item.done", None, response_id=response.id, output_index=0, item=item)
        return item

    async def _announce_item(self, response: ActiveResponse, item: dict[str, Any]) -> None:
        previous = self._view.add_item(item)
        await self._send("response.output_item.added", None, response_id=response.id, output_index=0, item=item)
        await self._send("conversation.item.created", None, previous_item_id=previous, item=item)

    async def _wait_unless_cancelled(self, response: ActiveResponse, due: float) -> bool:
        """Sleep until ``due``; True as soon as the response is cancelled or the socket closes."""
        delay = due - self._loop.time()
        if delay > 0 and not response.cancelled.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(response.cancelled.wait(), delay)
        else:
            await asyncio.sleep(0)
        return response.cancelled.is_set() or self._view.closing()

    def _response_object(
        self,
        response: ActiveResponse,
        status: str,
        output: list[dict[str, Any]],
        details: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        session = self._view.session()
        return {
            "id": response.id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": output,
            "usage": usage,
            "modalities": list(response.plan.modalities),
            "voice": session.get("voice"),
            "output_audio_format": session.get("output_audio_format"),
            "temperature": session.get("temperature"),
            "max_output_tokens": session.get("max_response_output_tokens"),
        }

    def _usage(self, response: ActiveResponse, item: dict[str, Any]) -> dict[str, Any]:
        """Plausible token counts: about four characters per text token and ten audio tokens a second."""
        session = self._view.session()
        said = json.dumps(item.get("content") or item.get("arguments") or "")
        output_text = math.ceil(len(said) / 4)
        output_audio = round(response.audio_ms_sent / 100)
        input_text = math.ceil(len(session.get("instructions") or "") / 4) + math.ceil(len(response.plan.text) / 8)
        return {
            "total_tokens": input_text + output_text + output_audio,
            "input_tokens": input_text,
            "output_tokens": output_text + output_audio,
            "input_token_details": {"text_tokens": input_text, "audio_tokens": 0, "cached_tokens": 0},
            "output_token_details": {"text_tokens": output_text, "audio_tokens": output_audio},
        }
