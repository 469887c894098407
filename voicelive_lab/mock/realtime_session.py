"""One Voice Live session on one WebSocket: reads client events, keeps the conversation, answers."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .base64_audio import decode_base64_audio
from .brain import NO_RECOGNIZER, reply_to
from .client_events import ClientEventError, check_client_event, load_client_event
from .conversation import Conversation, ItemNotFound
from .faults import Faults
from .hearing import Hearing, UserTurn
from .ids import IdFactory
from .input_audio import InputAudio, effective_sampling_rate
from .mcp import check_approval_response, list_server_tools, plan_after_approval, plan_mcp_call
from .pcm import bytes_per_ms, decode_input
from .recognizer import Recognizer
from .replies import ReplyScript, reply_to_tool_output
from .response_settings import bounded, in_conversation, interim_text, pre_generated_text, response_settings
from .responses import ActiveResponse, ConversationView, Pacing, ResponsePlan, ResponseStreamer
from .session_config import SESSION_LIFETIME_S, InvalidSessionValue, default_session, merge_update, voice_language
from .text_input import TextInput
from .tools import arguments_for, choose_tool
from .turn_taking import ResponseControl, TurnTaker

log = logging.getLogger("voicelive_lab.mock")

#: An item's audio is heard up to this much (a minute at 24 kHz PCM16); the rest is checked, not kept.
MAX_HEARD_BYTES = 60 * 48_000
GREETING = "Hello! I am the practice assistant. Say something, or type a message, and I will answer."
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
        self._agent_introduced = False
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
            "conversation.item.create": self._on_item_create,
            "mcp_approval_response": self._on_mcp_approval_response,
            "conversation.item.truncate": self._on_item_truncate,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
            "output_audio_buffer.clear": self._on_output_clear,
            "input_text.delta": self._text_input.on_delta,
            "input_text.done": self._text_input.on_done,
        }

    # ----------------------------------------------------------------- session

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = _require(event, "session", dict)
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

    def _find_item(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._conversation.find(_require(event, "item_id", str))

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        await self._create_item(_require(event, "item", dict), event.get("previous_item_id"), "item")

    async def _create_item(self, client_item: Any, previous: Any, param: str) -> None:
        """Add a client's item (``conversation.item.create``, or a response's ``append_input_items``)."""
        if not isinstance(client_item, dict):
            raise ClientEventError(f"'{param}' must be an object.", "invalid_type", param)
        item = dict(client_item)
        if previous not in (None, "root") and previous not in self._conversation:
            raise ClientEventError(
                f"No conversation item has the id '{previous}'.", "item_not_found", "previous_item_id"
            )
        if item.get("id") in self._conversation:
            raise ClientEventError(
                f"An item with the id '{item['id']}' already exists.", "duplicate_item_id", f"{param}.id"
            )
        try:
            turn, audio = await self._checked_item(item)
        except ClientEventError as error:
            if error.param and param != "item" and error.param.startswith("item"):
                error.param = param + error.param[len("item") :]
            raise
        item.update(id=item.get("id") or self._ids.new("item"), object="realtime.item", status="completed")
        if item["type"] in ("function_call_output", "mcp_approval_response"):
            item.pop("status")
        for part in item.get("content") or []:
            if isinstance(part, dict):
                part.pop("audio", None)  # the conversation keeps words, not audio (as the service's items show)
        actual_previous = self._conversation.add(item, turn)
        await self._send("conversation.item.created", None, previous_item_id=actual_previous, item=item)
        if turn is not None and turn.spoken:
            turn.heard = self._hearing.start(item, decode_input(audio, "pcm16"), 24000, turn)

    async def _on_mcp_approval_response(self, event: dict[str, Any]) -> None:
        """The standalone event (in the SDK's ClientEventType) does what an ``mcp_approval_response`` item does."""
        answer = {key: event[key] for key in ("approval_request_id", "approve", "reason") if key in event}
        await self._on_item_create({"item": {"type": "mcp_approval_response", **answer}})

    async def _checked_item(self, item: dict[str, Any]) -> tuple[UserTurn | None, bytes]:
        """Checks a client item; returns the user turn it starts (if it is a user message) and its audio."""
        kind = item.get("type")
        if kind == "function_call_output":
            call_id = _require(item, "call_id", str, "item.call_id")
            _require(item, "output", str, "item.output")
            if self._conversation.function_call(call_id) is None:
                raise ClientEventError(
                    f"No function call has the call_id '{call_id}'.", "invalid_value", "item.call_id"
                )
            return None, b""
        if kind == "function_call":
            _require(item, "name", str, "item.name")
            _require(item, "call_id", str, "item.call_id")
            return None, b""
        if kind == "mcp_approval_response":
            check_approval_response(item, self._conversation.items)
            return None, b""
        if kind != "message":
            raise ClientEventError(
                "item.type must be 'message', 'function_call', 'function_call_output' or 'mcp_approval_response'.",
                "invalid_value",
                "item.type",
            )
        role = item.get("role")
        if role not in ("user", "assistant", "system"):
            raise ClientEventError("item.role must be 'user', 'assistant' or 'system'.", "invalid_value", "item.role")
        content = _require(item, "content", list, "item.content")
        texts: list[str] = []
        audio = b""
        for index, part in enumerate(content):
            part_type = part.get("type") if isinstance(part, dict) else None
            if part_type in ("input_text", "text"):
                texts.append(str(_require(part, "text", str, f"item.content[{index}].text")))
            elif part_type == "input_audio":
                param = f"item.content[{index}].audio"
                audio += await decode_base64_audio(_require(part, "audio", str, param), param, MAX_HEARD_BYTES)
            elif part_type != "audio":
                raise ClientEventError(
                    f"Unsupported content part type {part_type!r}.", "invalid_value", f"item.content[{index}].type"
                )
        if role != "user":
            return None, b""
        speech_ms = round(len(audio) / bytes_per_ms("pcm16", 24000))
        turn = UserTurn(
            self._conversation.next_turn_number(), text=" ".join(texts), speech_ms=speech_ms, spoken=not texts
        )
        return turn, audio

    async def _on_item_truncate(self, event: dict[str, Any]) -> None:
        item = self._find_item(event)
        audio_end_ms = _require(event, "audio_end_ms", int)
        content_index = event.get("content_index", 0)
        spoken = self._conversation.spoken.get(item["id"])
        if spoken is None or item.get("role") != "assistant":
            raise ClientEventError("Only an assistant message with audio can be truncated.", "invalid_value", "item_id")
        if content_index != 0:
            raise ClientEventError(
                "This item has one content part: use content_index 0.", "invalid_value", "content_index"
            )
        if not 0 <= audio_end_ms <= spoken.duration_ms:
            raise ClientEventError(
                f"audio_end_ms must be between 0 and the item's {spoken.duration_ms} ms of audio.",
                "invalid_value",
                "audio_end_ms",
            )
        await self._truncate(item, audio_end_ms)

    async def _truncate(self, item: dict[str, Any], audio_end_ms: int) -> None:
        spoken = self._conversation.spoken[item["id"]]
        cutoff = audio_end_ms * spoken.sample_rate / 1000
        heard = "".join(piece for start, piece in spoken.pieces if start < cutoff)
        for part in item.get("content", []):
            if part.get("type") == "audio":
                part["transcript"] = heard
        self._conversation.resize(item)
        await self._send(
            "conversation.item.truncated", None, item_id=item["id"], content_index=0, audio_end_ms=audio_end_ms
        )

    async def _on_item_delete(self, event: dict[str, Any]) -> None:
        item = self._find_item(event)
        self._conversation.delete(item["id"])
        await self._send("conversation.item.deleted", None, item_id=item["id"])

    async def _on_item_retrieve(self, event: dict[str, Any]) -> None:
        await self._send("conversation.item.retrieved", None, item=self._find_item(event))

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
            await self._create_item(item, None, f"response.append_input_items[{index}]")
        await self._start_response(params, settings)

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self._response is None or (wanted is not None and wanted != self._response.id):
            raise ClientEventError("Cancellation failed: no active response found.", "response_cancel_not_active")
        await self._cancel_response("client_cancelled", truncate=False)

    async def _plan(self, params: dict[str, Any], settings: dict[str, Any]) -> ResponsePlan:
        """What the response says or calls: it waits for the words of the user's last turn."""
        began = asyncio.get_running_loop().time()
        plan = await self._choose_reply(params, settings)
        waited_ms = (asyncio.get_running_loop().time() - began) * 1000
        interim = interim_text(settings, plan.tool is not None or plan.mcp is not None, waited_ms)
        if interim is not None:
            plan = dataclasses.replace(plan, interim=interim)
        agent = self.session.get("agent")
        if agent and not self._agent_introduced and plan.text and plan.tool is None:
            self._agent_introduced = True  # the first answer says which agent answered, as agent replies do
            plan = dataclasses.replace(plan, text=f"{agent.get('name')} here. {plan.text}")
        return bounded(plan, settings)

    async def _choose_reply(self, params: dict[str, Any], settings: dict[str, Any]) -> ResponsePlan:
        modalities = tuple(settings["modalities"])
        pre_generated = pre_generated_text(params)
        if pre_generated is not None:
            return ResponsePlan(modalities, pre_generated)
        if isinstance(params.get("input_items"), list):
            context = [item for item in params["input_items"] if isinstance(item, dict)]
            last = next((i for i in reversed(context) if i.get("role") != "assistant"), None)
        else:
            last = self._conversation.last_input()
        if last is not None and last.get("type") == "function_call_output":
            call = self._conversation.function_call(str(last.get("call_id"))) or {}
            return ResponsePlan(modalities, reply_to_tool_output(str(call.get("name", "tool")), str(last["output"])))
        if last is not None and last.get("type") == "mcp_approval_response":
            return plan_after_approval(modalities, last, settings.get("tools") or [], self._conversation.items)
        turn = self._conversation.user_turns.get(str(last.get("id"))) if last is not None else None
        if turn is None and last is not None and last.get("type") == "message":
            turn = UserTurn(0, text=_item_text(last))
        if turn is None:
            return ResponsePlan(modalities, GREETING)
        if turn.heard is not None:
            turn.text = await asyncio.shield(turn.heard)
        tools, tool_choice = settings.get("tools") or [], settings.get("tool_choice")
        mcp_plan = plan_mcp_call(modalities, tools, tool_choice, turn.text, self._conversation.items)
        if mcp_plan is not None:
            return mcp_plan
        tool = choose_tool(tools, tool_choice, turn.text)
        if tool is not None:
            return ResponsePlan(modalities, tool=tool, arguments=arguments_for(tool.get("parameters"), turn.text))
        scripted = self._options.script.reply_for(turn.number, turn.text)
        if scripted is not None:
            return ResponsePlan(modalities, scripted)
        if turn.spoken and not self._hearing.hears_words:
            return ResponsePlan(modalities, NO_RECOGNIZER.format(seconds=turn.speech_ms / 1000))
        instructions = str(settings.get("instructions") or "")
        return ResponsePlan(modalities, reply_to(turn.text, instructions, voice_language(settings)))

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
            response.plan = await self._plan(params, response.settings)
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
            await self._truncate(item, round(min(response.audio_ms_sent, max(elapsed_ms, 0))))


def _item_text(item: dict[str, Any]) -> str:
    parts = item.get("content") if isinstance(item.get("content"), list) else []
    return " ".join(str(p.get("text") or p.get("transcript") or "") for p in parts if isinstance(p, dict)).strip()


def _require(event: dict[str, Any], key: str, kind: type, param: str | None = None) -> Any:
    value = event.get(key)
    if value is None:
        raise ClientEventError(f"Missing required field '{param or key}'.", "missing_required_parameter", param or key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ClientEventError(f"'{param or key}' must be of type {kind.__name__}.", "invalid_type", param or key)
    return value
