"""Is the user's phrase finished? A small rule set on its words (or, without words, its length); filler words.

This is the practice server's stand-in for the service's semantic end-of-utterance model. After the energy VAD's
silence, a phrase that ends on a conjunction, preposition, article or filler ("and", "to", "the", "um"), or that
is only interjections ("Wait, stop."), is unfinished: the turn waits for more speech. A question or any other
clause is finished.

``threshold_level`` (how sure the model must be before it ends the turn) is mapped like this:

* ``low``: only a dangling last word keeps the turn open, and for half of ``timeout_ms`` at most: turns end sooner.
* ``medium`` / ``default``: dangling words and lone interjections keep it open, for ``timeout_ms``.
* ``high``: also any short statement of one or two words, for ``timeout_ms``: turns end later, more often.

OpenAI's ``semantic_vad`` uses the same rules; its ``eagerness`` picks the level and the longest wait
(``low`` 8 s at level high, ``medium``/``auto`` 4 s at medium, ``high`` 2 s at level low).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: The service's documented English fillers, and a few close spellings.
FILLER_WORDS = frozenset({"ah", "umm", "um", "mm", "uh", "huh", "oh", "yeah", "hmm", "er", "erm", "uh-huh", "mhm"})
#: Words a finished English phrase rarely ends on; a question may end on a preposition ("Where are you from?").
CONJUNCTIONS = frozenset("and but so or because if then than when while although though unless until".split())
DETERMINERS = frozenset("the a an my your his her our their this these those".split())
PREPOSITIONS = frozenset("to of in on at for with from about into onto by like as".split())
ENDS_NO_QUESTION = FILLER_WORDS | CONJUNCTIONS | DETERMINERS | {"wait"}
ENDS_NO_PHRASE = ENDS_NO_QUESTION | PREPOSITIONS
#: Words that start a phrase without saying anything yet ("Wait, stop." is a lone interjection).
INTERJECTIONS = FILLER_WORDS | frozenset("wait stop hold on hang well hey listen look actually let me see so".split())
#: Sentences that let the recognizer hear fillers and interjections when it judges a phrase.
TURN_HINT_SENTENCES = (
    "Um.", "Uh.", "Hmm.", "Er.", "Ah.", "Oh.", "Yeah.", "Wait.", "Stop.", "Wait, stop.", "Hold on.",
    "And.", "But.", "So.", "Because.", "Um, wait.",
)  # fmt: skip
#: Without words, speech shorter than this (ms) is judged unfinished, by level.
MIN_FINISHED_MS = {"low": 400, "medium": 600, "high": 1000}
#: Without words, speech over a reply shorter than this (ms) is taken for a lone filler.
MAX_FILLER_MS = 700
EAGERNESS = {"low": ("high", 8000), "medium": ("medium", 4000), "auto": ("medium", 4000), "high": ("low", 2000)}
WORD = re.compile(r"[a-z0-9]+(?:['-][a-z]+)*")


@dataclass(frozen=True)
class EndOfUtterance:
    """How the session judges the end of a phrase."""

    level: str
    #: The longest an unfinished phrase keeps the turn open, from its last speech (input-audio ms).
    wait_ms: int

    @property
    def min_finished_ms(self) -> int:
        return MIN_FINISHED_MS[self.level]


def end_of_utterance(detection: dict[str, Any]) -> EndOfUtterance | None:
    """The session's end-of-utterance settings; None when turns end on silence alone."""
    if detection.get("type") == "semantic_vad":
        level, wait_ms = EAGERNESS.get(str(detection.get("eagerness", "auto")), EAGERNESS["auto"])
        return EndOfUtterance(level, wait_ms)
    settings = detection.get("end_of_utterance_detection")
    if not isinstance(settings, dict):
        return None
    level = str(settings.get("threshold_level", "default"))
    level = "medium" if level not in MIN_FINISHED_MS else level
    timeout_ms = int(settings.get("timeout_ms", 1000))
    return EndOfUtterance(level, timeout_ms // 2 if level == "low" else timeout_ms)


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower())


def is_finished(text: str | None, speech_ms: int, settings: EndOfUtterance) -> bool:
    """Whether a phrase is complete; ``text`` None (or no words) means judge by its length alone."""
    words = words_of(text or "")
    if not words:
        return speech_ms >= settings.min_finished_ms
    asks = (text or "").rstrip().endswith("?")
    if words[-1] in (ENDS_NO_QUESTION if asks else ENDS_NO_PHRASE):
        return False
    if settings.level == "low":
        return True
    if all(word in INTERJECTIONS for word in words):
        return False
    return not (settings.level == "high" and len(words) <= 2 and not asks)


def is_lone_filler(text: str | None, speech_ms: int) -> bool:
    """Speech that is only a filler ("um", "hmm"): by its words, or without words by its shortness."""
    words = words_of(text or "")
    if not words:
        return speech_ms < MAX_FILLER_MS
    return all(word in FILLER_WORDS for word in words)


def without_fillers(text: str) -> str:
    """``Um, tell me about, uh, Rome.`` → ``Tell me about Rome.``: fillers and the commas around them dropped."""
    kept: list[str] = []
    dropped_first = False
    for token in text.split():
        core = token.strip(".,!?;:").lower()
        if core not in FILLER_WORDS:
            kept.append(token)
            continue
        dropped_first = dropped_first or not kept
        if kept:  # "about, uh, Rome" → "about Rome"; "Rome, um." → "Rome."
            kept[-1] = kept[-1].rstrip(",;:") + token[len(token.rstrip(".!?")) :]
    if kept and dropped_first:
        kept[0] = kept[0][0].upper() + kept[0][1:]
    return " ".join(kept)


def spoken_words(text: str, session: dict[str, Any]) -> str:
    """A user transcript as the session's turn detection writes it (fillers removed when it is asked to)."""
    detection = session.get("turn_detection") or {}
    return without_fillers(text) if detection.get("remove_filler_words") else text
