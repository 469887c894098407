"""Lesson 06 (voices): the exercise's check, the reply player, the voice measures and figures, and the practice
voice's word timings.

The check must pass the lesson's reference and fail, with a true and specific message, every realistic wrong
``word_timings``: one that mixes replies, gives durations for ends, keeps punctuation, counts seconds, returns
nothing or something else than a list, raises, or never returns.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from support import run_exercise, shown_lines

from voicelive_lab.audio.pcm import SAMPLE_RATE, float_to_pcm16
from voicelive_lab.lesson_checks import voices as check_module
from voicelive_lab.lesson_checks import word_timing_cases
from voicelive_lab.lesson_checks.voices import TASK, check_word_timings
from voicelive_lab.lesson_checks.word_timing_cases import GREETING, PracticeUnavailable, Replies, confirmed_words
from voicelive_lab.mock.speech import _piece_starts_ms, synthesize
from voicelive_lab.reply_player import ReplyPlayer
from voicelive_lab.verdicts import CheckFailed, CheckPassed, SectionNotDone, require_check
from voicelive_lab.voice_measures import median_pitch_hz, speaking_time_ms
from voicelive_lab.voice_plots import plot_reply_timeline, plot_voice_comparison

ROOT = Path(__file__).resolve().parent.parent
LESSON = ROOT / "notebooks" / "06_voices.ipynb"
EXERCISE = ROOT / "notebooks" / "exercises" / "06_voices.ipynb"
STAMP = "response.audio_timestamp.delta"


def lesson_reference() -> Callable[..., Any]:
    """The lesson's own word_timings, defined from its exercise cell."""
    lesson = nbformat.read(LESSON, as_version=4)
    (cell,) = [cell for cell in lesson.cells if "# BEGIN EXERCISE" in cell.source]
    namespace: dict[str, Any] = {}
    exec(compile(cell.source, "lesson-06-reference", "exec"), namespace)
    return namespace["word_timings"]


def failure(function: Callable[..., Any]) -> str:
    """The check's message for ``function``; the test fails if the check passes it."""
    with pytest.raises(CheckFailed) as caught:
        check_word_timings(function)
    with pytest.raises(SectionNotDone):
        require_check(TASK)  # a failed check never lets the cells below run
    return str(caught.value)


def field(message: str, name: str) -> str:
    (line,) = [line for line in message.splitlines() if line.startswith(f"  {name}:")]
    return line


# ----------------------------------------------------------------------------- the check


def test_the_lessons_reference_passes_the_check() -> None:
    reference = lesson_reference()
    verdict = check_word_timings(reference)
    assert isinstance(verdict, CheckPassed)
    assert "words of a practice answer" in verdict.message and "punctuation" in verdict.message
    require_check(TASK)  # the cells below may run now


def test_the_check_finds_the_function_in_the_notebook_namespace() -> None:
    message = failure(None)  # type: ignore[arg-type]  # this module defines no word_timings
    assert "there is no function called `word_timings`" in message
    assert "run the exercise cell above" in message


def mixes_replies(events, item_id):
    return [
        (e.text, e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms)
        for e in events
        if e.type == STAMP and any(c.isalnum() for c in e.text)
    ]


def duration_as_end(events, item_id):
    return [
        (e.text, e.audio_offset_ms, e.audio_duration_ms)
        for e in events
        if e.type == STAMP and e.item_id == item_id and any(c.isalnum() for c in e.text)
    ]


def keeps_punctuation(events, item_id):
    return [
        (e.text, e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms)
        for e in events
        if e.type == STAMP and e.item_id == item_id
    ]


def in_seconds(events, item_id):
    return [
        (e.text, e.audio_offset_ms / 1000, (e.audio_offset_ms + e.audio_duration_ms) / 1000)
        for e in events
        if e.type == STAMP and e.item_id == item_id and any(c.isalnum() for c in e.text)
    ]


def strips_punctuation(events, item_id):
    return [
        (e.text.strip(".,!?"), e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms)
        for e in events
        if e.type == STAMP and e.item_id == item_id and any(c.isalnum() for c in e.text)
    ]


def alphabetical(events, item_id):
    return sorted(
        (e.text, e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms)
        for e in events
        if e.type == STAMP and e.item_id == item_id and any(c.isalnum() for c in e.text)
    )


def stops_after_the_first(events, item_id):
    for e in events:
        if e.type == STAMP and e.item_id == item_id:
            return [(e.text, e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms)]
    return []


def forgets_return(events, item_id):
    words = []
    for e in events:
        if e.type == STAMP and e.item_id == item_id:
            words.append((e.text, e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms))


def yields(events, item_id):
    for e in events:
        if e.type == STAMP and e.item_id == item_id:
            yield (e.text, e.audio_offset_ms, e.audio_offset_ms + e.audio_duration_ms)


def dicts(events, item_id):
    return [
        {"word": e.text, "start_ms": e.audio_offset_ms}
        for e in events
        if e.type == STAMP and e.item_id == item_id and any(c.isalnum() for c in e.text)
    ]


WRONG_ANSWERS = [
    (
        mixes_replies,
        rf"answer .*, entry 1 is \('{re.escape(GREETING.split()[0])}', 0, \d+\)",
        "`event.item_id == item_id`",
    ),
    (duration_as_end, r"entry \d+ is \('[^']+', \d+, \d+\) where", "audio_offset_ms + audio_duration_ms, not the"),
    (keeps_punctuation, r"time-stamped on their own, entry \d+ is \(',', \d+, \d+\)", "no letter or digit"),
    (in_seconds, r"entry 1 is \('\w+', 0\.0, 0\.\d+\) where \('\w+', 0, \d+\)", "in milliseconds"),
    (strips_punctuation, r"entry \d+ is \('\w+', \d+, \d+\) where \('\w+[.,!?]'", "exactly as the event"),
    (alphabetical, r"entry 1 is \('[^']+', \d+, \d+\) where", "in the order they are spoken"),
    (stops_after_the_first, r"returned 1 entry; the reply has \d+ words", "don't stop early"),
    (forgets_return, r"word_timings returned None", "end the function with `return`"),
    (yields, r"returned a generator, not a list", "return a list"),
    (dicts, r"entry 1 is \{'word': '\w+', 'start_ms': 0\}", "a tuple of three"),
]


@pytest.mark.parametrize(
    ("function", "happened", "hint"), WRONG_ANSWERS, ids=[case[0].__name__ for case in WRONG_ANSWERS]
)
def test_a_wrong_word_timings_fails_with_its_first_wrong_entry_and_the_fix(
    function: Callable[..., Any], happened: str, hint: str
) -> None:
    message = failure(function)
    assert message.startswith("Exercise 06 (word timings) is not there yet.")
    assert re.search(happened, field(message, "Happened")), field(message, "Happened")
    assert hint in field(message, "Hint")
    assert f"in {function.__name__}: `def {function.__name__}(events, item_id):`" in field(message, "Where")


def reads_text_of_every_event(events, item_id):
    return [(event.text, event.audio_offset_ms, event.audio_offset_ms + event.audio_duration_ms) for event in events]


def still_the_stub(events, item_id):
    raise NotImplementedError("Exercise 06: write word_timings here (the comment above says how).")


def test_an_exception_in_the_learners_code_is_shown_with_the_learners_line() -> None:
    message = failure(reads_text_of_every_event)
    assert "your code raised AttributeError" in field(message, "Happened")
    assert "return [(event.text, event.audio_offset_ms" in field(message, "Where")
    assert "check `event.type` first" in field(message, "Hint")
    stub = failure(still_the_stub)
    assert "a stub is still there: Exercise 06: write word_timings here" in field(stub, "Happened")
    assert "raise NotImplementedError" in field(stub, "Where")


def never_returns(events, item_id):
    while True:
        pass


@pytest.mark.slow
def test_a_function_that_never_returns_is_stopped_and_never_passes() -> None:
    message = failure(never_returns)
    assert "`never_returns` had not returned after" in field(message, "Happened")
    assert "so the check stopped it" in field(message, "Happened")
    assert "while True" in field(message, "Where")


async def async_reference(events, item_id):
    return lesson_reference()(events, item_id)


def test_an_async_word_timings_is_awaited() -> None:
    assert isinstance(check_word_timings(async_reference), CheckPassed)


def test_a_practice_session_that_cannot_be_recorded_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(deadline: float) -> Replies:
        raise ConnectionError("the practice server went away")

    monkeypatch.setattr(word_timing_cases, "_record", broken)
    message = failure(lesson_reference())
    assert "could not record a practice session" in message and "the practice server went away" in message


def test_timestamps_that_disagree_with_the_transcript_are_not_used_as_truth() -> None:
    replies = word_timing_cases.record_replies(deadline=time.monotonic() + 20)
    forged = Replies(
        replies.events,
        replies.greeting,
        replies.answer,
        replies.text_only,
        {**replies.transcripts, replies.answer: "Something else was said."},
    )
    assert confirmed_words(replies, replies.answer)  # the real transcript confirms the timestamps
    with pytest.raises(PracticeUnavailable, match="did not match its own transcript"):
        confirmed_words(forged, replies.answer)


def test_a_check_whose_time_is_spent_says_so_and_never_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "BUDGET_S", 0.0)  # every second of the budget is already spent
    message = failure(lesson_reference())
    assert "ran out of its 0 s" in message or "could not record a practice session" in message


# ----------------------------------------------------------------------------- the exercise notebook


@pytest.fixture(scope="module")
def exercise_run() -> Iterator[nbformat.NotebookNode]:
    notebook, _ = run_exercise(EXERCISE)
    yield notebook


@pytest.mark.slow
def test_the_exercise_stops_at_its_own_check_with_the_friendly_message(exercise_run: nbformat.NotebookNode) -> None:
    code = [cell for cell in exercise_run.cells if cell.cell_type == "code"]
    failed = [cell for cell in code if any(o.output_type == "error" for o in cell.outputs)]
    check = next(index for index, cell in enumerate(code) if "check_word_timings()" in cell.source)
    assert all(not any(o.output_type == "error" for o in cell.outputs) for cell in code[:check])
    (output,) = [o for o in code[check].outputs if o.output_type == "error"]
    shown = shown_lines(output)
    assert output.ename == "CheckFailed"
    assert shown[0] == "❌ Exercise 06 (word timings) is not there yet."
    assert "a stub is still there: Exercise 06: write word_timings here" in shown[2]
    assert shown[3].startswith("  Where:    Cell In[") and "raise NotImplementedError" in shown[3]
    assert not any("Traceback" in line or "File " in line for line in shown)
    below = code[check + 1 :]
    assert below and failed == [code[check], *below]
    for cell in below:
        (stopped,) = cell.outputs
        assert stopped.ename == "SectionNotDone"
        assert shown_lines(stopped) == [
            "⏭  Finish exercise 06 (word timings) first: its check above has not passed yet."
        ]


# ----------------------------------------------------------------------------- the kit's pieces


def tone(hz: float, ms: int, lead_ms: int = 0, tail_ms: int = 0) -> bytes:
    """A buzz at ``hz`` (a pulse train, rich in harmonics like a voice) between silences."""
    t = np.arange(SAMPLE_RATE * ms // 1000) / SAMPLE_RATE
    buzz = 0.4 * np.sign(np.sin(2 * np.pi * hz * t)) * (np.sin(2 * np.pi * hz * t) > 0.8)
    silence = np.zeros
    return float_to_pcm16(
        np.concatenate([silence(SAMPLE_RATE * lead_ms // 1000), buzz, silence(SAMPLE_RATE * tail_ms // 1000)])
    )


@pytest.mark.parametrize("hz", [100.0, 150.0, 220.0])
def test_the_measures_find_the_speaking_time_and_the_pitch(hz: float) -> None:
    pcm = tone(hz, 800, lead_ms=300, tail_ms=500)
    assert speaking_time_ms(pcm) == pytest.approx(800, abs=10)
    assert median_pitch_hz(pcm) == pytest.approx(hz, rel=0.02)


def test_silence_has_no_speaking_time_and_no_pitch() -> None:
    assert speaking_time_ms(bytes(4800)) == 0.0 and speaking_time_ms(b"") == 0.0
    assert median_pitch_hz(bytes(48000)) is None and median_pitch_hz(b"") is None


def test_a_faster_and_a_higher_practice_voice_measure_so() -> None:
    sentence = "The pyramids of Giza were built about four thousand five hundred years ago."

    def said(**voice: str) -> bytes:
        spoken = synthesize(sentence, {"type": "azure-standard", "name": "en-US-AvaNeural", **voice})
        return float_to_pcm16(spoken.samples)

    normal, fast, high = said(), said(rate="1.5"), said(pitch="+40%")
    assert speaking_time_ms(fast) == pytest.approx(speaking_time_ms(normal) / 1.5, rel=0.05)
    assert median_pitch_hz(high) > 1.1 * median_pitch_hz(normal)  # type: ignore[operator]


def test_the_player_shows_its_words_and_times_as_text() -> None:
    player = ReplyPlayer(bytes(48000), [("Hello!", 0, 420), ("Giza", 420, 1000)], title="The answer")
    assert (
        repr(player)
        == "ReplyPlayer · The answer · 1.00 s of audio · 2 timed words\n  0.00-0.42 s  Hello!\n  0.42-1.00 s  Giza"
    )
    bundle = player._repr_mimebundle_()[0]
    assert bundle["text/plain"] == repr(player) and "application/vnd.jupyter.widget-view+json" in bundle
    assert player.wav[:4] == b"RIFF" and len(player.wav) == 44 + 48000
    assert player.words == [["Hello!", 0, 420], ["Giza", 420, 1000]]
    plain = ReplyPlayer(bytes(24000), title="Ava, rate 1.3", transcript="The pyramids of Giza.")
    assert repr(plain) == "ReplyPlayer · Ava, rate 1.3 · 0.50 s of audio\n  The pyramids of Giza."


@pytest.mark.parametrize("words", [[("a", 10)], [("a", 500, 100)], [(1, 0, 10)], ["abc"], [("a", -5, 10)]])
def test_the_player_refuses_words_it_cannot_show(words: list[Any]) -> None:
    with pytest.raises(ValueError, match="word 1 must be"):
        ReplyPlayer(bytes(4800), words)


def test_the_figures_show_each_setting_and_the_reply_on_one_time_axis() -> None:
    figure = plot_voice_comparison({"slow": tone(120, 900), "fast": tone(120, 450)})
    time_axes, pitch_axes = figure.axes
    assert [label.get_text() for label in time_axes.get_yticklabels()] == ["slow", "fast"]
    assert [bar.get_width() for bar in time_axes.patches] == pytest.approx([0.9, 0.45], abs=0.01)
    assert [bar.get_width() for bar in pitch_axes.patches] == pytest.approx([120, 120], rel=0.02)

    visemes = [(0, 0), (120, 21), (300, 6), (700, 0)]
    timeline = plot_reply_timeline(tone(150, 1000), [("pea", 100, 450), ("see", 450, 900)], visemes)
    wave_axes, word_axes, viseme_axes = timeline.axes
    assert wave_axes.get_shared_x_axes().joined(wave_axes, viseme_axes)
    assert [text.get_text() for text in word_axes.texts] == ["pea", "see"]
    (step,) = viseme_axes.lines[:1]
    assert list(step.get_ydata()) == [0, 21, 6, 0, 0] and list(step.get_xdata()) == [0, 0.12, 0.3, 0.7, 1.0]
    assert viseme_axes.get_xlim() == (0, 1.0)


def test_every_word_of_a_practice_reply_has_a_duration() -> None:
    # eSpeak reports "for the" as one word; the practice service still times both, as the service does.
    spoken = synthesize(
        "The pyramids of Giza were built about 4,500 years ago for the pharaohs, by thousands of paid workers.",
        {"type": "azure-standard", "name": "en-US-AvaNeural"},
    )
    assert [word.text for word in spoken.words][9:12] == ["ago", "for", "the"]
    assert all(word.duration_ms > 0 for word in spoken.words)
    offsets = [word.offset_ms for word in spoken.words]
    assert offsets == sorted(offsets)


def test_pieces_eSpeak_did_not_report_share_the_time_to_the_next_report() -> None:
    pieces = ["The ", "for ", "the ", "pharaohs"]
    assert _piece_starts_ms(pieces, ((0, 3, 0), (4, 3, 100), (12, 8, 300))) == [0, 100, 200, 300]
    assert _piece_starts_ms(["x ", "b ", "c"], ((4, 1, 50),)) == [0, 25, 50]
    assert _piece_starts_ms(["a ", "b ", "c"], ((0, 1, 0),)) == [0, 0, 0]  # nothing reported after: no time to share
    assert _piece_starts_ms([], ()) == []


# ----------------------------------------------------------------------------- the player in a browser page

#: Renders the player's ES module in a blank page with a model shaped like anywidget's (binary traits arrive as a
#: DataView), and waits until the audio element knows its duration.
RENDER = """async ([source, wav, words]) => {
  const module = await import(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })));
  const bytes = Uint8Array.from(atob(wav), (c) => c.charCodeAt(0));
  const state = { wav: new DataView(bytes.buffer), words, title: 'A test reply', transcript: '' };
  const el = document.createElement('div');
  document.body.append(el);
  module.default.render({ model: { get: (key) => state[key], on: () => {} }, el });
  const audio = el.querySelector('audio');
  if (audio.readyState < 1) await new Promise((done) => audio.addEventListener('loadedmetadata', done, { once: true }));
  return audio.duration;
}"""
SHOWN = """() => ({
  now: [...document.querySelectorAll('.vl-word-now')].map((span) => span.textContent),
  said: [...document.querySelectorAll('.vl-word-said')].map((span) => span.textContent),
})"""
SEEK = """async (seconds) => {
  const audio = document.querySelector('audio');
  await new Promise((done) => {
    audio.addEventListener('seeked', done, { once: true });
    audio.currentTime = seconds;
  });
}"""


@pytest.mark.slow
def test_the_player_lights_up_the_word_at_the_playback_position() -> None:
    support = pytest.importorskip("browser_support")
    if not support.CHROMIUM.exists():
        pytest.skip(f"Debian chromium is not installed ({support.CHROMIUM} is missing)")
    import base64

    from voicelive_lab.reply_player import ESM

    words = [["one", 0, 500], ["two", 500, 1200], ["three", 1400, 1900]]
    player = ReplyPlayer(tone(150, 2000), words)
    console: list[str] = []
    with support.sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(support.CHROMIUM),
            args=[*support.CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda error: console.append(str(error)))
            page.set_content("<!doctype html><html><body></body></html>")
            duration = page.evaluate(RENDER, [ESM, base64.b64encode(player.wav).decode(), player.words])
            assert duration == pytest.approx(2.0, abs=0.01)
            assert page.evaluate(SHOWN) == {"now": ["one"], "said": []}  # at 0 s, the first word
            page.evaluate(SEEK, 0.7)
            assert page.evaluate(SHOWN) == {"now": ["two"], "said": ["one"]}
            page.evaluate(SEEK, 1.3)  # between two words: none is being said
            assert page.evaluate(SHOWN) == {"now": [], "said": ["one", "two"]}
            page.get_by_text("three", exact=True).click()  # a click jumps to the word
            assert page.evaluate("document.querySelector('audio').currentTime") == pytest.approx(1.4)
            assert page.evaluate(SHOWN) == {"now": ["three"], "said": ["one", "two"]}
            page.evaluate(SEEK, 0.0)
            page.evaluate("document.querySelector('audio').play()")  # while it plays, the words follow the audio
            page.wait_for_function("document.querySelector('.vl-reply').dataset.word === '1'", timeout=10_000)
            page.wait_for_function("document.querySelector('.vl-reply').dataset.word === '2'", timeout=10_000)
        finally:
            browser.close()
    assert console == []
