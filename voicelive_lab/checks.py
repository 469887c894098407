"""Checks for the lab's three sections: run the learner's ``BasicVoiceAssistant`` in a real session against a
private practice server, and say honestly whether it works; when not, what was expected, what happened,
the learner's own line, and the fix.

Each check ends with a verdict within 20 seconds and never passes code it could not see work: a check that
runs out of time says so. A failed check raises :class:`CheckFailed`, which a notebook shows as its message
alone (no traceback). ``require_check(n)`` lets the cells below a check say "finish section n first".
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from . import class_cell
from .check_harness import INSTRUCTIONS, OutOfTime, PracticeRun
from .lab_app import BroadcastFormatError
from .learner_code import CodeLine, code_line, definition_of, hint_for, is_learner_file, learner_line_of
from .mock.hearing import warm_up
from .states import SessionState
from .verdicts import CheckFailed, CheckPassed, SectionNotDone, caller_namespace, forget, mark_passed, require_check

__all__ = [
    "CheckFailed",
    "CheckPassed",
    "SectionNotDone",
    "check_section_1",
    "check_section_2",
    "check_section_3",
    "require_check",
]

LAB_CLASS = "BasicVoiceAssistant"
VERDICT_S = 20.0
MARGIN_S = 2.5  # kept back from the budget for closing the session and the server
#: The methods each section of the lab writes; they must be the learner's own, in the class itself.
SECTION_METHODS = {
    1: ("__init__", "start"),
    2: ("start",),
    3: (
        "_handle_event",
        "_handle_session_updated",
        "_handle_speech_started",
        "_handle_speech_stopped",
        "_handle_audio_delta",
        "_handle_audio_done",
        "_handle_error",
        "request_stop",
    ),
}
#: What the lab's __init__ keeps on self.
INIT_ATTRIBUTES = ("connection", "_response_cancelled", "_stopping", "state_callback")
HANDLER_FOR: dict[str, tuple[str, str]] = {
    SessionState.READY: ("session.updated", "_handle_session_updated"),
    SessionState.LISTENING: ("input_audio_buffer.speech_started", "_handle_speech_started"),
    SessionState.PROCESSING: ("input_audio_buffer.speech_stopped", "_handle_speech_stopped"),
    SessionState.ASSISTANT_SPEAKING: ("response.audio.delta", "_handle_audio_delta"),
}
#: What the practice service sends when its reply comes, whose absence is the service's delay, not the code's.
REPLY_EVENTS = ("response.audio.delta", "response.audio.done")
FATAL_ERROR = {
    "type": "server_error",
    "code": "internal_server_error",
    "message": "The practice service failed on purpose (the check's fatal error).",
}


def check_section_1(assistant_class: type | None = None) -> CheckPassed:
    """``__init__`` keeps the lab's settings and flags; ``start()`` connects, runs the session, and stops."""
    return _check(1, assistant_class, _run_section_1)


def check_section_2(assistant_class: type | None = None) -> CheckPassed:
    """The session the service receives is the lab's: text and audio, instructions, voice rule, PCM16, VAD."""
    return _check(2, assistant_class, _run_section_2)


def check_section_3(assistant_class: type | None = None) -> CheckPassed:
    """A spoken conversation: the lab's states, the reply's audio, barge-in, a harmless and a fatal error."""
    return _check(3, assistant_class, _run_section_3)


# ----------------------------------------------------------------- the common part


def _check(section: int, assistant_class: type | None, scenario: Callable[[type, float], CheckPassed]) -> CheckPassed:
    forget(section)
    cls, source = _learner_class(section, assistant_class, caller_namespace())
    _read_the_class(section, cls, source)
    warm_up(None)  # the practice agent's models load once per kernel, before the check's clock starts
    deadline = time.monotonic() + VERDICT_S - MARGIN_S
    failure: CheckFailed | None = None
    with _coroutines_never_awaited() as unawaited:
        try:
            passed = scenario(cls, deadline)
        except OutOfTime as late:
            failure = CheckFailed(
                section,
                f"{late.what}, within the check's {VERDICT_S:.0f} s",
                "the check ran out of time before it could see that happen, so it cannot say the section works",
                "run the check again; if it happens every time, something in the session waits too long.",
            )
        except CheckFailed as failed:
            failure = failed
    if unawaited:  # the root cause of whatever else went wrong, and wrong even if nothing else did
        coroutine, line = unawaited[0]
        raise CheckFailed(
            section,
            "every coroutine your code calls is awaited",
            f"your code called `{coroutine}(...)` without `await`, so it never ran (Python only warned about it)",
            f"write `await` in front of the call: `await {line.text}`.",
            where=str(line),
        )
    if failure is not None:
        raise failure from None
    mark_passed(section, cls)
    return passed


@contextmanager
def _coroutines_never_awaited() -> Iterator[list[tuple[str, CodeLine]]]:
    """Collect the coroutines the learner's code made but never awaited, while a check's session runs.

    Python reports each with a RuntimeWarning at the line that dropped it. The warnings filters are the
    process's, so this catches them on the session's thread too; other warnings are shown as usual."""
    found: list[tuple[str, CodeLine]] = []
    show = warnings.showwarning

    def collect(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        named = re.match(r"coroutine '(.+)' was never awaited", str(message))
        if category is RuntimeWarning and named and is_learner_file(filename):
            found.append((named.group(1), code_line(filename, lineno, "")))
        else:
            show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.filterwarnings("always", message="coroutine .* was never awaited", category=RuntimeWarning)
        warnings.showwarning = collect
        yield found


def _learner_class(section: int, given: type | None, namespace: dict[str, Any]) -> tuple[type, str]:
    """The learner's class and the source it was written in (the class cell, or its file outside Jupyter)."""
    name = given.__name__ if given is not None else LAB_CLASS
    cell = class_cell.last_class_cell(namespace, name)
    problem = class_cell.compile_problem(cell) if cell is not None else None
    if problem is not None:
        raise CheckFailed(
            section,
            f"the cell with `class {name}` runs",
            f"its last run stopped before the class existed: {problem.what}",
            problem.hint,
            where=problem.where,
        )
    cls = given if given is not None else namespace.get(name)
    if not isinstance(cls, type):
        raise CheckFailed(
            section,
            f"a class named {name}",
            f"there is no class {name} in this notebook yet",
            f"run the cell that defines `class {name}` (above this one), then this check again.",
        )
    if cell is not None and not class_cell.is_fresh(cls, cell):
        raise CheckFailed(
            section,
            f"the cell with `class {name}` runs to the end",
            f"its last run failed (the error is shown under it), so {name} is still an older version",
            "fix the error shown under the class cell and run that cell again, then this check.",
        )
    return cls, cell if cell is not None else class_cell.source_of(cls)


def _read_the_class(section: int, cls: type, source: str) -> None:
    """What the class's text shows before it runs: missing or misplaced methods, stubs left over, no await."""
    for method in SECTION_METHODS[section]:
        if method in vars(cls) and _is_learners(vars(cls)[method]):
            continue
        misplaced = class_cell.misplaced_method(source, cls.__name__, method) if source else None
        raise CheckFailed(
            section,
            f"{cls.__name__} has its own `{method}` (section {section} writes it)",
            misplaced.what if misplaced else f"the class has no `{method}`",
            misplaced.hint if misplaced else f"paste or write `{method}` between the section's markers.",
            where=misplaced.where if misplaced else None,
        )
    if not source:
        return
    twice = class_cell.duplicate_methods(source, cls.__name__)
    if twice:
        name, first, last = twice[0]
        raise CheckFailed(
            section,
            f"each method is written once in {cls.__name__}",
            f"`{name}` is written twice (lines {first} and {last}); Python keeps only the last one",
            "delete the version you replaced: usually the exercise's stub, left below the code you pasted.",
        )
    unawaited = class_cell.unawaited_call(source, cls.__name__)
    if unawaited is not None:
        raise CheckFailed(
            section, "every coroutine call is awaited", unawaited.what, unawaited.hint, where=unawaited.where
        )


def _is_learners(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    return code is None or is_learner_file(code.co_filename)


def _where(run: PracticeRun, method: str) -> str | None:
    """Where the learner wrote ``method``, to point at in a message."""
    line = definition_of(getattr(run.assistant_class, method, None))
    return str(line) if line is not None else None


def _why_not(section: int, run: PracticeRun, expected: str, hint: str, method: str | None = None) -> CheckFailed:
    """Why the session did not do what was expected, from the most specific cause to the least."""
    runner = run.runner
    if runner.blocked is not None:
        return CheckFailed(
            section,
            expected,
            "your code blocked the event loop for over a second, so nothing else could run (no audio, no events)",
            "in async code wait with `await asyncio.sleep(...)`, never `time.sleep(...)`, and do not loop waiting "
            "for something without an `await` inside the loop.",
            where=str(runner.blocked_at),
        )
    failure = runner.failure or runner.channel.failure
    if failure is not None:
        return _code_failure(section, expected, failure)
    waiting = run.waiting_at()
    if waiting is not None and waiting.function != "start":
        return CheckFailed(
            section,
            expected,
            f"`{waiting.function}` has not returned: it is still waiting, so no later event was handled",
            "a handler should do its work and return; do not wait there for something that only a later event "
            "would bring.",
            where=str(waiting),
        )
    where = _where(run, method) if method else None
    if runner.state == SessionState.ERROR:
        return CheckFailed(section, expected, f"the session ended in 'error': {runner.last_error}", hint, where)
    last = run.events()[-1]["type"] if run.events() else "nothing"
    states = " → ".join(run.states)
    return CheckFailed(section, expected, f"the states went {states}; the service last sent {last}", hint, where)


def _code_failure(section: int, expected: str, error: BaseException) -> CheckFailed:
    line: CodeLine | None = learner_line_of(error)
    where = str(line) if line is not None else None
    if isinstance(error, NotImplementedError):
        return CheckFailed(
            section, expected, f"a stub is still there: {error}", "replace the stub with your code.", where=where
        )
    if isinstance(error, BroadcastFormatError):
        return CheckFailed(section, expected, f"_broadcast refused the message: {error}", str(error), where=where)
    happened = f"your code raised {type(error).__name__}: {error}"
    return CheckFailed(section, expected, happened, hint_for(error), where=where)


# ----------------------------------------------------------------- section 1


def _run_section_1(cls: type, deadline: float) -> CheckPassed:
    with PracticeRun(cls, deadline, speed=20) as run:
        if not run.wait(lambda: run.assistant is not None, "the class to be created", 5):
            raise _why_not(1, run, "the class can be created", "check __init__ against the lab's.")
        _check_init(run.assistant, run)
        expected = "start() connects, configures the session and reaches 'ready'"
        if not run.wait(lambda: run.runner.state == SessionState.READY, "the session to be ready", 8):
            raise _why_not(1, run, expected, "start() must import `connect` and the models at its head.")
        assistant = run.assistant
        runner = run.runner
        stopped = runner.stop(timeout=2.0)
        if not stopped or runner.state != SessionState.STOPPED:
            raise _why_not(
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


def _run_section_2(cls: type, deadline: float) -> CheckPassed:
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
                    raise _why_not(2, run, "start() sends the session configuration", "see the line shown.")
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
                raise _why_not(2, run, "after the configuration is sent, the session goes on to 'ready'", "see above.")
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


# ----------------------------------------------------------------- section 3


def _run_section_3(cls: type, deadline: float) -> CheckPassed:
    tips: list[str] = []
    with PracticeRun(cls, deadline, speed=3, server_barge_in=False) as run:
        _expect_states(run, [SessionState.READY], 6)
        assistant = run.assistant
        run.say("hello.wav")
        _expect_states(
            run,
            [SessionState.LISTENING, SessionState.PROCESSING, SessionState.ASSISTANT_SPEAKING, SessionState.READY],
            10,
        )
        _check_reply_audio(run)
        _check_no_stray_cancel(run)

        errors_before, done_before = len(run.events("error")), len(run.responses_done())
        run.cancel_from_outside()  # the harmless error: a cancel with no reply running
        run.wait(lambda: len(run.events("error")) > errors_before, "the service's harmless error", 3)
        time.sleep(0.3)  # time for the handler to run
        if run.ended():
            raise _why_not(
                3,
                run,
                "a harmless error (response_cancel_not_active: a cancel with nothing to cancel) leaves the session "
                "running",
                "_handle_error should read event.error and report it, never fail on it.",
            )
        if run.runner.state == SessionState.ERROR:
            tips.append(
                "your _handle_error shows 'error' for response_cancel_not_active, which only means there was "
                "nothing to cancel; the kit's class ignores that code."
            )

        run.say("pyramids.wav")
        _expect_states(run, [SessionState.LISTENING, SessionState.PROCESSING, SessionState.ASSISTANT_SPEAKING], 10)
        flushes = run.speaker.flushes
        run.talked_over = True
        run.say("interrupt.wav")
        if not run.wait(lambda: len(run.responses_done()) > done_before, "the interrupted reply to end", 10):
            raise _why_not(3, run, "talking over the assistant ends its reply", _barge_in_hint(run))
        _check_barge_in(run, run.responses_done()[done_before], flushes)
        if not run.wait(
            lambda: len(run.responses_done()) > done_before + 1 and run.runner.state == SessionState.READY,
            "the reply to what was said over it",
            10,
        ):
            raise _why_not(
                3, run, "after the barge-in, the new reply plays and the state returns to 'ready'", "see above."
            )

        run.server.send_error_to_sessions(FATAL_ERROR)
        if not run.wait(lambda: run.runner.state == SessionState.ERROR, "'error' after a fatal error", 4):
            raise _why_not(
                3,
                run,
                "a fatal error from the service (server_error) shows as state 'error' with its message",
                'in `_handle_error`, call `self.state_callback("error", ...)` with event.error.message.',
                method="_handle_error",
            )
    _check_request_stop(assistant)
    return CheckPassed(
        3,
        "the lab's states in order, the reply's audio played, barge-in cancels the reply, and errors are handled.",
        tuple(tips),
    )


def _expect_states(run: PracticeRun, states: list[str], limit: float) -> None:
    """Wait until ``states`` have been visited in this order, after the states seen so far."""
    states = [str(state) for state in states]  # plain names in the learner's messages: 'ready', not the member
    start = max(len(run.states) - 1, 0)  # from the current state on

    def matched() -> int:
        position = 0
        for state in run.states[start:]:
            if position < len(states) and state == states[position]:
                position += 1
        return position

    replies_before = {event: len(run.events(event)) for event in REPLY_EVENTS}
    if run.wait(lambda: matched() == len(states), f"the state {states[-1]!r}", limit):
        return
    _check_no_stray_cancel(run)
    missing = states[matched()]
    event, handler = HANDLER_FOR.get(missing, ("response.audio.done", "_handle_audio_done"))
    if event in REPLY_EVENTS and len(run.events(event)) == replies_before[event] and not run.ended():
        # The practice service has not answered yet (a loaded machine): nothing the handler could have acted on.
        raise OutOfTime(f"the practice service's reply ({event}), so that `{handler}` could be seen at work")
    raise _why_not(
        3,
        run,
        f"after {event}, the state becomes {missing!r}" + (f" ({' → '.join(states)})" if len(states) > 1 else ""),
        f"`_handle_event` must send {event} to `{handler}`, which calls `self.state_callback({missing!r}, ...)`.",
        method=handler,
    )


def _check_reply_audio(run: PracticeRun) -> None:
    # "ready" comes with response.audio.done; the service sends response.done just after it.
    if not run.wait(lambda: bool(run.responses_done()), "the reply's response.done", 5):
        raise _why_not(3, run, "the reply ends with response.done", "see the line shown.")
    reply = run.responses_done()[-1]
    sent = run.reply_audio(reply["id"])
    heard = run.speaker.samples.tobytes()
    if heard == sent:
        return
    if not heard:
        happened = "nothing reached the speaker"
    elif len(heard) < len(sent):
        happened = f"only {len(heard)} of the reply's {len(sent)} bytes reached the speaker"
    else:
        happened = f"{len(heard)} bytes reached the speaker, but not the reply's {len(sent)} bytes of PCM"
    raise CheckFailed(
        3,
        "every response.audio.delta reaches the speaker as the reply's PCM16",
        happened,
        "in `_handle_audio_delta`, send each delta once: "
        '`_broadcast({"type": "audio", "audio": base64.b64encode(event.delta).decode("utf-8")})`.',
    )


def _check_no_stray_cancel(run: PracticeRun) -> None:
    """Before any barge-in, nothing of the learner's may have cancelled: no refused cancel, no cut-off reply."""
    refused = [e for e in run.events("error") if e["error"].get("code") == "response_cancel_not_active"]
    cut = [r for r in run.responses_done() if (r.get("status_details") or {}).get("reason") == "client_cancelled"]
    if len(refused) > run.own_cancels or (cut and not run.talked_over):
        what = (
            "the service refused it: there was nothing to cancel" if refused else "the reply to that turn was cut off"
        )
        raise CheckFailed(
            3,
            "response.cancel only when the user talks over a reply (the state was 'ready' when you started to talk)",
            f"your code sent response.cancel although the assistant was not speaking, and {what}",
            "cancel only when the state *before* 'listening' was 'assistant_speaking' or 'processing'.",
        )


def _check_barge_in(run: PracticeRun, reply: dict[str, Any], flushes_before: int) -> None:
    if reply["status"] != "cancelled":
        raise CheckFailed(
            3,
            "talking over the assistant makes your code send response.cancel, so the reply stops",
            f"the reply played to the end ({reply['status']}): {_barge_in_diagnosis(run)}",
            _barge_in_hint(run),
            where=_where(run, "_handle_speech_started"),
        )
    if run.speaker.flushes == flushes_before:
        raise CheckFailed(
            3,
            "the reply audio already queued for the speaker is dropped at once when the user talks",
            "nothing flushed the speaker",
            'in `_handle_speech_started`, `_broadcast({"type": "control", "action": "stop_playback"})`.',
            where=_where(run, "_handle_speech_started"),
        )


def _barge_in_diagnosis(run: PracticeRun) -> str:
    journal = list(run.runner.channel.journal) if run.runner else []
    last_listening = max((i for i, entry in enumerate(journal) if entry == ("set", "listening")), default=None)
    if last_listening is not None and ("read", "listening") in journal[last_listening + 1 :]:
        return (
            "your speech_started handler set the state to 'listening' and then read it, so it saw 'listening' "
            "and decided nothing needed cancelling"
        )
    return "no response.cancel came from your code when the user started talking"


def _barge_in_hint(run: PracticeRun) -> str:
    if "set the state" in _barge_in_diagnosis(run):
        return (
            'read the state *first*: move `current_state = assistant_state.get("state")` above '
            '`self.state_callback("listening", ...)`, then cancel if it was "assistant_speaking" or "processing".'
        )
    return (
        "in `_handle_speech_started`, if the state before 'listening' was 'assistant_speaking' or 'processing', "
        "set `self._response_cancelled = True` and `await conn.response.cancel()`."
    )


def _check_request_stop(assistant: Any) -> None:
    assistant._stopping = False
    try:
        assistant.request_stop()
    except Exception as error:
        raise _code_failure(3, "request_stop() sets self._stopping = True", error) from None
    if assistant._stopping is not True:
        raise CheckFailed(
            3,
            "request_stop() tells the event loop to end: it sets self._stopping = True",
            f"after request_stop(), self._stopping is {assistant._stopping!r}",
            "`def request_stop(self): self._stopping = True`.",
        )
