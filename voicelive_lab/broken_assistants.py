"""Broken versions of the kit's ``BasicVoiceAssistant``, one realistic bug each, to see whether a test catches it.

Each is the kit's class with one handler changed the way a learner (or the lab itself) might get it wrong. Lesson
08 runs tests against them, and its check runs the learner's test against them: a test that passes on all of them
would not catch any of these bugs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .assistant import BasicVoiceAssistant
from .lab_app import _broadcast, assistant_state


class LabBargeInBug(BasicVoiceAssistant):
    """The lab's barge-in: the state is set to 'listening' before it is read, so the reply is never cancelled."""

    async def _handle_speech_started(self, conn):
        self.state_callback("listening", "Listening…")  # changed first...
        _broadcast({"type": "control", "action": "stop_playback"})
        if assistant_state.get("state") in ("assistant_speaking", "processing"):  # ...so this is never true
            self._response_cancelled = True
            await conn.response.cancel()


class NeverProcessing(BasicVoiceAssistant):
    """Forgets the end of the user's turn: it never shows 'processing' while the answer is prepared."""

    async def _handle_speech_stopped(self):
        pass


class DropsAudio(BasicVoiceAssistant):
    """Shows 'assistant_speaking' but never sends the reply's audio to the speaker: the user hears nothing."""

    async def _handle_audio_delta(self, event):
        if self._response_cancelled:
            return
        if assistant_state.get("state") != "assistant_speaking":
            self.state_callback("assistant_speaking", "The assistant is speaking; talk to interrupt.")


@dataclass(frozen=True)
class Bug:
    """A broken class and, in words, what is wrong with it (for messages)."""

    label: str
    assistant_class: type
    what: str


BUGS = (
    Bug(
        "barge-in bug",
        LabBargeInBug,
        "the lab's barge-in bug (it sets 'listening' before it asks whether the assistant was speaking, so it "
        "never cancels a reply you talk over)",
    ),
    Bug("never processing", NeverProcessing, "a class that never shows 'processing' after you stop speaking"),
    Bug("drops audio", DropsAudio, "a class that never plays the reply's audio"),
)
