"""The scenario of the check of lab section 3: a spoken conversation through the learner's handlers (the lab's
states, the reply's audio, barge-in over the second answer, a harmless and a fatal error, ``request_stop``)."""

from __future__ import annotations

import time
from typing import Any

from .check_harness import OutOfTime, PracticeRun
from .checks_diagnosis import code_failure, where_defined, why_not
from .states import SessionState
from .verdicts import CheckFailed, CheckPassed

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


# ----------------------------------------------------------------- section 3


def run_section_3(cls: type, deadline: float) -> CheckPassed:
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
            raise why_not(
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
            raise why_not(3, run, "talking over the assistant ends its reply", _barge_in_hint(run))
        _check_barge_in(run, run.responses_done()[done_before], flushes)
        if not run.wait(
            lambda: len(run.responses_done()) > done_before + 1 and run.runner.state == SessionState.READY,
            "the reply to what was said over it",
            10,
        ):
            raise why_not(
                3, run, "after the barge-in, the new reply plays and the state returns to 'ready'", "see above."
            )

        run.server.send_error_to_sessions(FATAL_ERROR)
        if not run.wait(lambda: run.runner.state == SessionState.ERROR, "'error' after a fatal error", 4):
            raise why_not(
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
    raise why_not(
        3,
        run,
        f"after {event}, the state becomes {missing!r}" + (f" ({' → '.join(states)})" if len(states) > 1 else ""),
        f"`_handle_event` must send {event} to `{handler}`, which calls `self.state_callback({missing!r}, ...)`.",
        method=handler,
    )


def _check_reply_audio(run: PracticeRun) -> None:
    # "ready" comes with response.audio.done; the service sends response.done just after it.
    if not run.wait(lambda: bool(run.responses_done()), "the reply's response.done", 5):
        raise why_not(3, run, "the reply ends with response.done", "see the line shown.")
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
            where=where_defined(run, "_handle_speech_started"),
        )
    if run.speaker.flushes == flushes_before:
        raise CheckFailed(
            3,
            "the reply audio already queued for the speaker is dropped at once when the user talks",
            "nothing flushed the speaker",
            'in `_handle_speech_started`, `_broadcast({"type": "control", "action": "stop_playback"})`.',
            where=where_defined(run, "_handle_speech_started"),
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
        raise code_failure(3, "request_stop() sets self._stopping = True", error) from None
    if assistant._stopping is not True:
        raise CheckFailed(
            3,
            "request_stop() tells the event loop to end: it sets self._stopping = True",
            f"after request_stop(), self._stopping is {assistant._stopping!r}",
            "`def request_stop(self): self._stopping = True`.",
        )
