"""Check of lesson 05's exercise: two server VAD settings, ``ONE_TURN`` and ``TWO_TURNS``, for one recording.

The recording is "Hello! Can you hear me?", a pause, then "Who built the pyramids of Giza?" (the kit's samples
and silence). ``TWO_TURNS`` must make each question its own turn; ``ONE_TURN`` must make both one turn. The check
sends the recording to a private practice server once per setting and reads where the service said speech
started and stopped. A setting passes only when the turns it made cover the speech as asked: no turn at all is
not "one turn", and a turn that never ended is not a turn. Messages give the turns it made, the pauses in the
recording, and which knob to move which way. The whole check ends within 20 seconds.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from azure.ai.voicelive.models import RequestSession, ServerVad
from azure.core.credentials import AzureKeyCredential

from ..audio.samples import SAMPLES_DIR
from ..config import Settings
from ..mock import MockServer
from ..recordings import utterance
from ..turn_timeline import HeardTurns, hear_turns
from ..verdicts import CheckFailed, CheckPassed, caller_namespace, forget, mark_passed
from .own_loop import SessionTrouble, run_on_own_loop

TASK = "Exercise 05 (one turn, then two)"
BUDGET_S = 20.0
#: hello.wav, 800 ms of quiet, pyramids.wav, then 3 s of quiet: a microphone keeps sending after you stop.
GAP_MS, TAIL_MS = 800, 3000
RECORDING_PARTS: tuple[str | float, ...] = ("hello.wav", GAP_MS, "pyramids.wav", TAIL_MS)
EXPECTED = {
    "TWO_TURNS": "TWO_TURNS = ServerVad(...) makes two turns: one for each question",
    "ONE_TURN": "ONE_TURN = ServerVad(...) makes one turn holding both questions",
}


def _measured() -> dict[str, dict[str, int]]:
    """The samples' own timings (assets/audio/manifest.json), so the messages name the real pauses."""
    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    return {entry["file"]: entry for entry in manifest["files"]}


_HELLO, _PYRAMIDS = _measured()["hello.wav"], _measured()["pyramids.wav"]
#: The longest pause inside "Hello! Can you hear me?", and the one between the two questions (ms).
PAUSE_IN_HELLO_MS = _HELLO["longest_internal_silence_ms"]
PAUSE_BETWEEN_MS = _HELLO["duration_ms"] - _HELLO["speech_end_ms"] + GAP_MS + _PYRAMIDS["speech_start_ms"]
#: Where the speech starts and ends in the recording (ms).
SPEECH = (_HELLO["speech_start_ms"], _HELLO["duration_ms"] + GAP_MS + _PYRAMIDS["speech_end_ms"])


def recording() -> bytes:
    """The exercise's recording, as 24 kHz mono PCM16."""
    return utterance(*RECORDING_PARTS)


def check_turn_settings(one_turn: Any = None, two_turns: Any = None) -> CheckPassed:
    """Judge ``ONE_TURN`` and ``TWO_TURNS`` (the notebook's, or the ones given) on the exercise's recording."""
    forget(TASK)
    namespace = caller_namespace()
    settings = {
        "TWO_TURNS": two_turns if two_turns is not None else namespace.get("TWO_TURNS"),
        "ONE_TURN": one_turn if one_turn is not None else namespace.get("ONE_TURN"),
    }
    for name, value in settings.items():
        _require_a_server_vad(name, value)
    heard = _hear_both(settings)
    for name, wanted in (("TWO_TURNS", 2), ("ONE_TURN", 1)):
        _judge(name, settings[name], heard[name], wanted)
    mark_passed(TASK, _Settings(settings))
    return CheckPassed(
        TASK,
        f"TWO_TURNS made two turns ({_spans(heard['TWO_TURNS'])}) and ONE_TURN one ({_spans(heard['ONE_TURN'])}).",
    )


class _Settings:
    """What passed, kept for require_check (settings are values, not functions: nothing to compare later)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings


def _require_a_server_vad(name: str, value: Any) -> None:
    if value is None:
        raise CheckFailed(
            TASK,
            EXPECTED[name],
            f"there is no {name} in this notebook yet",
            "run the exercise cell above (it sets ONE_TURN and TWO_TURNS), then this cell again.",
        )
    if isinstance(value, NotImplementedError):
        raise CheckFailed(TASK, EXPECTED[name], f"a stub is still there: {value}", "replace the stub with your code.")
    if not isinstance(value, ServerVad):
        raise CheckFailed(
            TASK,
            EXPECTED[name],
            f"{name} is of type {type(value).__name__}, not a ServerVad",
            f"write {name} = ServerVad(silence_duration_ms=...) (from azure.ai.voicelive.models).",
        )


def _hear_both(settings: dict[str, Any]) -> dict[str, HeardTurns]:
    """Both settings on the recording, each in its own session, on a loop of the check's own."""
    deadline = time.monotonic() + BUDGET_S

    async def hear() -> dict[str, HeardTurns]:
        pcm = recording()
        with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
            practice = Settings(
                backend="practice",
                endpoint=server.endpoint,
                credential=AzureKeyCredential(server.api_key),
                model="gpt-4o",
                voice="en-US-AvaNeural",
                instructions="",
            )
            heard = {}
            for name, vad in settings.items():
                quiet = ServerVad({**vad.as_dict(), "create_response": False})  # turn-taking only, no replies
                heard[name] = await hear_turns(practice, pcm, RequestSession(turn_detection=quiet))
            return heard

    try:
        return run_on_own_loop(hear(), deadline, "turns")
    except SessionTrouble as trouble:
        raise CheckFailed(
            TASK,
            f"both settings tried on the recording within the check's {BUDGET_S:.0f} s",
            trouble.happened("the turns they make"),
            "run the check again; if it happens every time, restart the kernel and run the notebook from the top.",
        ) from None


def _judge(name: str, vad: Any, heard: HeardTurns, wanted: int) -> None:
    if heard.errors:
        raise CheckFailed(
            TASK,
            EXPECTED[name],
            f"the service refused {name}: {heard.errors[0]}",
            "use values the service accepts: threshold 0 to 1, prefix_padding_ms and silence_duration_ms in ms.",
        )
    ended = [(start, end) for start, end in heard.turns if end is not None]
    covers = bool(ended) and ended[0][0] <= SPEECH[0] and ended[-1][1] >= SPEECH[1]
    if len(ended) == wanted and len(heard.turns) == wanted and covers:
        return
    raise CheckFailed(TASK, EXPECTED[name], _what_happened(name, heard), _which_knob(name, vad, heard, wanted))


def _what_happened(name: str, heard: HeardTurns) -> str:
    if not heard.turns:
        return f"{name} made no turn at all: the service heard no speech in the recording"
    made = f"{name} made {len(heard.turns)} turn{'s' * (len(heard.turns) != 1)} ({_spans(heard)})"
    pauses = (
        f"the recording pauses {PAUSE_IN_HELLO_MS} ms inside the first question "
        f"and {PAUSE_BETWEEN_MS} ms between the questions, then is quiet for {TAIL_MS // 1000} s"
    )
    return f"{made}; {pauses}"


def _which_knob(name: str, vad: ServerVad, heard: HeardTurns, wanted: int) -> str:
    threshold = vad.threshold if vad.threshold is not None else 0.5
    silence = vad.silence_duration_ms if vad.silence_duration_ms is not None else 500
    if not heard.turns:
        return f"threshold {threshold} is above the level of the speech: keep it near 0.5 (0 to 1, lower hears more)."
    if any(end is None for _, end in heard.turns):
        return (
            f"silence_duration_ms={silence} is longer than the quiet after the speech, so the turn never ended: "
            f"it must be shorter than {TAIL_MS}."
        )
    if len(heard.turns) > wanted:
        pause = PAUSE_BETWEEN_MS if wanted == 1 else PAUSE_IN_HELLO_MS
        return (
            f"silence_duration_ms={silence} ends a turn in a pause of {pause} ms: "
            f"make it longer than that{f' (and shorter than {TAIL_MS})' if wanted == 1 else ''}."
        )
    return (
        f"silence_duration_ms={silence} waits through the {PAUSE_BETWEEN_MS} ms between the questions: make it "
        f"shorter than that pause, and longer than the {PAUSE_IN_HELLO_MS} ms inside the first question."
    )


def _spans(heard: HeardTurns) -> str:
    return ", ".join(f"{start}-{end if end is not None else '…'} ms" for start, end in heard.turns)
