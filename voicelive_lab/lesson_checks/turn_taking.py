"""Check of lesson 05's exercise: ``one_turn()`` and ``two_turns()``, two server VAD settings for one recording.

The recording is "Hello! Can you hear me?", a pause, then "Who built the pyramids of Giza?" (the kit's samples
and silence), then the quiet a microphone keeps sending. ``two_turns()`` must make each question its own turn;
``one_turn()`` must make both one turn. The check calls each function (bounded in time, the learner's line on an
error), sends the recording to a private practice server once per setting, and reads where the service said
speech started and stopped. A setting passes only when its turns cover the speech as asked: no turn at all is
not "one turn", and a turn that never ended is not a turn. Messages give the turns it made, where speech
stopped, the pauses in the recording, and which knob to move which way. The whole check ends within 20 s.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from typing import Any

from azure.ai.voicelive.models import RequestSession, ServerVad
from azure.core.credentials import AzureKeyCredential

from ..config import Settings
from ..learner_calls import call_learner
from ..learner_code import definition_of
from ..mock import MockServer
from ..recordings import utterance
from ..turn_timeline import HeardTurns, Span, hear_turns, speech_spans
from ..verdicts import CheckFailed, CheckPassed, caller_namespace, forget, mark_passed
from .own_loop import SessionTrouble, run_on_own_loop

TASK = "Exercise 05 (one turn, then two)"
BUDGET_S = 20.0
CALL_S = 5.0
#: hello.wav, 800 ms of quiet, pyramids.wav, then 3 s of quiet: a microphone keeps sending after you stop.
GAP_MS, TAIL_MS = 800, 3000
RECORDING_PARTS: tuple[str | float, ...] = ("hello.wav", GAP_MS, "pyramids.wav", TAIL_MS)
#: The service's defaults, for hints about a setting the learner left out.
DEFAULT_THRESHOLD, DEFAULT_SILENCE_MS = 0.5, 500
WANTED = {"one_turn": 1, "two_turns": 2}
EXPECTED = {
    "two_turns": "two_turns() returns a ServerVad under which the recording is two turns, one per question",
    "one_turn": "one_turn() returns a ServerVad under which the recording is one turn holding both questions",
}


def recording() -> bytes:
    """The exercise's recording, as 24 kHz mono PCM16."""
    return utterance(*RECORDING_PARTS)


def _layout() -> tuple[list[Span], Span, Span, int]:
    """The speech (start, end), the pause inside "Hello! Can you hear me?", the one between the questions
    (each as (start_ms, end_ms)), and the recording's length (ms), measured from the recording itself."""
    pcm = recording()
    spans = speech_spans(pcm)
    pauses = [(before[1], after[0]) for before, after in itertools.pairwise(spans)]
    between = max(pauses, key=lambda pause: pause[1] - pause[0])
    inside = max((p for p in pauses if p[1] <= between[0]), key=lambda pause: pause[1] - pause[0])
    return spans, inside, between, len(pcm) // 48


SPANS, PAUSE_INSIDE, PAUSE_BETWEEN, LENGTH_MS = _layout()
SPEECH = (SPANS[0][0], SPANS[-1][1])
PAUSE_INSIDE_MS = PAUSE_INSIDE[1] - PAUSE_INSIDE[0]
PAUSE_BETWEEN_MS = PAUSE_BETWEEN[1] - PAUSE_BETWEEN[0]
QUIET_AFTER_MS = LENGTH_MS - SPEECH[1]
PAUSES = (
    f"the recording's speech runs {SPEECH[0]}-{SPEECH[1]} ms; it pauses {PAUSE_INSIDE_MS} ms after 'Hello!' "
    f"({PAUSE_INSIDE[0]}-{PAUSE_INSIDE[1]} ms) and {PAUSE_BETWEEN_MS} ms between the questions "
    f"({PAUSE_BETWEEN[0]}-{PAUSE_BETWEEN[1]} ms), then is quiet for {QUIET_AFTER_MS} ms"
)


def check_turn_settings(
    one_turn: Callable[[], Any] | None = None, two_turns: Callable[[], Any] | None = None
) -> CheckPassed:
    """Judge ``one_turn`` and ``two_turns`` (the notebook's, or the ones given) on the exercise's recording."""
    forget(TASK)
    deadline = time.monotonic() + BUDGET_S
    namespace = caller_namespace()
    functions = {
        "one_turn": one_turn if one_turn is not None else namespace.get("one_turn"),
        "two_turns": two_turns if two_turns is not None else namespace.get("two_turns"),
    }
    settings = {name: _setting_from(name, function, deadline) for name, function in functions.items()}
    heard = _hear_all(settings, deadline)
    for name, setting in settings.items():
        _judge(name, functions[name], setting, heard[name])
    mark_passed(TASK, functions["one_turn"])
    return CheckPassed(
        TASK,
        f"one_turn() made one turn ({_spans(heard['one_turn'])}) and two_turns() two ({_spans(heard['two_turns'])}).",
        tips=(
            "a longer silence_duration_ms also makes every answer come later: each turn ends that long after you "
            "stop. Semantic VAD (next section) waits only when the words sound unfinished.",
        ),
    )


def _setting_from(name: str, function: Any, deadline: float) -> ServerVad:
    """What the learner's function returns, if it is a ServerVad; else a CheckFailed naming their code."""
    if function is None:
        raise CheckFailed(
            TASK,
            EXPECTED[name],
            f"there is no function called `{name}` in this notebook yet",
            "run the exercise cell above (it defines one_turn and two_turns), then this cell again.",
        )
    if not callable(function):
        raise CheckFailed(
            TASK,
            EXPECTED[name],
            f"`{name}` is a {type(function).__name__}, not a function",
            f"define it as a function: `def {name}():` with `return ServerVad(silence_duration_ms=...)` inside.",
        )
    remaining = deadline - time.monotonic()
    value = call_learner(TASK, function, expected=EXPECTED[name], timeout_s=max(0.5, min(CALL_S, remaining - 8)))
    if isinstance(value, ServerVad):
        return value
    line = definition_of(function)
    if value is None:
        returned = "None"
        hint = f"end {name}() with `return ServerVad(silence_duration_ms=...)`: the return is missing."
    elif isinstance(value, dict):
        returned = "a dict"
        hint = "wrap the settings in the SDK's model: `return ServerVad(silence_duration_ms=...)`."
    elif hasattr(value, "type") and hasattr(value, "as_dict"):
        returned = f"an {type(value).__name__}" if type(value).__name__[0] in "AEIOU" else f"a {type(value).__name__}"
        hint = "this exercise tunes server VAD: return ServerVad(...) (semantic VAD comes in the next section)."
    else:
        kind = type(value).__name__
        returned = f"{value!r} ({'an' if kind[0] in 'aeiou' else 'a'} {kind})"
        hint = "return the whole setting, e.g. `return ServerVad(silence_duration_ms=...)`, not one value."
    raise CheckFailed(
        TASK,
        EXPECTED[name],
        f"{name}() returned {returned}, not a ServerVad",
        hint,
        where=str(line) if line is not None else None,
    )


def _hear_all(settings: dict[str, ServerVad], deadline: float) -> dict[str, HeardTurns]:
    """Each setting on the recording, in its own session on a private practice server, on a loop of its own."""

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


def _judge(name: str, function: Any, vad: ServerVad, heard: HeardTurns) -> None:
    line = definition_of(function)
    where = str(line) if line is not None else None
    if heard.errors:
        raise CheckFailed(
            TASK,
            EXPECTED[name],
            f"the service refused {name}()'s setting: {heard.errors[0]}",
            "use values the service accepts: threshold from 0 to 1, prefix_padding_ms and silence_duration_ms as "
            "whole milliseconds (0 or more).",
            where=where,
        )
    wanted = WANTED[name]
    ended = [(start, end) for start, end in heard.turns if end is not None]
    covers = bool(ended) and ended[0][0] <= SPEECH[0] and ended[-1][1] >= SPEECH[1]
    if len(ended) == wanted and len(heard.turns) == wanted and covers:
        return
    raise CheckFailed(TASK, EXPECTED[name], _what_happened(name, heard), _which_knob(vad, heard, wanted), where)


def _what_happened(name: str, heard: HeardTurns) -> str:
    if not heard.turns:
        return f"{name}() made no turn at all: the service heard no speech in the recording ({PAUSES})"
    made = f"{name}() made {len(heard.turns)} turn{'s' * (len(heard.turns) != 1)} ({_spans(heard)})"
    stops = [end for _, end in heard.turns if end is not None]
    stopped = f"; speech_stopped at {', '.join(f'{end} ms' for end in stops)}" if stops else "; speech never stopped"
    return f"{made}{stopped}; {PAUSES}"


def _which_knob(vad: ServerVad, heard: HeardTurns, wanted: int) -> str:
    threshold = vad.threshold if vad.threshold is not None else DEFAULT_THRESHOLD
    silence = vad.silence_duration_ms if vad.silence_duration_ms is not None else DEFAULT_SILENCE_MS
    if not heard.turns:
        return f"threshold {threshold} is above the level of the speech: lower it (0 to 1; the default is 0.5)."
    if any(end is None for _, end in heard.turns):
        return (
            f"silence_duration_ms={silence} is longer than the {QUIET_AFTER_MS} ms of quiet after the speech, so the "
            f"turn never ended: make it shorter than that."
        )
    last_stop = heard.turns[-1][1]
    if heard.turns[0][0] > SPEECH[0] or (last_stop is not None and last_stop < SPEECH[1]):
        return (
            f"the turns miss part of the speech ({SPEECH[0]}-{SPEECH[1]} ms): threshold {threshold} hears only the "
            "loudest sounds; lower it towards 0.5."
        )
    if len(heard.turns) > wanted:
        pause = PAUSE_BETWEEN_MS if wanted == 1 else PAUSE_INSIDE_MS
        where = "between the questions" if wanted == 1 else "after 'Hello!'"
        upper = f" and shorter than the {QUIET_AFTER_MS} ms of quiet at the end" if wanted == 1 else ""
        return (
            f"silence_duration_ms={silence} ends a turn in the {pause} ms pause {where}: make it longer than "
            f"{pause}{upper}."
        )
    return (
        f"silence_duration_ms={silence} waits through the {PAUSE_BETWEEN_MS} ms pause between the questions: make "
        f"it shorter than that, and longer than the {PAUSE_INSIDE_MS} ms pause after 'Hello!'."
    )


def _spans(heard: HeardTurns) -> str:
    return ", ".join(f"{start}-{end if end is not None else '…'} ms" for start, end in heard.turns)
