"""The client's side of the conversation: creating, truncating, deleting and retrieving items."""

from __future__ import annotations

from typing import Any

from .base64_audio import decode_base64_audio
from .client_events import ClientEventError, require_field
from .conversation import Conversation
from .hearing import Hearing, UserTurn
from .ids import IdFactory
from .mcp import check_approval_response
from .pcm import bytes_per_ms, decode_input
from .responses import Sender

#: An item's audio is heard up to this much (a minute at 24 kHz PCM16); the rest is checked, not kept.
MAX_HEARD_BYTES = 60 * 48_000


class ConversationItems:
    """Handles the ``conversation.item.*`` client events (and ``mcp_approval_response``) for one session."""

    def __init__(self, conversation: Conversation, ids: IdFactory, send: Sender, hearing: Hearing) -> None:
        self._conversation = conversation
        self._ids = ids
        self._send = send
        self._hearing = hearing

    def handlers(self) -> dict[str, Any]:
        return {
            "conversation.item.create": self._on_item_create,
            "mcp_approval_response": self._on_mcp_approval_response,
            "conversation.item.truncate": self._on_item_truncate,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.retrieve": self._on_item_retrieve,
        }

    def _find_item(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._conversation.find(require_field(event, "item_id", str))

    async def _on_item_create(self, event: dict[str, Any]) -> None:
        await self.create_item(require_field(event, "item", dict), event.get("previous_item_id"), "item")

    async def create_item(self, client_item: Any, previous: Any, param: str) -> None:
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
            call_id = require_field(item, "call_id", str, "item.call_id")
            require_field(item, "output", str, "item.output")
            if self._conversation.function_call(call_id) is None:
                raise ClientEventError(
                    f"No function call has the call_id '{call_id}'.", "invalid_value", "item.call_id"
                )
            return None, b""
        if kind == "function_call":
            require_field(item, "name", str, "item.name")
            require_field(item, "call_id", str, "item.call_id")
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
        content = require_field(item, "content", list, "item.content")
        texts: list[str] = []
        audio = b""
        for index, part in enumerate(content):
            part_type = part.get("type") if isinstance(part, dict) else None
            if part_type in ("input_text", "text"):
                texts.append(str(require_field(part, "text", str, f"item.content[{index}].text")))
            elif part_type == "input_audio":
                param = f"item.content[{index}].audio"
                audio += await decode_base64_audio(require_field(part, "audio", str, param), param, MAX_HEARD_BYTES)
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
        audio_end_ms = require_field(event, "audio_end_ms", int)
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
        await self.truncate(item, audio_end_ms)

    async def truncate(self, item: dict[str, Any], audio_end_ms: int) -> None:
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
