"""One Voice Live session on one WebSocket: reads client events, keeps the conversation, answers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .client_events import ClientEventError, check_client_event, load_client_event, require_field
from .conversation import Conversation, ItemNotFound
from .conversation_items import ConversationItems
from .faults import Faults
from .hearing import Hearing
from .ids import IdFactory
from .input_audio import InputAudio, effective_sampling_rate
from .mcp import list_server_tools
from .recognizer import Recognizer
from .replies import ReplyScript
from .reply_planner import ReplyPlanner
from .response_settings import in_conversation, response_settings
from .responses import ActiveResponse, ConversationView, Pacing, ResponseStreamer
from .session_config import SESSION_LIFETIME_S, InvalidSessionValue, default_session, merge_update
from .text_input import TextInput
from .turn_taking import ResponseControl, TurnTaker

log = logging.getLogger("voicelive_lab.mock")

#: When the connection ends, how long a reply in progress may take to wind down before it is cancelled.
RESPONSE_STOP_TIMEOUT_S = 1.0
UNSUPPORTED_EVENTS = frozenset(
    {
        "session.avatar.connect",
        "transcription_session.update",
    }
)

EventObserver = Callable[[dict[str, Any], float], None]


@dataclass(frozen=True)
class SessionOptions:
    seed: int = 0
    pacing: Pacing = field(default_factory=Pacing)
    script: ReplyScript = field(default_factory=ReplyScript)
    faults: Faults = field(default_factory=Faults)
    observer: EventObserver | None = None
    server_barge_in: bool = True
    #: None: the process's recognizer (pocketsphinx, else a placeholder), loaded on first use.
    recognizer: Recognizer | None = None
    #: A session ends this long after it opened, as the service's sessions do (``expires_at``).
    lifetime_s: float = SESSION_LIFETIME_S


class RealtimeSession:
    """Speaks the Voice Live protocol with one client until either side closes."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        options: SessionOptions,
        session_number: int,
        model: str,
        agent: dict[str, Any] | None = None,
    ) -> None:
        self._ws = ws
        self._options = options
        self._faults = options.faults
        self._ids = IdFactory(options.seed, session_number)
        self.session = default_session(self._ids.new("sess"), model, agent, options.lifetime_s)
        self._conversation = Conversation()
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._silent = False
        self._events_sent = 0
        self._audio_deltas_sent = 0
        self._input = InputAudio(lambda: self.session)
        self._hearing = Hearing(self._send, options.recognizer, options.script, lambda: self.session)
        self._response: ActiveResponse | None = None
        self._queued_params: dict[str, Any] | None = None
        self._items = ConversationItems(self._conversation, self._ids, self._send, self._hearing)
        self._planner = ReplyPlanner(self._conversation, self._hearing, options.script, lambda: self.session)
        view = ConversationView(
            self._ids,
            lambda: self.session,
            self._conversation.add,
            lambda: self._closing,
            self._conversation.spoken,
            on_output_audio=self._input.remember_output,
        )
        self._streamer = ResponseStreamer(self._send, view, options.pacing)
        self._text_input = TextInput(self._conversation, self._send, lambda: self.session, self._start_response)
        responses = ResponseControl(lambda: self._response is not None, self._start_response, self._cancel_response)
        self._turns = TurnTaker(
            lambda: self.session,
            self._input,
            self._conversation,
            self._hearing,
            self._send,
            self._ids,
            responses,
            options.server_barge_in,
            options.recognizer,
        )

    @property
    def id(self) -> str:
        return str(self.session["id"])

    async def run(self) -> None:
        await self._send("session.created", None, session=self.session)
        expiry = asyncio.create_task(self._expire_after(self._options.lifetime_s))
        try:
            async for message in self._ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(message.data)
                elif message.type == WSMsgType.BINARY:
                    await self._send_error("Send events as JSON text frames, not binary frames.", "invalid_frame")
                if self._closing:
                    break
        finally:
            self._closing = True
            expiry.cancel()
            await self._hearing.close()
            response = self._response
            if response is not None and response.task is not None:
                response.cancelled.set()
                # A client that stopped reading leaves the reply stuck in a write: stop waiting for it.
                _, stuck = await asyncio.wait({response.task}, timeout=RESPONSE_STOP_TIMEOUT_S)
                for task in stuck:
                    task.cancel()
                await asyncio.gather(response.task, return_exceptions=True)

    async def send_error_event(self, error: dict[str, Any]) -> None:
        """Report an error to the client, as the service does when something fails on its side."""
        await self._send("error", None, error={"event_id": None, "param": None, **error})

    async def _expire_after(self, lifetime_s: float) -> None:
        await asyncio.sleep(lifetime_s)
        minutes = f"{lifetime_s / 60:g} minutes" if lifetime_s >= 60 else f"{lifetime_s:g} seconds"
        await self.send_error_event(
            {
                "type": "invalid_request_error",
                "code": "session_expired",
                "message": f"Your session hit the maximum duration of {minutes}: connect again to go on.",
            }
        )
        await self.close(1000, "session expired")

    async def close(self, code: int, reason: str = "") -> None:
        self._closing = True
        await self._ws.close(code=code, message=reason.encode())

    # ----------------------------------------------------------------- sending

    async def _send(self, event_type: str, due: float | None = None, /, **fields: Any) -> None:
        if self._closing or self._silent or self._ws.closed:
            return
        if self._faults.event_delay_ms:
            await asyncio.sleep(self._faults.event_delay_ms / 1000)
        event = {"type": event_type, "event_id": self._ids.new("event"), **fields}
        async with self._send_lock:
            try:
                await self._ws.send_str(json.dumps(event))
            except (ConnectionError, RuntimeError):
                self._closing = True
                return
        self._events_sent += 1
        if self._options.observer is not None:
            self._options.observer(event, due if due is not None else asyncio.get_running_loop().time())
        await self._after_send(event_type)

    async def _after_send(self, event_type: str) -> None:
        faults, count = self._faults, self._events_sent
        if event_type == "response.audio.delta":
            self._audio_deltas_sent += 1
            if faults.close_after_audio_deltas == self._audio_deltas_sent:
                await self.close(faults.close_code, "fault injection: closed mid-response")
                return
        if faults.malformed_after_events == count:
            async with self._send_lock:
                await self._ws.send_str("this frame is not JSON {")
        if faults.error_after_events == count:
            await self._send("error", None, error=dict(faults.error, event_id=None))
            if faults.close_after_error:
                await self.close(faults.close_code, "fault injection: error")
                return
        if faults.close_after_events == count:
            await self.close(faults.close_code, "fault injection: closed")
        if faults.silent_after_events == count:
            self._silent = True

    async def _send_error(
        self, message: str, code: str, param: str | None = None, client_event_id: str | None = None
    ) -> None:
        log.debug("session %s: client error %s (%s)", self.id, code, param)
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        }
        await self._send("error", None, error=error)

    # ----------------------------------------------------------------- dispatch

    async def _on_text(self, data: str) -> None:
        """Reads, checks and handles one client event; whatever the frame holds, the session goes on."""
        client_event_id = None
        try:
            event = load_client_event(data)
            client_event_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
            check_client_event(event)  # every handler sees fields of the types the SDK's models declare
            handler = self._handlers().get(event["type"])
            if handler is not None:
                await handler(event)
            elif event["type"] in UNSUPPORTED_EVENTS:
                raise ClientEventError(
                    f"'{event['type']}' is not supported by the practice server.", "unsupported_event", "type"
                )
            else:
                raise ClientEventError(f"Unknown event type '{event['type']}'.", "unknown_event_type", "type")
        except InvalidSessionValue as error:
            await self._send_error(str(error), error.code, error.param, client_event_id)
        except ClientEventError as error:
            await self._send_error(str(error), error.code, error.param, client_event_id)
        except ItemNotFound as error:
            await self._send_error(str(error), "item_not_found", error.param, client_event_id)
        except Exception:
            log.exception("session %s: a client event failed", self.id)
            details = {"type": "server_error", "code": "internal_error", "event_id": client_event_id}
            await self.send_error_event({**details, "message": "The practice server failed to handle this event."})

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "session.update": self._on_session_update,
            **self._turns.handlers(),
            **self._items.handlers(),
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_clear,
            "input_text.delta": self._text_input.on_delta,
            "input_text.done": self._text_input.on_done,
        }

    # ----------------------------------------------------------------- session

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = require_field(event, "session", dict)
        merged = merge_update(self.session, update)
        merged["input_audio_sampling_rate"] = effective_sampling_rate(
            merged, self.session, "input_audio_sampling_rate" in update
        )
        audio_changed = any(
            merged.get(key) != self.session.get(key)
            for key in ("turn_detection", "input_audio_format", "input_audio_sampling_rate")
        )
        previous_tools, self.session = self.session.get("tools"), merged
        if audio_changed:
            self._turns.reset()
        await self._send("session.updated", None, session=self.session)
        await list_server_tools(
            previous_tools, self.session.get("tools"), self._ids, self._conversation.add, self._send
        )
        if self.session.get("agent") and "instructions" in event["session"]:
            warning = {
                "code": "instructions_ignored_in_agent_mode",
                "message": "This session talks to a Foundry agent: its instructions come from the agent, so "
                "'instructions' in session.update are not used.",
                "param": "session.instructions",
            }
            await self._send("warning", None, warning=warning)

    # ----------------------------------------------------------------- input audio

    async def _on_output_clear(self, event: dict[str, Any]) -> None:
        """The audio not yet sent is dropped: the reply stops where it is, cut where the client stopped hearing it."""
        response = self._response
        if response is not None and response.first_audio_at is not None:
            await self._cancel_response("client_cancelled", truncate=True)
        await self._send("output_audio_buffer.cleared")

    # ----------------------------------------------------------------- conversation

    # ----------------------------------------------------------------- responses

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        additional = event.get("additional_instructions")
        settings = response_settings(self.session, params, additional)  # refuses a bad override before anything
        if self._response is not None:
            if params.get("cancel_previous") is not True:
                raise ClientEventError(
                    f"Conversation already has an active response ({self._response.id}); cancel it, wait for "
                    "response.done, or send cancel_previous: true.",
                    "conversation_already_has_active_response",
                )
            await self._cancel_response("client_cancelled", truncate=False)
        for index, item in enumerate(params.get("append_input_items") or []):
            await self._items.create_item(item, None, f"response.append_input_items[{index}]")
        await self._start_response(params, settings)

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted is not None and wanted != self._response.id):
            raise ClientEventError("Cancellation failed: no active response found.", "response_cancel_not_active")
        await self._cancel_response("client_cancelled", truncate=False)

    async def _start_response(self, params: dict[str, Any], settings: dict[str, Any] | None = None) -> None:
        if self._response is not None:
            self._queued_params = params
            return
        response = ActiveResponse(
            self._ids.new("resp"), settings=settings or self.session, in_conversation=in_conversation(params)
        )
        self._response = response
        response.task = asyncio.create_task(self._run_response(response, params))

    async def _run_response(self, response: ActiveResponse, params: dict[str, Any]) -> None:
        try:
            response.plan = await self._planner.plan(params, response.settings)
            await self._streamer.run(response)
        except Exception:
            log.exception("session %s: response %s failed", self.id, response.id)
        finally:
            self._response = None
            queued, self._queued_params = self._queued_params, None
            if queued is not None and not self._closing:
                await self._start_response(queued)

    async def _cancel_response(self, reason: str, truncate: bool) -> None:
        response = self._response
        if response is None or response.task is None:
            return
        response.reason = reason
        response.cancelled.set()
        await asyncio.gather(response.task, return_exceptions=True)
        self._input.output_stopped()
        item = self._conversation.items.get(response.item_id or "")
        if truncate and item is not None and item["id"] in self._conversation.spoken:
            elapsed_ms = (asyncio.get_running_loop().time() - (response.first_audio_at or 0)) * 1000
            await self._items.truncate(item, round(min(response.audio_ms_sent, max(elapsed_ms, 0))))
