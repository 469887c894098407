"""Streaming one response: the assistant's message (audio or text), a function call or an MCP call; cancellable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .ids import IdFactory
from .pcm import OUTPUT_RATE_FOR_FORMAT, b64encode, encode_output
from .speech import SpokenText, split_pieces, synthesize

if TYPE_CHECKING:
    from .mcp import McpCall

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
    #: Set when the text was cut short, e.g. "max_output_tokens": the response ends ``incomplete``.
    incomplete_reason: str | None = None
    #: Said before the main output while a tool runs or the answer is slow (the session's ``interim_response``).
    interim: str | None = None
    #: An MCP tool call the service runs itself (or asks approval for); the answer follows it.
    mcp: McpCall | None = None


@dataclass
class ActiveResponse:
    id: str
    #: The session's settings with this response's overrides (``response.create``'s ``response`` object).
    settings: dict[str, Any] = field(default_factory=dict)
    #: False for an out-of-band response: its items stay out of the conversation.
    in_conversation: bool = True
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
    #: Told each chunk of reply audio as it is sent (samples, sample rate): the echo canceller's reference.
    on_output_audio: Callable[[np.ndarray, int], None] | None = None


class ResponseStreamer:
    """Sends the events of one response in protocol order, stopping early when it is cancelled."""

    def __init__(self, send: Sender, view: ConversationView, pacing: Pacing) -> None:
        self._send = send
        self._view = view
        self._pacing = pacing
        self._loop = asyncio.get_running_loop()

    async def run(self, response: ActiveResponse) -> None:
        await self._send("response.created", None, response=self._response_object(response, "in_progress", []))
        output: list[dict[str, Any]] = []
        plan = response.plan
        if plan.interim and not response.cancelled.is_set():
            output.append(await self._message(response, plan.interim, len(output)))
        if plan.mcp is not None:
            output += await self._mcp_call(response, plan.mcp, len(output))
        elif plan.tool is not None:
            output.append(await self._function_call(response, len(output)))
        else:
            output.append(await self._message(response, plan.text, len(output)))
        if response.reason:
            status, details = "cancelled", {"type": "cancelled", "reason": response.reason}
        elif plan.incomplete_reason:
            status, details = "incomplete", {"type": "incomplete", "reason": plan.incomplete_reason}
        else:
            status, details = "completed", None
        done = self._response_object(response, status, output, details, self._usage(response, output))
        await self._send("response.done", None, response=done)

    async def _message(self, response: ActiveResponse, text: str, output_index: int) -> dict[str, Any]:
        audio = "audio" in response.plan.modalities
        item: dict[str, Any] = {
            "id": self._view.ids.new("item"),
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        response.item_id = item["id"]
        await self._announce_item(response, item, output_index)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": output_index, "content_index": 0}
        part_type, text_key = ("audio", "transcript") if audio else ("text", "text")
        await self._send("response.content_part.added", None, **ids, part={"type": part_type, text_key: ""})
        if audio:
            said = await self._stream_audio(response, ids, text)
            await self._send("response.audio.done", None, **ids)
            for event_type in self._extras(response):
                await self._send(event_type.replace(".delta", ".done"), None, **ids)
            await self._send("response.audio_transcript.done", None, **ids, transcript=said)
        else:
            said = await self._stream_text(response, ids, text)
            await self._send("response.text.done", None, **ids, text=said)
        part = {"type": part_type, text_key: said}
        await self._send("response.content_part.done", None, **ids, part=part)
        item.update(status="incomplete" if response.reason else "completed", content=[part])
        await self._send(
            "response.output_item.done", None, response_id=response.id, output_index=output_index, item=item
        )
        return item

    async def _stream_audio(self, response: ActiveResponse, ids: dict[str, Any], text: str) -> str:
        session = response.settings
        audio_format = session["output_audio_format"]
        rate = OUTPUT_RATE_FOR_FORMAT[audio_format]
        spoken = await asyncio.to_thread(synthesize, text, session.get("voice"), rate)
        self._view.spoken[ids["item_id"]] = spoken
        chunk = rate * self._pacing.chunk_ms // 1000
        pieces = list(spoken.pieces)
        extras = self._extras(response)
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
            if self._view.on_output_audio is not None:
                self._view.on_output_audio(samples, rate)
            await self._send("response.audio.delta", due, **ids, delta=b64encode(encode_output(samples, audio_format)))
        return "".join(said)

    def _extras(self, response: ActiveResponse) -> list[str]:
        """The delta events the session asked for beside the audio: word timestamps, visemes."""
        session = response.settings
        extras = []
        if "word" in (session.get("output_audio_timestamp_types") or []):
            extras.append("response.audio_timestamp.delta")
        if "viseme_id" in ((session.get("animation") or {}).get("outputs") or []):
            extras.append("response.animation_viseme.delta")
        return extras

    async def _stream_text(self, response: ActiveResponse, ids: dict[str, Any], text: str) -> str:
        said: list[str] = []
        start = self._loop.time()
        for index, piece in enumerate(split_pieces(text)):
            due = start + index * TEXT_WORD_MS / 1000 / self._pacing.speed
            if await self._wait_unless_cancelled(response, due):
                break
            said.append(piece)
            await self._send("response.text.delta", due, **ids, delta=piece)
        return "".join(said)

    async def _function_call(self, response: ActiveResponse, output_index: int) -> dict[str, Any]:
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
        await self._announce_item(response, item, output_index)
        ids = {
            "response_id": response.id,
            "item_id": item["id"],
            "output_index": output_index,
            "call_id": item["call_id"],
        }
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
        await self._send(
            "response.output_item.done", None, response_id=response.id, output_index=output_index, item=item
        )
        return item

    async def _mcp_call(self, response: ActiveResponse, call: McpCall, output_index: int) -> list[dict[str, Any]]:
        """An MCP call the service runs itself, then the answer that uses its result; or an approval request."""
        done_fields = {"response_id": response.id, "output_index": output_index}
        if call.needs_approval:  # the response ends here; the client answers with an mcp_approval_response item
            request = call.approval_request_item(self._view.ids.new("item"))
            await self._announce_item(response, request, output_index)
            await self._send("response.output_item.done", None, **done_fields, item=request)
            return [request]
        item = call.call_item(self._view.ids.new("item"))
        response.item_id = item["id"]
        await self._announce_item(response, item, output_index)
        ids = {"item_id": item["id"], "output_index": output_index}
        arguments = call.arguments_json
        size = max(1, math.ceil(len(arguments) / ARGUMENT_CHUNKS))
        start = self._loop.time()
        for index in range(0, len(arguments), size):
            due = start + (index // size) * TEXT_WORD_MS / 1000 / self._pacing.speed
            if await self._wait_unless_cancelled(response, due):
                break
            delta = arguments[index : index + size]
            item["arguments"] += delta
            await self._send("response.mcp_call_arguments.delta", due, response_id=response.id, **ids, delta=delta)
        if response.cancelled.is_set():
            await self._send("response.output_item.done", None, **done_fields, item=item)
            return [item]
        await self._send("response.mcp_call_arguments.done", None, response_id=response.id, **ids, arguments=arguments)
        await self._send("response.mcp_call.in_progress", None, **ids)
        outcome = await asyncio.to_thread(call.run)
        item.update(output=outcome.output, error=outcome.error)
        await self._send("response.mcp_call.failed" if outcome.error else "response.mcp_call.completed", None, **ids)
        await self._send("response.output_item.done", None, **done_fields, item=item)
        if response.cancelled.is_set():
            return [item]
        return [item, await self._message(response, outcome.answer, output_index + 1)]

    async def _announce_item(self, response: ActiveResponse, item: dict[str, Any], output_index: int) -> None:
        await self._send(
            "response.output_item.added", None, response_id=response.id, output_index=output_index, item=item
        )
        if response.in_conversation:  # an out-of-band response's items never join the conversation
            previous = self._view.add_item(item)
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
        session = response.settings
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
            "conversation_id": "auto" if response.in_conversation else None,
            "metadata": session.get("metadata"),
        }

    def _usage(self, response: ActiveResponse, output: list[dict[str, Any]]) -> dict[str, Any]:
        """Plausible token counts: about four characters per text token and ten audio tokens a second."""
        session = response.settings
        said = json.dumps([item.get("content") or item.get("arguments") or "" for item in output])
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
