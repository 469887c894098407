"""Typed text streamed into a user message: ``input_text.delta`` pieces, then ``input_text.done`` ends the turn."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .client_events import ClientEventError
from .conversation import Conversation, user_message
from .hearing import UserTurn
from .responses import Sender

#: Bounds on text still being typed: how many messages at once, and how long one may grow.
MAX_OPEN_MESSAGES = 16
MAX_TEXT_CHARS = 32_000


class TextInput:
    """Collects streamed text per item id; on ``done`` the text becomes a user message, answered like a turn."""

    def __init__(
        self,
        conversation: Conversation,
        send: Sender,
        session: Callable[[], dict[str, Any]],
        start_response: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self._conversation = conversation
        self._send = send
        self._session = session
        self._start_response = start_response
        self._open: dict[str, list[str]] = {}

    async def on_delta(self, event: dict[str, Any]) -> None:
        item_id, delta = event.get("id"), event.get("delta")
        if not isinstance(item_id, str) or not item_id:
            raise ClientEventError("input_text.delta needs the 'id' of the message it adds to.", "invalid_value", "id")
        if not isinstance(delta, str):
            raise ClientEventError("'delta' must be a string.", "invalid_type", "delta")
        if item_id in self._conversation:
            raise ClientEventError(f"The item '{item_id}' is already complete.", "invalid_value", "id")
        if item_id not in self._open and len(self._open) >= MAX_OPEN_MESSAGES:
            raise ClientEventError(
                f"At most {MAX_OPEN_MESSAGES} typed messages can be open at once; finish one with input_text.done.",
                "invalid_value",
                "id",
            )
        pieces = self._open.setdefault(item_id, [])
        if sum(map(len, pieces)) + len(delta) > MAX_TEXT_CHARS:
            raise ClientEventError(
                f"A typed message holds at most {MAX_TEXT_CHARS} characters.", "invalid_value", "delta"
            )
        pieces.append(delta)

    async def on_done(self, event: dict[str, Any]) -> None:
        item_id = event.get("id")
        if not isinstance(item_id, str) or item_id not in self._open:
            raise ClientEventError(
                f"No typed message with the id {item_id!r} is open: send input_text.delta first.", "invalid_value", "id"
            )
        text = "".join(self._open.pop(item_id))
        item = user_message(item_id, {"type": "input_text", "text": text})
        turn = UserTurn(self._conversation.next_turn_number(), text=text)
        previous = self._conversation.add(item, turn)
        await self._send("conversation.item.created", None, previous_item_id=previous, item=item)
        detection = self._session().get("turn_detection")
        if detection is not None and detection.get("create_response", True):
            await self._start_response({})
