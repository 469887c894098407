"""Say a phrase no sample holds ("Um.", "Tell me about the Roman Empire and"), offline, as a recording to send.

:func:`spoken` makes the phrase with the practice service's own voice (eSpeak NG, which the practice
recogniser hears well) and shapes it like the kit's samples: 24 kHz mono PCM16, peak -3 dBFS, 250 ms of
silence before the speech and 300 ms after, so it joins samples and pauses in one recording. On Azure it is an
ordinary recording of a synthetic voice.

The same text always gives the same bytes. eSpeak NG varies its voice with random numbers and carries state
from one text to the next, so each phrase is made by a fresh Python process that fixes the seed first; a
phrase already made in this process is returned from memory.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np

from .audio.pcm import SAMPLE_RATE

#: The practice service's voice for the phrases (eSpeak NG ``en-us+f2``): the recogniser hears it best.
DEFAULT_VOICE = "en-US-AvaNeural"
LEAD_MS, TAIL_MS = 250, 300
PEAK_DBFS = -3.0
#: Quieter than this (relative to the phrase's peak) at either end is eSpeak's own silence, trimmed away.
TRIM_LEVEL = 0.002
SEED = 1
MAKE_TIMEOUT_S = 60.0


class SpeechUnavailable(RuntimeError):
    """No phrase can be made here (no eSpeak NG); the message says why."""


def spoken(text: str, voice: str = DEFAULT_VOICE) -> bytes:
    """``text`` said by the practice voice ``voice``, as 24 kHz mono PCM16 shaped like the kit's samples."""
    if not text.strip():
        raise ValueError("spoken() needs words to say, not an empty text.")
    return _made(text, voice)


@functools.lru_cache(maxsize=32)
def _made(text: str, voice: str) -> bytes:
    try:
        made = subprocess.run(
            [sys.executable, "-m", __name__, text, voice],
            capture_output=True,
            timeout=MAKE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SpeechUnavailable(f"making {text!r} took longer than {MAKE_TIMEOUT_S:.0f} s") from None
    if made.returncode != 0 or not made.stdout:
        reason = made.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SpeechUnavailable(f"could not say {text!r}: {reason[-1] if reason else 'no audio came back'}")
    return made.stdout


def shaped(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Float speech trimmed of its own silence, at peak -3 dBFS, with the samples' lead and tail, as PCM16."""
    level = np.abs(samples)
    loud = np.flatnonzero(level > TRIM_LEVEL * float(level.max() if len(level) else 0.0))
    if not len(loud):
        raise SpeechUnavailable("the voice produced no sound")
    speech = samples[loud[0] : loud[-1] + 1].astype(np.float64)
    speech *= 10 ** (PEAK_DBFS / 20) / float(np.abs(speech).max())
    lead, tail = (np.zeros(ms * sample_rate // 1000) for ms in (LEAD_MS, TAIL_MS))
    whole = np.concatenate([lead, speech, tail])
    return np.clip(np.round(whole * 32767), -32768, 32767).astype("<i2").tobytes()


def _say_in_this_process(text: str, voice: str) -> bytes:
    """The phrase made here and now; only right as the first text of a fresh process (see the module's notes)."""
    from .mock.speech import loaded_espeak, synthesize

    espeak = loaded_espeak()
    if espeak is None:
        raise SpeechUnavailable("eSpeak NG is not available (pip install espeakng-loader, or apt install espeak-ng)")
    espeak.seed(SEED)
    said = synthesize(text, {"type": "azure-standard", "name": voice}, SAMPLE_RATE)
    return shaped(said.samples, SAMPLE_RATE)


if __name__ == "__main__":
    try:
        sys.stdout.buffer.write(_say_in_this_process(sys.argv[1], sys.argv[2]))
    except SpeechUnavailable as error:
        sys.exit(str(error))
