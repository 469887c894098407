"""The section checkers pass the reference assistant and catch realistic mistakes, in plain words."""

from __future__ import annotations

from typing import Any

import pytest
from azure.ai.voicelive.aio import connect
from azure.ai.voicelive.models import AzureStandardVoice, Modality, RequestSession, ServerVad

from voicelive_lab.assistant import VoiceAssistant
from voicelive_lab.checks import CheckFailed, check_section_1, check_section_2, check_section_3


@pytest.mark.parametrize("check", [check_section_1, check_section_2, check_section_3])
def test_the_reference_assistant_passes_every_check(check: Any) -> None:
    passed = check(VoiceAssistant)
    assert repr(passed).startswith(f"✅ Section {passed.section}")
    assert "color:#1a7f37" in passed._repr_html_()


class ForgetsTheVoice(VoiceAssistant):
    def __init__(self, endpoint: str, credential: Any, model: str, voice: str, instructions: str, **options: Any):
        super().__init__(endpoint, credential, model, "alloy", instructions, **options)


class DoesNotKeepTheConnection(VoiceAssistant):
    async def start(self) -> None:
        self._set_state("starting")
        async with connect(endpoint=self.endpoint, credential=self.credential, model=self.model) as conn:
            await self._configure_session(conn)
            async for event in conn:
                await self._handle_event(event, conn)
                if self._stopping:
                    break


class ReturnsAfterConfiguring(VoiceAssistant):
    async def start(self) -> None:
        async with connect(endpoint=self.endpoint, credential=self.credential, model=self.model) as conn:
            self.connection = conn
            await self._configure_session(conn)


class AudioOnly(VoiceAssistant):
    def build_session(self) -> RequestSession:
        session = super().build_session()
        session.modalities = [Modality.AUDIO]
        return session


class AlwaysAzureVoice(VoiceAssistant):
    def build_session(self) -> RequestSession:
        session = super().build_session()
        session.voice = AzureStandardVoice(name=self.voice)
        return session


class TooStrictVad(VoiceAssistant):
    def build_session(self) -> RequestSession:
        session = super().build_session()
        session.turn_detection = ServerVad(threshold=0.8, prefix_padding_ms=300, silence_duration_ms=500)
        return session


class LabBargeInBug(VoiceAssistant):
    """The original lab: sets 'listening' first, then checks whether the assistant was speaking."""

    async def _handle_speech_started(self, conn: Any) -> None:
        self.on_interrupt()
        self._set_state("listening")
        if self.state in ("assistant_speaking", "processing") and self._active_response_id:
            await conn.response.cancel()


class SilentSpeaker(VoiceAssistant):
    def _handle_audio_delta(self, event: Any) -> None:
        if self.state != "assistant_speaking":
            self._set_state("assistant_speaking")


class NotWrittenYet(VoiceAssistant):
    def build_session(self) -> RequestSession:
        raise NotImplementedError("Section 2 (configure the session) is not written yet: write build_session here.")


@pytest.mark.parametrize(
    ("check", "assistant", "section", "clue"),
    [
        (check_section_1, ForgetsTheVoice, 1, "self.voice = voice"),
        (check_section_1, DoesNotKeepTheConnection, 1, "self.connection = conn"),
        (check_section_1, ReturnsAfterConfiguring, 1, "async for event in conn"),
        (check_section_2, AudioOnly, 2, "modalities=[Modality.TEXT, Modality.AUDIO]"),
        (check_section_2, AlwaysAzureVoice, 2, "else the plain name"),
        (check_section_2, TooStrictVad, 2, "threshold=0.5"),
        (check_section_2, NotWrittenYet, 2, "not written yet"),
        (check_section_3, LabBargeInBug, 3, "*before* setting the state"),
        (check_section_3, SilentSpeaker, 3, "self.on_audio"),
    ],
)
def test_each_check_catches_a_realistic_mistake(check: Any, assistant: type, section: int, clue: str) -> None:
    with pytest.raises(CheckFailed) as failure:
        check(assistant)
    message = str(failure.value)
    assert failure.value.section == section
    assert message.startswith(f"Section {section} (") and "Expected:" in message and "Happened:" in message
    assert clue in message
    shown = failure.value._render_traceback_()
    assert shown[0].startswith("❌ Section") and len(shown) == 4, "IPython shows four lines, not a traceback"
