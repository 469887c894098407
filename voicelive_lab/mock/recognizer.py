"""Hearing words offline: a recognizer interface, pocketsphinx behind it, and a placeholder when it can't load.

pocketsphinx (BSD) carries its US English acoustic model and dictionary in its wheel. The practice recognizer
decodes against a small language model built from what the practice agent expects to hear (its topics, the
session's tools) plus the session's ``phrase_list``: the service's own way to bias recognition.

pocketsphinx holds the GIL while it decodes, which would stall every other thread of a notebook kernel (the
learner's own event loop among them). So it runs in one child process (``recognizer_worker``), loaded once;
sessions take turns on it.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import pickle
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .language_model import build_arpa
from .pcm import resample

log = logging.getLogger("voicelive_lab.mock")

DECODER_RATE = 16000
#: A phrase in ``phrase_list`` is taught in these sentences, each counting as this many corpus sentences.
PHRASE_CARRIERS = ("{}", "Tell me about {}.", "Who was {}?", "What is {}?", "Where is {}?", "I want to go to {}.")
PHRASE_WEIGHT = 4
CACHED_MODELS = 8
#: Shorter audio holds no word (and pocketsphinx refuses a too-short utterance).
MIN_AUDIO_MS = 100
#: Longest wait for one answer from the recognizer process (its first answer includes loading the model).
WORKER_TIMEOUT_S = 60.0
#: Gaussians scored per frame: 32 (default 4) hears synthetic and accented voices far better, ~2x slower.
TOP_GAUSSIANS = 32
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
QUESTION_WORDS = frozenset(
    "what who whom whose when where why how which can could would will is are do does did should may shall "
    "what's who's where's how's".split()
)


@dataclass(frozen=True)
class RecognitionHints:
    """What the recognizer may expect: sentences it knows, phrases the session asked to favour, the language."""

    sentences: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    language: str = "en-US"


class Recognizer(Protocol):
    name: str

    def transcribe(self, samples: np.ndarray, sample_rate: int, hints: RecognitionHints) -> str:
        """The words in ``samples`` (float, mono), written as the service writes a transcript."""
        ...


class PlaceholderRecognizer:
    """No recognizer available: the transcript says how much speech was heard."""

    name = "placeholder (no recognizer: transcripts give the length of the speech)"

    def transcribe(self, samples: np.ndarray, sample_rate: int, hints: RecognitionHints) -> str:
        return placeholder_transcript(round(len(samples) * 1000 / sample_rate))


def placeholder_transcript(speech_ms: int) -> str:
    if speech_ms <= 0:
        return "(no speech heard)"
    return f"({speech_ms / 1000:.1f} s of speech)"


class PocketsphinxRecognizer:
    """pocketsphinx with a language model per set of hints (the last few kept), one utterance at a time."""

    name = "pocketsphinx (BSD), US English, offline"

    def __init__(self) -> None:
        from pocketsphinx import Config, Decoder

        self._config = Config(
            lm=None,
            samprate=DECODER_RATE,
            cmn="batch",  # normalise over the whole utterance: the same audio always gives the same words
            remove_noise=False,
            topn=TOP_GAUSSIANS,
            fwdflat=False,  # the second pass gains little on a small vocabulary and doubles the time
            loglevel="FATAL",
        )
        self._decoder = Decoder(self._config)
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._models: OrderedDict[tuple[tuple[str, ...], tuple[str, ...]], str] = OrderedDict()

    def transcribe(self, samples: np.ndarray, sample_rate: int, hints: RecognitionHints) -> str:
        audio = resample(np.asarray(samples, dtype=np.float32), sample_rate, DECODER_RATE)
        if len(audio) < DECODER_RATE * MIN_AUDIO_MS // 1000:
            return ""
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        with self._lock:
            self._decoder.activate_search(self._search_for(hints))
            self._decoder.start_utt()
            try:
                self._decoder.process_raw(pcm, full_utt=True)
            finally:  # an open utterance would refuse every later search change
                self._decoder.end_utt()
            hypothesis = self._decoder.hyp()
        words = [w for w in (hypothesis.hypstr.split() if hypothesis else []) if not w.startswith("<")]
        return written_form(words, casing_of(hints.sentences, hints.phrases))

    def _search_for(self, hints: RecognitionHints) -> str:
        key = (hints.sentences, hints.phrases)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        name = f"practice{next(self._names)}"
        sentences = [(words, 1) for words in self._known_words(hints.sentences)]
        carried = [carrier.format(phrase) for phrase in hints.phrases for carrier in PHRASE_CARRIERS]
        sentences += [(words, PHRASE_WEIGHT) for words in self._known_words(carried)]
        from pocketsphinx import NGramModel

        handle, path = tempfile.mkstemp(suffix=".arpa")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(build_arpa(sentences))
            self._decoder.add_lm(name, NGramModel(self._config, self._decoder.logmath, path))
        finally:
            os.unlink(path)
        self._models[key] = name
        while len(self._models) > CACHED_MODELS:
            _, oldest = self._models.popitem(last=False)
            self._decoder.remove_search(oldest)
        return name

    def _known_words(self, sentences: Iterable[str]) -> list[list[str]]:
        """Each sentence as dictionary words; words the dictionary lacks are left out (and logged once)."""
        result = []
        for sentence in sentences:
            words = WORD.findall(sentence.lower())
            known = [word for word in words if self._decoder.lookup_word(word) is not None]
            for word in set(words) - set(known):
                _log_unknown(word)
            if known:
                result.append(known)
        return result


@functools.cache
def _log_unknown(word: str) -> None:
    log.info("Practice recognizer: '%s' is not in its dictionary, so it cannot be heard.", word)


def casing_of(sentences: Iterable[str], phrases: Iterable[str] = ()) -> dict[str, str]:
    """How the hints write each word that is not all lower case (``seattle`` → ``Seattle``); a sentence's first
    word says nothing, a phrase's does (``Ada Lovelace``)."""
    casing: dict[str, str] = {}
    for text, first in [*((sentence, 1) for sentence in sentences), *((phrase, 0) for phrase in phrases)]:
        for word in re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?", text)[first:]:
            if word.lower() != word:
                casing.setdefault(word.lower(), word)
    return casing


def written_form(words: list[str], casing: dict[str, str]) -> str:
    """``what is the weather in seattle`` → ``What is the weather in Seattle?``."""
    if not words:
        return ""
    written = [casing.get(word, "I" if word == "i" else word) for word in words]
    written[0] = written[0][0].upper() + written[0][1:]
    asks = any(word in QUESTION_WORDS for word in words[:2])  # "hello, can you hear me" asks too
    return " ".join(written) + ("?" if asks else ".")


class RecognizerUnavailable(RuntimeError):
    """The recognizer process could not start, or stopped answering; the message says why."""


class RecognizerProcess:
    """A :class:`PocketsphinxRecognizer` in a child process, started again if it dies or hangs."""

    name = PocketsphinxRecognizer.name

    def __init__(self, timeout_s: float = WORKER_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._answers: queue.Queue[Any] = queue.Queue()
        self._start()

    def transcribe(self, samples: np.ndarray, sample_rate: int, hints: RecognitionHints) -> str:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            answer = self._ask(("transcribe", np.asarray(samples, dtype=np.float32), sample_rate, hints))
        return str(answer)

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "voicelive_lab.mock.recognizer_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # its failures come back as answers; stray output would land in a later cell
        )
        self._answers = queue.Queue()
        threading.Thread(target=self._read_answers, args=(self._process, self._answers), daemon=True).start()
        self._ask(("ready",))

    def _ask(self, request: tuple[Any, ...]) -> Any:
        assert self._process is not None and self._process.stdin is not None
        try:
            pickle.dump(request, self._process.stdin)
            self._process.stdin.flush()
            kind, value = self._answers.get(timeout=self._timeout_s)
        except (OSError, queue.Empty):
            self.close()
            message = f"the recognizer process stopped answering (within {self._timeout_s:.0f} s)"
            raise RecognizerUnavailable(message) from None
        if kind != "ok":
            raise RecognizerUnavailable(str(value))
        return value

    @staticmethod
    def _read_answers(process: subprocess.Popen[bytes], answers: queue.Queue[Any]) -> None:
        assert process.stdout is not None
        while True:
            try:
                answers.put(pickle.load(process.stdout))
            except (EOFError, OSError, pickle.UnpicklingError):
                answers.put(("error", f"the recognizer process ended (exit code {process.wait()})"))
                return


_loading = threading.Lock()


def loaded_recognizer() -> Recognizer:
    """The process's recognizer, loaded once: pocketsphinx, else the placeholder (said once, in the log)."""
    with _loading:  # the server's warm-up and a first session may ask at the same moment
        return _load_recognizer()


@functools.cache
def _load_recognizer() -> Recognizer:
    try:
        recognizer: Recognizer = RecognizerProcess()
    except Exception as error:  # no pocketsphinx, or a model that fails to load: never a crashed session
        log.warning("Practice recognizer: pocketsphinx could not load (%s); transcripts give speech lengths.", error)
        return PlaceholderRecognizer()
    log.info("Practice recognizer: %s.", recognizer.name)
    return recognizer
