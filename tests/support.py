"""Helpers the tests share: sample speech, SDK connections, event collection, sessions on a practice server,
the browser page's messages played in by hand."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import wave
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from audio_support import wait_until
from azure.ai.voicelive.aio import VoiceLiveConnection, connect
from azure.ai.voicelive.models import ServerEvent
from azure.core.credentials import AzureKeyCredential

from voicelive_lab.audio import RecordingSpeaker, WavMicrophone
from voicelive_lab.browser_audio import BrowserAudio
from voicelive_lab.config import Settings
from voicelive_lab.mock import MockServer
from voicelive_lab.runner import SessionRunner

AUDIO = Path(__file__).resolve().parent.parent / "assets" / "audio"
MANIFEST = {entry["file"]: entry for entry in json.loads((AUDIO / "manifest.json").read_text())["files"]}
RATE = 24000
BYTES_PER_MS = 48
T = TypeVar("T")
#: The lab's states for one spoken turn.
LAB_TURN = ["listening", "processing", "assistant_speaking", "ready"]
#: A spoken response from response.created to response.done, with the streamed deltas folded (see squash).
RESPONSE_WITH_AUDIO = [
    "response.created",
    "response.output_item.added",
    "conversation.item.created",
    "response.content_part.added",
    "<audio+transcript deltas>",
    "response.audio.done",
    "response.audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
]


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine on a fresh loop, failing (not hanging) after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def speech(name: str, lead_ms: int = 0, tail_ms: int = 1000, gain: float = 1.0) -> bytes:
    """A sample utterance as 24 kHz PCM16, with optional extra silence before and after."""
    with wave.open(str(AUDIO / name), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    if gain != 1.0:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * gain
        pcm = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
    return silence(lead_ms) + pcm + silence(tail_ms)


def silence(ms: int) -> bytes:
    return bytes(ms * BYTES_PER_MS)


def noise(ms: int, dbfs: float, seed: int = 1) -> bytes:
    amplitude = 32768 * 10 ** (dbfs / 20)
    samples = np.random.default_rng(seed).standard_normal(ms * RATE // 1000) * amplitude
    return samples.astype("<i2").tobytes()


def level_db(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    return 20 * math.log10(max(float(np.sqrt(np.mean(samples**2))), 1e-9))


@asynccontextmanager
async def session(server: MockServer, **kwargs: Any) -> AsyncIterator[VoiceLiveConnection]:
    """An SDK connection to ``server``, with the practice key unless a credential is given."""
    kwargs.setdefault("credential", AzureKeyCredential(server.api_key))
    kwargs.setdefault("model", "gpt-4o")
    async with connect(endpoint=server.endpoint, **kwargs) as conn:
        yield conn


async def append(conn: VoiceLiveConnection, pcm: bytes, chunk_ms: int = 20) -> None:
    """Send audio the way a microphone would, in ``chunk_ms`` pieces (as fast as possible)."""
    step = chunk_ms * BYTES_PER_MS
    for start in range(0, len(pcm), step):
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[start : start + step]).decode())


async def collect(
    conn: VoiceLiveConnection, until: Callable[[ServerEvent], bool], timeout: float = 15.0
) -> list[ServerEvent]:
    """Events up to and including the first for which ``until`` is true."""
    events: list[ServerEvent] = []

    async def read() -> None:
        async for event in conn:
            events.append(event)
            if until(event):
                return
        raise AssertionError(f"connection ended before the awaited event; got {types(events)}")

    await asyncio.wait_for(read(), timeout)
    return events


def is_type(*names: str) -> Callable[[ServerEvent], bool]:
    return lambda event: event.type in names


async def barrier(conn: VoiceLiveConnection) -> list[ServerEvent]:
    """Everything the server sent before it handled one more client event (it answers in order).

    The probe asks for an item that does not exist; its error carries the probe's own event_id.
    """
    await conn.send({"type": "conversation.item.retrieve", "item_id": "item_none", "event_id": "barrier"})
    events = await collect(conn, lambda e: e.type == "error" and e.error.event_id == "barrier")
    return events[:-1]


def types(events: list[ServerEvent]) -> list[str]:
    return [str(event.type) for event in events]


def squash(names: list[str]) -> list[str]:
    """Event types with runs of the streamed deltas folded into one marker, to compare orders."""
    folded: list[str] = []
    for name in names:
        if name in ("response.audio.delta", "response.audio_transcript.delta"):
            name = "<audio+transcript deltas>"
        elif name == "conversation.item.input_audio_transcription.delta":
            name = "<transcription deltas>"
        if not folded or folded[-1] != name or not name.startswith("<"):
            folded.append(name)
    return folded


def settings_for(server: MockServer, key: str | None = None) -> Settings:
    return Settings(
        backend="practice",
        endpoint=server.endpoint,
        credential=AzureKeyCredential(key or server.api_key),
        model="gpt-4o",
        voice="en-US-JennyNeural",
        instructions="You are a friendly history tutor.",
    )


def scripted_runner(server: MockServer, realtime: bool = False, key: str | None = None) -> SessionRunner:
    return SessionRunner(
        settings_for(server, key),
        microphone=WavMicrophone(realtime=realtime),
        speaker=RecordingSpeaker(realtime=realtime),
    )


def page_says(
    widget: BrowserAudio, kind: str, page: str = "tab-1", payload: bytes | None = None, **fields: Any
) -> None:
    """The page sends a message: the comm hands the widget its content and binary buffers."""
    widget._on_page_message(widget, {"kind": kind, "page": page, **fields}, [memoryview(payload)] if payload else [])


def eventually(condition: Callable[[], bool], timeout: float = 15.0, what: str = "it") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    assert wait_until(condition, timeout), f"{what} did not happen within {timeout:g} s"


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def shown_lines(error_output: Any) -> list[str]:
    """What a learner reads of a cell's error output: its traceback lines, without the colour codes."""
    return [ANSI.sub("", line) for line in error_output.traceback]


def run_exercise(path: Path) -> tuple[Any, list[tuple[Any, Any]]]:
    """An exercise notebook run top to bottom as a learner runs it (a failing cell does not stop the rest):
    the notebook, and each (cell, error output) in order."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    where = {"metadata": {"path": str(path.parent)}}
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True, resources=where).execute()
    errors = [(cell, o) for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "error"]
    return notebook, errors
