"""Why a lab section's session did not do what its check expected: from the most specific cause (blocked
event loop, an exception in the learner's code, a handler still waiting) to the least (the states it went
through and the service's last event), with the learner's own line where there is one."""

from __future__ import annotations

from .check_harness import PracticeRun
from .lab_app import BroadcastFormatError
from .learner_calls import failure_from
from .learner_code import definition_of, learner_line_of
from .states import SessionState
from .verdicts import CheckFailed


def where_defined(run: PracticeRun, method: str) -> str | None:
    """Where the learner wrote ``method``, to point at in a message."""
    line = definition_of(getattr(run.assistant_class, method, None))
    return str(line) if line is not None else None


def why_not(section: int, run: PracticeRun, expected: str, hint: str, method: str | None = None) -> CheckFailed:
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
        return code_failure(section, expected, failure)
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
    where = where_defined(run, method) if method else None
    if runner.state == SessionState.ERROR:
        return CheckFailed(section, expected, f"the session ended in 'error': {runner.last_error}", hint, where)
    last = run.events()[-1]["type"] if run.events() else "nothing"
    states = " → ".join(run.states)
    return CheckFailed(section, expected, f"the states went {states}; the service last sent {last}", hint, where)


def code_failure(section: int, expected: str, error: BaseException) -> CheckFailed:
    """The learner's code raised ``error``: say so, with their line and the usual cause."""
    if isinstance(error, BroadcastFormatError):
        line = learner_line_of(error)
        where = str(line) if line is not None else None
        return CheckFailed(section, expected, f"_broadcast refused the message: {error}", str(error), where=where)
    return failure_from(section, expected, error)
