"""The conversation of one session: its items in order, the user turns behind them, and the reply audio kept."""

from __future__ import annotations

import json
from typing import Any

from .hearing import UserTurn
from .speech import SpokenText

#: A long session keeps the latest items only: the conversation, and the reply audio needed for truncation.
MAX_ITEMS = 1000
MAX_SPOKEN_ITEMS = 32
#: The text the store keeps across all items (audio is never kept); the oldest items go first beyond it.
MAX_STORED_BYTES = 8 * 1024 * 1024


def user_message(item_id: str, part: dict[str, Any]) -> dict[str, Any]:
    """A completed user message item with one content part (typed text, or speech whose words come later)."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [part],
    }


class ItemNotFound(LookupError):
    def __init__(self, item_id: str, param: str) -> None:
        super().__init__(f"No conversation item has the id '{item_id}'.")
        self.param = param


class Conversation:
    """Items by id in conversation order, bounded in count and in bytes."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.user_turns: dict[str, UserTurn] = {}
        self.spoken: dict[str, SpokenText] = {}
        self.user_turn_count = 0
        self._sizes: dict[str, int] = {}
        self._stored_bytes = 0

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.items

    def next_turn_number(self) -> int:
        self.user_turn_count += 1
        return self.user_turn_count

    def add(self, item: dict[str, Any], turn: UserTurn | None = None) -> str | None:
        """Append ``item``; returns the id of the item before it (``None`` for the first)."""
        previous = next(reversed(self.items), None)
        self.items[item["id"]] = item
        if turn is not None:
            self.user_turns[item["id"]] = turn
        self.resize(item)
        while len(self.items) > MAX_ITEMS or (self._stored_bytes > MAX_STORED_BYTES and len(self.items) > 1):
            self._drop(next(iter(self.items)))
        while len(self.spoken) > MAX_SPOKEN_ITEMS:
            del self.spoken[next(iter(self.spoken))]
        return previous

    def resize(self, item: dict[str, Any]) -> None:
        """Count ``item``'s size again after it changed (a reply finished, a transcript arrived)."""
        size = len(json.dumps(item, ensure_ascii=False, default=str))
        self._stored_bytes += size - self._sizes.get(item["id"], 0)
        self._sizes[item["id"]] = size

    def find(self, item_id: str, param: str = "item_id") -> dict[str, Any]:
        if item_id not in self.items:
            raise ItemNotFound(item_id, param)
        return self.items[item_id]

    def delete(self, item_id: str) -> None:
        self.find(item_id)
        self._drop(item_id)

    def last_input(self) -> dict[str, Any] | None:
        """The latest item that is not the assistant's: what the next response answers."""
        return next((i for i in reversed(self.items.values()) if i.get("role") != "assistant"), None)

    def function_call(self, call_id: str) -> dict[str, Any] | None:
        return next(
            (i for i in self.items.values() if i.get("type") == "function_call" and i.get("call_id") == call_id),
            None,
        )

    def _drop(self, item_id: str) -> None:
        del self.items[item_id]
        self.user_turns.pop(item_id, None)
        self.spoken.pop(item_id, None)
        self._stored_bytes -= self._sizes.pop(item_id, 0)
