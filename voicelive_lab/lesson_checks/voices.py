"""Check of lesson 06's exercise: ``word_timings(events, item_id)``, the words of one spoken reply with their times.

The check records a real session on a private practice server (word timestamps on): a greeting, the answer to a
question and a text-only reply. It then asks the learner's function for each reply's words, from all the
session's events, and for two edge cases: punctuation marks time-stamped on their own, and no events at all.
The truth comes from the events the service sent and is cross-checked against the reply's transcript, so the
check never passes a list it could not confirm. Every call of the learner's function has a deadline.
"""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable
from typing import Any

from ..learner_calls import call_learner
from ..learner_code import definition_of, learner_line_of
from ..verdicts import CheckFailed, CheckPassed, caller_namespace, forget, mark_passed
from .word_timing_cases import (
    TIMESTAMP,
    Entry,
    PracticeUnavailable,
    Scenario,
    build_scenarios,
    has_word,
    record_replies,
)

TASK = "Exercise 06 (word timings)"
FUNCTION = "word_timings"
BUDGET_S = 20.0
CALL_S = 5.0
EXPECTED = (
    "word_timings(events, item_id) returns a list of (text, audio_offset_ms, audio_offset_ms + audio_duration_ms), "
    "one for each word timestamp event of that item, in the order they came, none for punctuation alone"
)
#: An event read for a field only timestamp events have: the usual cause, and its fix.
FIELD_HINT = (
    f"only {TIMESTAMP} events have `text`, `audio_offset_ms` and `audio_duration_ms` (and not every event has an "
    "`item_id`): check `event.type` first and read those fields only after that."
)
RETRY_HINT = (
    "run the check again; if it keeps failing, restart the kernel (Kernel → Restart) and run the notebook from the top."
)


def check_word_timings(function: Callable[..., Any] | None = None) -> CheckPassed:
    """Judge ``word_timings`` (the notebook's, or ``function``) on a real practice session and on edge cases."""
    forget(TASK)
    deadline = time.monotonic() + BUDGET_S
    learner = function if function is not None else caller_namespace().get(FUNCTION)
    if not callable(learner):
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"there is no function called `{FUNCTION}` in this notebook yet",
            "run the exercise cell above (it defines word_timings), then this cell again.",
        )
    try:
        scenarios = build_scenarios(record_replies(deadline))
    except PracticeUnavailable as trouble:
        raise CheckFailed(TASK, EXPECTED, str(trouble), RETRY_HINT) from None
    for scenario in scenarios:
        remaining = deadline - time.monotonic()
        if remaining <= 0.5:
            raise CheckFailed(
                TASK,
                EXPECTED,
                f"the check ran out of its {BUDGET_S:.0f} s before it could try {scenario.name}",
                "make word_timings return promptly (it only reads a list), then run the check again.",
            )
        got = _call(learner, scenario, min(CALL_S, remaining))
        problem = first_problem(scenario, got)
        if problem is not None:
            happened, hint = problem
            line = definition_of(learner)
            raise CheckFailed(TASK, EXPECTED, happened, hint, where=str(line) if line is not None else None)
    mark_passed(TASK, learner)
    answer_words = len(scenarios[0].truth)
    return CheckPassed(
        TASK,
        f"word_timings found the {answer_words} words of a practice answer among all the session's events, and was "
        "right for the greeting, a text-only reply, punctuation time-stamped on its own and no events at all.",
    )


def _call(learner: Callable[..., Any], scenario: Scenario, timeout_s: float) -> Any:
    """The learner's answer for one scenario, bounded; an event read for a field it lacks gets its own hint."""
    raised: list[BaseException] = []

    if inspect.iscoroutinefunction(learner):

        @functools.wraps(learner)
        async def watched(*args: Any) -> Any:
            try:
                return await learner(*args)
            except BaseException as error:
                raised.append(error)
                raise

    else:

        @functools.wraps(learner)
        def watched(*args: Any) -> Any:
            try:
                return learner(*args)
            except BaseException as error:
                raised.append(error)
                raise

    try:
        return call_learner(
            TASK, watched, list(scenario.events), scenario.item_id, expected=EXPECTED, timeout_s=timeout_s
        )
    except CheckFailed:
        error = raised[0] if raised else None
        if not isinstance(error, AttributeError) or not type(getattr(error, "obj", None)).__name__.startswith("Server"):
            raise
        line = learner_line_of(error)
        raise CheckFailed(
            TASK,
            EXPECTED,
            f"for {scenario.name}, your code raised AttributeError: {error}",
            FIELD_HINT,
            where=str(line) if line is not None else None,
        ) from None


# ----------------------------------------------------------------------------- judging one answer


def first_problem(scenario: Scenario, got: Any) -> tuple[str, str] | None:
    """None when ``got`` is the scenario's truth; else what happened (the first wrong entry) and the fix."""
    where = f"for {scenario.name}, "
    if got is None:
        return where + "word_timings returned None", "end the function with `return` and the list of tuples."
    if not isinstance(got, (list, tuple)):
        return (
            where + f"word_timings returned a {type(got).__name__}, not a list",
            "return a list (the replay widget and the plot below read it more than once): e.g. `return words`.",
        )
    entries: list[Entry] = []
    for index, entry in enumerate(got, start=1):
        if not _is_entry(entry):
            return (
                where + f"entry {index} is {entry!r}",
                "make each entry a tuple of three: (word, start_ms, end_ms), e.g. ('Giza', 1600, 1900).",
            )
        entries.append(tuple(entry))
    if entries == scenario.truth:
        return None
    return where + _difference(entries, scenario.truth), _hint(entries, scenario)


def _is_entry(entry: Any) -> bool:
    if not isinstance(entry, (tuple, list)) or len(entry) != 3:
        return False
    word, start, end = entry
    return isinstance(word, str) and all(_is_number(value) for value in (start, end))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _difference(got: list[Entry], truth: list[Entry]) -> str:
    for index, (mine, right) in enumerate(zip(got, truth, strict=False)):
        if mine != right:
            return f"entry {index + 1} is {mine!r} where {right!r} was expected"
    if len(got) < len(truth):
        if not got:
            return f"word_timings returned no entries; the reply has {len(truth)} words, the first {truth[0]!r}"
        return (
            f"word_timings returned {_entries(len(got))}; the reply has {len(truth)} words (the first one missing "
            f"is {truth[len(got)]!r})"
        )
    extra = got[len(truth)]
    return f"word_timings returned {_entries(len(got))} where {len(truth)} were expected: one too many is {extra!r}"


def _entries(count: int) -> str:
    return "1 entry" if count == 1 else f"{count} entries"


def _hint(got: list[Entry], scenario: Scenario) -> str:
    truth = scenario.truth
    if any(entry in scenario.other_replies and entry not in truth for entry in got):
        return (
            "keep only the events of the reply asked for (`event.item_id == item_id`): every reply's times start "
            "again at 0, so the words of another reply would be highlighted at the wrong moment."
        )
    if any(not has_word(word) for word, _, _ in got):
        return "skip entries whose text has no letter or digit (a lone ',' or '—' is not a word to highlight)."
    index = next((i for i, (mine, right) in enumerate(zip(got, truth, strict=False)) if mine != right), None)
    if index is not None:
        (word, start, end), (right_word, right_start, right_end) = got[index], truth[index]
        if word == right_word and start == right_start and end == right_end - right_start:
            return "end_ms is where the word ends: audio_offset_ms + audio_duration_ms, not the duration alone."
        if right_end and math.isclose(end * 1000, right_end, abs_tol=1.0):
            return "keep the times in milliseconds, as the events give them (audio_offset_ms), not seconds."
        if word != right_word and (start, end) == (right_start, right_end):
            return "use the word exactly as the event's `text` has it (punctuation attached, no changes)."
        if sorted(got, key=lambda entry: entry[1]) == truth:
            return "keep the words in the order they are spoken (the order the events arrive)."
    if len(got) < len(truth) and got == truth[: len(got)]:
        return f"make one entry for every {TIMESTAMP} event of the reply; don't stop early."
    if not truth:
        return (
            f"only {TIMESTAMP} events carry word times; with none for that item (or no events at all) the answer "
            "is an empty list."
        )
    return (
        "build each entry from one timestamp event: "
        "(event.text, event.audio_offset_ms, event.audio_offset_ms + event.audio_duration_ms)."
    )
