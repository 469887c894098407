"""The scenarios of the checks of lab sections 1 and 2: the class is created and keeps the lab's settings and
flags, ``start()`` connects, reaches 'ready' and stops; the session the service receives is the lab's (text and
audio, the instructions, the voice rule, PCM16, server VAD)."""

from __future__ import annotations

from typing import Any

from .check_harness import INSTRUCTIONS, PracticeRun
from .checks_diagnosis import why_not
from .states import SessionState
from .verdicts import CheckFailed, CheckPassed

#: What the lab's __init__ keeps on self.
INIT_ATTRIBUTES = ("connection", "_response_cancelled", "_stopping", "state_callback")

# ----------------------------------------------------------------- section 1


def run_section_1(cls: type, deadline: float) -> CheckPassed:
    with PracticeRun(cls, deadline, speed=20) as run:
        if not run.wait(lambda: run.assistant is not None, "the class to be created", 5):
            raise why_not(1, run, "the class can be created", "check __init__ against the lab's.")
        _check_init(run.assistant, run)
        expected = "start() connects, configures the session and reaches 'ready'"
        if not run.wait(lambda: run.runner.state == SessionState.READY, "the session to be ready", 8):
            raise why_not(1, run, expected, "start() must import `connect` and the models at its head.")
        assistant = run.assistant
        runner = run.runner
        stopped = runner.stop(timeout=2.0)
        if not stopped or runner.state != SessionState.STOPPED:
            raise why_not(
                1,
                run,
                "start() returns soon after Stop (request_stop, then the connection is closed)",
                "start() should end when its `async for event in conn:` loop ends.",
            )
        if getattr(assistant, "connection", "missing") is not None:
            raise CheckFailed(
                1,
                "self.connection is None again once the session has ended",
                f"self.connection is {getattr(assistant, 'connection', '(missing)')!r}",
                "keep the kit's `finally: self.connection = None` at the end of start().",
            )
    return CheckPassed(1, "it keeps the settings, connects to the practice server, reaches 'ready' and stops.")


def _check_init(assistant: Any, run: PracticeRun) -> None:
    settings = run.settings
    assert settings is not None
    for name in ("endpoint", "credential", "model", "voice", "instructions"):
        value = getattr(assistant, name, "(missing)")
        if value is not getattr(settings, name) and value != getattr(settings, name):
            raise CheckFailed(
                1,
                f"__init__ keeps the {name} argument as self.{name}",
                f"self.{name} is {value!r}" if name != "credential" else f"self.{name} is not the credential given",
                f"store each argument: `self.{name} = {name}` (the lab's __init__ does this for all five).",
            )
    for name in INIT_ATTRIBUTES:
        if not hasattr(assistant, name):
            start = {"connection": "None", "_response_cancelled": "False", "_stopping": "False"}
            value = start.get(name, "state_callback or (lambda *_: None)")
            raise CheckFailed(
                1,
                f"__init__ sets self.{name}",
                f"self.{name} does not exist",
                f"add `self.{name} = {value}` to __init__, as the lab does.",
            )
    if not callable(assistant.state_callback):
        raise CheckFailed(
            1,
            "self.state_callback can be called",
            f"it is {assistant.state_callback!r}",
            "`self.state_callback = state_callback or (lambda *_: None)`.",
        )


# ----------------------------------------------------------------- section 2

EXPECTED_VAD = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500}


def run_section_2(cls: type, deadline: float) -> CheckPassed:
    for voice, expected_voice in (
        ("en-US-JennyNeural", {"type": "azure-standard", "name": "en-US-JennyNeural"}),
        ("alloy", "alloy"),
    ):
        with PracticeRun(cls, deadline, voice=voice, speed=20) as run:
            answered = run.wait(lambda: run.events("session.updated") or _refusals(run), "the service's answer", 6)
            refused = _refusals(run)
            if refused:
                error = refused[0]
                field = f" (field {error['param']})" if error.get("param") else ""
                raise CheckFailed(
                    2,
                    f"the service accepts the session configuration (voice setting {voice!r})",
                    f"it refused it{field}: {error['message']}",
                    _refusal_hint(error.get("param") or ""),
                )
            if not answered:
                if run.ended():
                    raise why_not(2, run, "start() sends the session configuration", "see the line shown.")
                raise CheckFailed(
                    2,
                    "your code sends the configuration: `await conn.session.update(session=...)`",
                    "no session.update reached the practice server within 6 s, so the state stayed 'starting'",
                    "after building the RequestSession, send it with `await conn.session.update(session=...)`.",
                )
            _compare_session(run.events("session.updated")[-1]["session"], voice, expected_voice)
            if (
                not run.wait(lambda: run.runner.state == SessionState.READY, "the session to be ready", 4)
                or run.ended()
            ):
                raise why_not(2, run, "after the configuration is sent, the session goes on to 'ready'", "see above.")
    return CheckPassed(2, "the service received text and audio, your instructions, the right voice, PCM16, server VAD.")


def _refusals(run: PracticeRun) -> list[dict[str, Any]]:
    return [e["error"] for e in run.events("error") if str(e["error"].get("param") or "").startswith("session")]


def _refusal_hint(param: str) -> str:
    if param.startswith("session.modalities"):
        return "the lab asks for both: modalities=[Modality.TEXT, Modality.AUDIO]."
    if param.startswith("session.voice"):
        return (
            "an Azure voice (a name with a dash) must be sent as AzureStandardVoice(name=...): use the "
            "`voice_cfg` that start() prepares, `voice=voice_cfg`."
        )
    return "compare that field with the lab's session configuration."


def _compare_session(session: dict[str, Any], voice: str, expected_voice: Any) -> None:
    vad = session.get("turn_detection") or {}
    checks = [
        ("modalities", sorted(session.get("modalities") or []), ["audio", "text"], "[Modality.TEXT, Modality.AUDIO]"),
        ("instructions", session.get("instructions"), INSTRUCTIONS, "instructions=self.instructions"),
        ("voice", session.get("voice"), expected_voice, "voice=voice_cfg (start() builds it with the lab's rule)"),
        ("input_audio_format", session.get("input_audio_format"), "pcm16", "InputAudioFormat.PCM16"),
        ("output_audio_format", session.get("output_audio_format"), "pcm16", "OutputAudioFormat.PCM16"),
        (
            "turn_detection",
            {key: vad.get(key) for key in EXPECTED_VAD},
            EXPECTED_VAD,
            "ServerVad(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)",
        ),
    ]
    for field, actual, expected, hint in checks:
        if actual != expected:
            raise CheckFailed(
                2,
                f"the service's session has {field} = {expected!r}"
                + (f" (voice setting {voice!r})" if field == "voice" else ""),
                f"it has {field} = {actual!r}",
                f"the lab sets {hint}.",
            )
