"""Check of lesson 08's exercise: ``test_stops_talking_when_interrupted(talk)``, a test that catches the barge-in bug.

A test is only worth something if it fails when the assistant is broken. So the check runs the learner's test with
pytest (notebook_tests.run_voice_tests), first against the kit's working ``BasicVoiceAssistant``, where it must
pass, then against broken classes (broken_assistants.py), where it must fail on the one it targets: the lab's
barge-in bug, which never cancels a reply the user talks over. A test that passes everywhere (``assert True``)
would not catch that bug, and the check says so; a test that crashes, or runs out of time, never counts as having
caught it. Whether it catches the other broken classes is told as a tip. The whole check ends within 20 seconds.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from ..assistant import BasicVoiceAssistant
from ..broken_assistants import BUGS, Bug
from ..notebook_tests import TestRun, run_voice_tests
from ..verdicts import CheckFailed, CheckPassed, caller_namespace, forget, mark_passed
from ..voice_test_plugin import TestOutcome

TASK = "Exercise 08 (a test that catches the barge-in bug)"
FUNCTION = "test_stops_talking_when_interrupted"
BUDGET_S = 20.0
KIT_TEST_S = 8.0  # the learner's test, on the kit's class
BUG_TEST_S = 5.0  # the learner's test, on each broken class
TARGET = BUGS[0]  # the lab's barge-in bug
EXPECTED = f"{FUNCTION}(talk) passes on the kit's working assistant and fails on the lab's barge-in bug"
HOW_TO_CATCH_IT = (
    'talk over a reply, e.g. session = talk("pyramids.wav", talk_over("interrupt.wav")), and assert what you would '
    'notice: the reply you talked over stopped: session.replies[0].status == "cancelled" (or little of it played '
    "after you spoke: session.replies[0].kept_talking_ms)"
)


def check_interruption_test(test: Callable[..., Any] | None = None) -> CheckPassed:
    """Judge the notebook's ``test_stops_talking_when_interrupted`` (or ``test``) on working and broken classes."""
    forget(TASK)
    deadline = time.monotonic() + BUDGET_S
    learner = test if test is not None else caller_namespace().get(FUNCTION)
    _require_a_test_function(learner)
    assert learner is not None
    kit = _run(learner, {"kit": BasicVoiceAssistant}, min(KIT_TEST_S, deadline - time.monotonic() - 1))
    _judge_on_the_kit(kit)
    left = deadline - time.monotonic() - 1
    if left < len(BUGS) * 2.5:
        raise CheckFailed(
            TASK,
            EXPECTED,
            "the check ran out of time before it could run your test on the broken classes, so it cannot say it "
            "catches the bug",
            "run the check again; keep the test to one conversation.",
        )
    # A test that runs out of time is stopped and waited for up to a second more: the share of each broken class
    # leaves room for that, so that the whole check ends within its budget.
    each = min(BUG_TEST_S, left / len(BUGS) - 1.2)
    broken = _run(learner, {bug.label: bug.assistant_class for bug in BUGS}, each)
    caught = _judge_on_the_target(broken)
    mark_passed(TASK, learner)
    return CheckPassed(
        TASK,
        f"your test passes on the kit's assistant and fails on the lab's barge-in bug ({_first_line(caught)}).",
        tuple(_tip(bug, _outcome_for(broken, bug)) for bug in BUGS if bug is not TARGET),
    )


def _require_a_test_function(learner: Any) -> None:
    if learner is None:
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"there is no function called `{FUNCTION}` in this notebook yet",
            "run the exercise cell above (it defines the test), then this cell again.",
        )
    if not inspect.isfunction(learner):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"`{FUNCTION}` is a {type(learner).__name__}, not a test function",
            f"define it with `def {FUNCTION}(talk):`.",
        )


def _run(learner: Callable[..., Any], classes: dict[str, type], limit_s: float) -> TestRun:
    return run_voice_tests(learner, assistant=classes, timeout_s=max(1.0, limit_s))


def _judge_on_the_kit(run: TestRun) -> None:
    outcome = _outcome_for(run, None)
    where = str(outcome.where) if outcome.where is not None else None
    if outcome.outcome == "passed":
        return
    if outcome.error_type == "NotImplementedError":
        raise CheckFailed(
            TASK, EXPECTED, f"a stub is still there: {_message(outcome)}", "replace the stub with your test.", where
        )
    late = [problem for _, held in run.conversations for problem in held.problems if "ran out" in problem]
    if late and outcome.outcome != "timeout":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the check's conversation with the kit's assistant did not finish ({late[0]}), so it cannot judge your "
            "test",
            "run the check again; if it happens every time, restart the kernel and run the notebook from the top.",
        )
    if outcome.outcome == "timeout":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"on the kit's working assistant, {outcome.message}",
            "a test should hold one short conversation and assert on it: no loops that wait, no `time.sleep`.",
            where,
        )
    if outcome.outcome == "failed":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"your test fails on the kit's working assistant: {_first_line(outcome)}",
            "a test must pass when the assistant works. Look at what a working assistant does: "
            'print(talk_to(BasicVoiceAssistant, "pyramids.wav", talk_over("interrupt.wav"))) in a cell, and '
            "assert that.",
            where,
        )
    if outcome.outcome == "skipped":
        raise CheckFailed(TASK, EXPECTED, "your test was skipped", "remove the skip: the check must run it.", where)
    raise CheckFailed(TASK, EXPECTED, _could_not_run(outcome), _hint_for(outcome), where)


def _judge_on_the_target(run: TestRun) -> TestOutcome:
    outcome = _outcome_for(run, TARGET)
    where = str(outcome.where) if outcome.where is not None else None
    late = [problem for label, held in run.conversations if label == TARGET.label for problem in held.problems]
    if late and outcome.outcome != "passed":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"the check's conversation with the broken assistant did not finish ({late[0]}), so it cannot say "
            "whether your test caught the bug or only the unfinished conversation",
            "run the check again; if it happens every time, restart the kernel and run the notebook from the top.",
        )
    if outcome.outcome == "failed":
        return outcome
    if outcome.outcome == "passed":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"your test passes even on a broken assistant: it would not catch {TARGET.what}",
            HOW_TO_CATCH_IT + ".",
        )
    if outcome.outcome == "timeout":
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"on the broken assistant, {outcome.message}, so the check cannot say your test catches the bug",
            "a test should hold one short conversation and assert on it: no loops that wait, no `time.sleep`.",
            where,
        )
    raise CheckFailed(
        TASK,
        EXPECTED,
        f"on the broken assistant your test did not fail an assert: {_could_not_run(outcome)}",
        "a useful test fails with an assert that says what went wrong; check that what you read exists first "
        "(e.g. `assert len(session.replies) >= 1`), then " + HOW_TO_CATCH_IT + ".",
        where,
    )


def _outcome_for(run: TestRun, bug: Bug | None) -> TestOutcome:
    label = "kit" if bug is None else bug.label
    found = [o for o in run.outcomes if o.assistant in (label, None)]
    if not found:
        return TestOutcome(FUNCTION, "error", "pytest ran no test: " + (run.output.strip().splitlines() or ["?"])[-1])
    return found[0]


def _could_not_run(outcome: TestOutcome) -> str:
    if outcome.error_type is None:
        return f"pytest could not run your test: {_message(outcome)}"
    return f"your test raised {_message(outcome)}"


def _hint_for(outcome: TestOutcome) -> str:
    if outcome.error_type is None and "fixture" in outcome.message:
        return f"a test gets the conversation runner by naming the fixture `talk`: `def {FUNCTION}(talk):`."
    if outcome.error_type == "NameError":
        return (
            "a name your test uses is not defined in this notebook: check the spelling, or import it (talk_over comes "
            "from voicelive_lab.agent_testing)."
        )
    if outcome.error_type in ("IndexError", "KeyError"):
        return "your test read a reply or a line that is not there: print the session to see what it holds."
    if outcome.error_type == "AttributeError":
        return "check the name against the session's fields: states, events, heard, said, replies, turns, played_ms."
    return "read the line above: that is where your test raised the error."


def _tip(bug: Bug, outcome: TestOutcome) -> str:
    if outcome.outcome == "failed":
        return f"It also catches {bug.what}."
    return f"It would not catch {bug.what}: that takes a test of its own."


def _message(outcome: TestOutcome) -> str:
    return " ".join(outcome.message.split())


def _first_line(outcome: TestOutcome) -> str:
    lines = outcome.message.splitlines()
    return lines[0] if lines else outcome.outcome
