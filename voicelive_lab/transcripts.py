"""TranscriptTracker: the conversation's lines and the active reply, read off the server's events.

The lab's class handles no transcript events, so the runner follows them itself from the events the class's
event loop passes on: what the user said (input transcription) or typed (a text message item), what the
assistant is saying (transcript deltas, growing), and how each reply ended: interrupted when it was cancelled,
or when playback was flushed while it was still being heard (a barge-in after the service had sent all of it).
"""

from __future__ import annotations

from typing import Any

from .session_log import SessionLog


class TranscriptTracker:
    def __init__(self, log: SessionLog) -> None:
        self._log = log
        self.active_response_id: str | None = None
        self._cut_off: set[str] = set()  # replies stopped with Interrupt: their late text is not shown
        self._text: dict[str, str] = {}
        self._heard_partly: set[str] = set()  # assistant items whose playback was flushed
        self._last_reply: tuple[str, str, bool] | None = None  # (item id, text, final) of the latest reply line

    def cut_off(self, response_id: str | None) -> None:
        """This reply was interrupted: drop the text that still arrives for it."""
        if response_id is not None:
            self._cut_off.add(response_id)

    def playback_cut(self) -> None:
        """Playback was flushed while the latest reply was still sounding: the learner heard only part of it."""
        if self._last_reply is not None:
            item_id, text, final = self._last_reply
            self._heard_partly.add(item_id)
            self._log.transcript("assistant", item_id, text, final=final, interrupted=True)

    def _reply_line(self, item_id: str, text: str, final: bool, interrupted: bool) -> None:
        self._last_reply = (item_id, text, final)
        cut = interrupted or item_id in self._heard_partly
        self._log.transcript("assistant", item_id, text, final=final, interrupted=cut)

    def on_event(self, event: Any) -> None:
        kind = str(event.type)
        if kind == "response.created":
            self.active_response_id = event.response.id
        elif kind in ("response.audio_transcript.delta", "response.text.delta"):
            if event.response_id not in self._cut_off:
                text = self._text.get(event.item_id, "") + (event.delta or "")
                self._text[event.item_id] = text
                self._reply_line(event.item_id, text, final=False, interrupted=False)
        elif kind == "conversation.item.created":
            self._typed_message(event.item)
        elif kind == "conversation.item.input_audio_transcription.completed":
            self._log.transcript("user", event.item_id, event.transcript or "", final=True, interrupted=False)
        elif kind == "response.done":
            self._finish(event.response)

    def _typed_message(self, item: Any) -> None:
        """A user message sent as text (the panel's text box, ``send_text``, a learner's own item): a "You:" line."""
        if getattr(item, "type", None) != "message" or getattr(item, "role", None) != "user":
            return
        typed = [part.text for part in item.content or [] if getattr(part, "type", None) == "input_text" and part.text]
        if typed:
            self._log.transcript("user", item.id, " ".join(typed), final=True, interrupted=False)

    def _finish(self, response: Any) -> None:
        if response.id == self.active_response_id:
            self.active_response_id = None
        self._cut_off.discard(response.id)
        cancelled = response.status == "cancelled"
        for item in response.output or []:
            text = self._text.pop(item.id, None)
            if text is not None:
                self._reply_line(item.id, text, final=True, interrupted=cancelled)
