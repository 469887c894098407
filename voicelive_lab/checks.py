"""Checks for the three sections a learner writes: run their code against a private practice server and
say, in plain words, what was expected, what happened, and which part of the lab it corresponds to.

A failed check raises :class:`CheckFailed`, which a notebook shows as its message alone (no traceback).
"""

from __future__ import annotations

import asyncio
import html
import inspect
import threading
import time
from collections.abc import Coroutine
from typing import Any

from azure.ai.voicelive.models import RequestSession, ServerVad
from azure.core.credentials import AzureKeyCredential

from .assistant import VoiceAssistant
from .audio.samples import sample
from .config import Settings
from .mock import MockServer

SECTION_TITLES = {1: "initialise and start", 2: "configure the session", 3: "handle session events"}
LAB_STATES = ("starting", "ready", "listening", "processing", "assistant_speaking", "ready", "stopped")
EXPECTED_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


class CheckFailed(Exception):
    """A section that does not do what the lab asks, explained for the learner."""

    def __init__(self, section: int, expected: str, happened: str, hint: str) -> None:
        self.section = section
        title = SECTION_TITLES[section]
        super().__init__(
            f"Section {section} ({title}) is not there yet.\n"
            f"  Expected: {expected}\n"
            f"  Happened: {happened}\n"
            f"  Hint:     {hint}"
        )

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a traceback."""
        return ["❌ " + line if index == 0 else line for index, line in enumerate(str(self).splitlines())]


def check_section_1(assistant_class: type[VoiceAssistant]) -> CheckPassed:
    """``__init__`` keeps the five settings; ``start()`` connects, configures, handles events, and stops."""
    with MockServer(speed=20, first_audio_delay_ms=0) as server:
        settings = _settings(server)
        assistant = _construct(assistant_class, settings, section=1)
        for name in ("endpoint", "credential", "model", "voice", "instructions"):
            if getattr(assistant, name, None) is not getattr(settings, name):
                raise CheckFailed(
                    1,
                    f"__init__ keeps {name} as self.{name}",
                    f"self.{name} is {getattr(assistant, name, '(missing)')!r}",
                    f"store each argument, e.g. `self.{name} = {name}` (the lab's __init__ does this for all five).",
                )
        _run(_check_start(assistant, server), section=1, timeout=15)
    return CheckPassed(
        1, "it connects to the practice server, configures the session, reaches 'ready' and stops cleanly."
    )


async def _check_start(assistant: VoiceAssistant, server: MockServer) -> None:
    session = asyncio.ensure_future(_call(assistant.start, section=1))
    deadline = time.monotonic() + 5
    while assistant.state != "ready" and time.monotonic() < deadline and not session.done():
        await asyncio.sleep(0.02)
    if session.done():
        session.result()  # a NotImplementedError or a crash explains itself
        raise CheckFailed(
            1,
            "start() keeps running, handling events, until stop() is called",
            f"start() returned at once (state {assistant.state!r})",
            "inside `async with connect(...) as conn:`, loop with `async for event in conn:`.",
        )
    if assistant.connection is None:
        session.cancel()
        raise CheckFailed(
            1,
            "start() keeps the open connection in self.connection",
            "self.connection is still None",
            "right after `async with connect(...) as conn:`, add `self.connection = conn`.",
        )
    if assistant.state != "ready":
        session.cancel()
        raise CheckFailed(
            1,
            "the session becomes ready (the service answers session.update with session.updated)",
            f"after 5 s the state is {assistant.state!r}",
            "call `await self._configure_session(conn)` and pass every event to "
            "`await self._handle_event(event, conn)`.",
        )
    await assistant.stop()
    try:
        await asyncio.wait_for(asyncio.shield(session), 2)
    except asyncio.TimeoutError:
        session.cancel()
        raise CheckFailed(
            1,
            "start() returns soon after stop() closes the connection",
            "start() was still running 2 s after stop()",
            "leave the `async for` loop when `self._stopping` is set, and let `async with` close the socket.",
        ) from None


def check_section_2(assistant_class: type[VoiceAssistant]) -> CheckPassed:
    """``build_session()`` asks for what the lab configures, and the service accepts it."""
    with MockServer() as server:
        settings = _settings(server)
        for voice, expected_voice in (
            ("en-US-JennyNeural", {"type": "azure-standard", "name": "en-US-JennyNeural"}),
            ("alloy", "alloy"),
        ):
            assistant = _construct(assistant_class, _settings(server, voice=voice), section=2)
            session = _call_sync(assistant.build_session, section=2)
            if not isinstance(session, RequestSession):
                raise CheckFailed(
                    2,
                    "build_session() returns a RequestSession",
                    f"it returned {type(session).__name__}",
                    "build it with `RequestSession(modalities=..., instructions=..., voice=..., ...)` and return it.",
                )
            _compare_session(session.as_dict(), assistant, expected_voice)
        _run(_check_accepted(assistant, settings), section=2, timeout=10)
    return CheckPassed(
        2, "text and audio, your instructions, the voice rule, PCM16 both ways and server VAD; accepted."
    )


def _compare_session(wire: dict[str, Any], assistant: VoiceAssistant, expected_voice: Any) -> None:
    expectations = [
        ("modalities", ["text", "audio"], "modalities=[Modality.TEXT, Modality.AUDIO]"),
        ("instructions", assistant.instructions, "instructions=self.instructions"),
        ("voice", expected_voice, "an Azure voice object for names with a dash, else the plain name"),
        ("input_audio_format", "pcm16", "input_audio_format=InputAudioFormat.PCM16"),
        ("output_audio_format", "pcm16", "output_audio_format=OutputAudioFormat.PCM16"),
        ("turn_detection", EXPECTED_VAD, "ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)"),
    ]
    for field, expected, hint in expectations:
        actual = wire.get(field)
        if field == "turn_detection" and isinstance(actual, dict):
            actual = {key: actual.get(key) for key in EXPECTED_VAD}
        if actual != expected:
            raise CheckFailed(
                2,
                f"{field} = {expected!r}" + (f" (voice setting {assistant.voice!r})" if field == "voice" else ""),
                f"{field} = {actual!r}" if field in wire else f"{field} is not set",
                f"the lab sets {hint}.",
            )


async def _check_accepted(assistant: VoiceAssistant, settings: Settings) -> None:
    from azure.ai.voicelive.aio import connect

    async with connect(endpoint=settings.endpoint, credential=settings.credential, model=settings.model) as conn:
        await conn.session.update(session=assistant.build_session())
        async for event in conn:
            if event.type == "error":
                raise CheckFailed(
                    2,
                    "the service accepts the session",
                    f"it answered with an error: {event.error.message}",
                    "compare the field it names with the lab's session configuration.",
                )
            if event.type == "session.updated":
                return


def check_section_3(assistant_class: type[VoiceAssistant]) -> CheckPassed:
    """The handlers walk the lab's states, play the reply, and cancel it when the user talks over it."""
    from .audio import RecordingSpeaker, WavMicrophone
    from .runner import SessionRunner

    with MockServer(speed=20, first_audio_delay_ms=0) as server:
        runner = SessionRunner(
            _settings(server),
            microphone=WavMicrophone(realtime=False),
            speaker=RecordingSpeaker(realtime=False),
            assistant_factory=assistant_class,
        )
        summary = runner.run_turns([sample("pyramids.wav")], timeout=15)
        if summary.error and "NotImplementedError" in summary.error:
            raise CheckFailed(
                3, "the event handlers run", summary.error, "write the handlers marked in the cell above."
            )
        if summary.states != LAB_STATES:
            raise CheckFailed(
                3,
                "one spoken turn goes " + " → ".join(LAB_STATES),
                "it went " + " → ".join(summary.states) + (f" ({summary.error})" if summary.error else ""),
                "speech_started → listening, speech_stopped → processing, the first audio delta → "
                "assistant_speaking, response.audio.done → ready.",
            )
        if summary.reply_audio is None or not len(summary.reply_audio):
            raise CheckFailed(
                3,
                "the reply's audio reaches the speaker",
                "nothing was played",
                "in the audio delta handler, pass `event.delta` (already bytes) to `self.on_audio(...)`.",
            )
    _check_barge_in(assistant_class)
    return CheckPassed(3, "the lab's states in order, the reply played, and talking over it cancels it.")


def _check_barge_in(assistant_class: type[VoiceAssistant]) -> None:
    """With the service's own barge-in off, only the assistant's response.cancel can stop the reply."""
    from .audio import RecordingSpeaker, WavMicrophone
    from .runner import SessionRunner

    with MockServer(speed=2, first_audio_delay_ms=0) as server:
        microphone, speaker = WavMicrophone(realtime=False), RecordingSpeaker(realtime=True)
        runner = SessionRunner(
            _settings(server),
            microphone=microphone,
            speaker=speaker,
            turn_detection=ServerVad(interrupt_response=False),
            assistant_factory=assistant_class,
        )
        runner.start()
        try:
            runner.wait_for_state("ready", timeout=10)
            microphone.say(sample("pyramids.wav"))
            runner.wait_for_state("assistant_speaking", timeout=10)
            microphone.say(sample("interrupt.wav"))
            runner.wait_for(lambda snap: snap.event_counts.get("response.done", 0) >= 1, timeout=15)
        finally:
            runner.stop()
        first = next((t.status for t in runner.summary().turns if t.status), None)
        if first != "cancelled":
            raise CheckFailed(
                3,
                "talking over the assistant makes it send response.cancel, so the reply stops",
                f"the first reply ended {first!r}",
                "in the speech_started handler, read whether a response is active *before* setting the state "
                "to 'listening' (the lab checked after, so it never cancelled), then `await conn.response.cancel()`.",
            )
        if speaker.buffer.cleared_ms <= 0:
            raise CheckFailed(
                3,
                "the queued reply audio is flushed at once when the user starts talking",
                "playback was not cleared",
                "call `self.on_interrupt()` in the speech_started handler.",
            )


# ----------------------------------------------------------------- helpers


def _settings(server: MockServer, voice: str = "en-US-JennyNeural") -> Settings:
    return Settings(
        backend="practice",
        endpoint=server.endpoint,
        credential=AzureKeyCredential(server.api_key),
        model="gpt-4o",
        voice=voice,
        instructions="You are a friendly history tutor. Keep answers short.",
    )


def _construct(assistant_class: type[VoiceAssistant], settings: Settings, section: int) -> VoiceAssistant:
    try:
        return assistant_class(
            settings.endpoint, settings.credential, settings.model, settings.voice, settings.instructions
        )
    except NotImplementedError as error:
        raise CheckFailed(section, "the class can be created", str(error), "fill in __init__ first.") from None
    except TypeError as error:
        raise CheckFailed(
            section,
            "__init__(endpoint, credential, model, voice, instructions, **options)",
            f"creating it failed: {error}",
            "keep the lab's five parameters, in that order, and pass **options on to self.set_options(**options).",
        ) from None


def _call_sync(method: Any, section: int) -> Any:
    try:
        return method()
    except NotImplementedError as error:
        raise CheckFailed(section, f"{method.__name__}() is written", str(error), "replace the stub's raise.") from None


async def _call(method: Any, section: int) -> Any:
    try:
        result = method()
        return await result if inspect.isawaitable(result) else result
    except NotImplementedError as error:
        raise CheckFailed(section, f"{method.__name__}() is written", str(error), "replace the stub's raise.") from None


def _run(coro: Coroutine[Any, Any, Any], section: int, timeout: float) -> Any:
    """Run on a private loop in a thread: the notebook's own loop is already running."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(asyncio.wait_for(coro, timeout))
        except BaseException as error:  # handed back to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="voicelive-check")
    thread.start()
    thread.join(timeout + 5)
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, CheckFailed):
            raise error
        raise CheckFailed(
            section, "the code runs without an error", f"{type(error).__name__}: {error}", "read the error above."
        )
    return outcome.get("value")


class CheckPassed:
    """What a passing check returns; a notebook shows it as one green line."""

    def __init__(self, section: int, what: str) -> None:
        self.section = section
        self.message = f"✅ Section {section} ({SECTION_TITLES[section]}) works: {what}"

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        return f'<div style="color:#1a7f37;font-weight:600">{html.escape(self.message)}</div>'
