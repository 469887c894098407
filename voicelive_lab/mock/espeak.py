"""eSpeak NG as a library, through ctypes: speech samples plus the word and phoneme events it reports.

The library comes from the ``espeakng-loader`` wheel (which carries its voice data) or, failing that, from the
system (Debian's ``libespeak-ng1``). eSpeak NG keeps global state, so every call holds one process-wide lock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from dataclasses import dataclass

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_PHONEME_EVENTS = 0x0001
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7
PARAMETER_RATE, PARAMETER_PITCH, PARAMETER_RANGE = 1, 3, 4


class EspeakUnavailable(RuntimeError):
    """No usable eSpeak NG library on this machine; the message says what was tried."""


class _Event(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    )


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class EspeakSettings:
    """What eSpeak NG is asked for: a voice name such as ``en-us+f3``, words a minute, pitch and range (0-100)."""

    voice: str
    words_per_minute: int = 175
    pitch: int = 50
    pitch_range: int = 50


@dataclass(frozen=True)
class EspeakOutput:
    """Samples (int16) at ``sample_rate``; words as (character offset, length, ms); phonemes as (ms, name)."""

    samples: np.ndarray
    sample_rate: int
    words: tuple[tuple[int, int, int], ...]
    phonemes: tuple[tuple[int, str], ...]


class Espeak:
    """One loaded eSpeak NG library. Build it once per process: :func:`load_espeak`."""

    def __init__(self, library_path: str, data_path: str | None, origin: str) -> None:
        self.origin = origin
        try:
            self._lib = ctypes.CDLL(library_path)
        except OSError as error:
            raise EspeakUnavailable(f"could not load {library_path}: {error}") from None
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, bytes]] = []
        self._callback = _Callback(self._collect)  # kept referenced: the library calls it later
        options = INITIALIZE_DONT_EXIT | INITIALIZE_PHONEME_EVENTS
        path = data_path.encode() if data_path else None
        self.sample_rate = int(self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, path, options))
        if self.sample_rate <= 0:
            raise EspeakUnavailable(f"eSpeak NG at {library_path} found no voice data ({data_path or 'default path'})")
        self._lib.espeak_SetSynthCallback(self._callback)

    def seed(self, value: int) -> bool:
        """Fix the random numbers eSpeak NG varies its voice with; False when this library cannot (before 1.52).

        With a seed, the first text a process speaks comes out the same in every process (later texts still
        depend on what was spoken before: eSpeak NG carries state from one text to the next)."""
        try:
            set_seed = self._lib.espeak_ng_SetRandSeed
        except AttributeError:
            return False
        with self._lock:
            set_seed(ctypes.c_long(value))
        return True

    def speak(self, text: str, settings: EspeakSettings) -> EspeakOutput:
        encoded = text.encode("utf-8")
        with self._lock:
            self._chunks, self._events = [], []
            if self._lib.espeak_SetVoiceByName(settings.voice.encode()) != 0:
                raise EspeakUnavailable(f"eSpeak NG has no voice '{settings.voice}'")
            self._lib.espeak_SetParameter(PARAMETER_RATE, settings.words_per_minute, 0)
            self._lib.espeak_SetParameter(PARAMETER_PITCH, settings.pitch, 0)
            self._lib.espeak_SetParameter(PARAMETER_RANGE, settings.pitch_range, 0)
            self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, CHARS_UTF8, None, None)
            chunks, events = self._chunks, self._events
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        words = tuple(
            (min(max(position - 1, 0), len(text)), length, ms)  # eSpeak counts characters from 1
            for kind, position, length, ms, _ in events
            if kind == EVENT_WORD
        )
        phonemes = tuple(
            (ms, name.split(b"\0")[0].decode("utf-8", "replace"))
            for kind, _, _, ms, name in events
            if kind == EVENT_PHONEME
        )
        return EspeakOutput(samples, self.sample_rate, words, phonemes)

    def _collect(self, wav: ctypes._Pointer, count: int, events: ctypes._Pointer) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).astype(np.int16))
        index = 0
        while events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            self._events.append((event.type, event.text_position, event.length, event.audio_position, bytes(event.id)))
            index += 1
        return 0


def load_espeak() -> Espeak:
    """The wheel's library and data first, then the system's; :class:`EspeakUnavailable` says what failed."""
    problems: list[str] = []
    try:
        import espeakng_loader

        return Espeak(espeakng_loader.get_library_path(), espeakng_loader.get_data_path(), "espeakng-loader wheel")
    except ImportError:
        problems.append("the espeakng-loader wheel is not installed")
    except (EspeakUnavailable, RuntimeError) as error:
        problems.append(f"the espeakng-loader wheel failed: {error}")
    system = ctypes.util.find_library("espeak-ng")
    if system is None:
        problems.append("no system libespeak-ng (Debian/Ubuntu: apt install libespeak-ng1)")
    else:
        try:
            return Espeak(system, None, f"system {system}")
        except EspeakUnavailable as error:
            problems.append(f"the system library failed: {error}")
    raise EspeakUnavailable("; ".join(problems))
