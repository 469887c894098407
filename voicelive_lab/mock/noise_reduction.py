"""Input noise reduction for the practice server: steady background hiss is turned down before the VAD hears it.

The service runs a neural suppressor (``azure_deep_noise_suppression``) or a near/far-field model; the
practice server stands in for all of them with broadband spectral subtraction:

* the noise floor is the quietest 20 ms frame of the last 1.5 s (steady noise never goes quieter than itself,
  while speech always pauses between words), and
* each frame keeps the share of its power that stands above a few times that floor, down to a -30 dB floor.

A hiss that is steady and below the speech level falls to about 30 dB under where it was; speech keeps nearly
all of its level. Noise that starts suddenly passes for up to the window length until the floor catches up.
"""

from __future__ import annotations

from collections import deque

import numpy as np

#: How far back the noise floor looks for the quietest frame.
NOISE_WINDOW_MS = 1500
#: Over-subtraction: frames within this factor of the floor's power count as noise.
OVER_SUBTRACTION = 2.5
#: The least gain a frame gets (-30 dB): noise is turned down, not cut to digital silence.
GAIN_FLOOR = 0.03


class NoiseSuppressor:
    """Frame-by-frame gain for one input stream; state carries over from call to call."""

    def __init__(self, frame_len: int, frame_ms: float) -> None:
        self._frame_len = frame_len
        self._powers: deque[float] = deque(maxlen=max(1, round(NOISE_WINDOW_MS / frame_ms)))
        self._last_gain: float | None = None

    def process(self, frames: np.ndarray) -> np.ndarray:
        """Returns ``frames`` with the noise turned down; a part frame at the end keeps the last gain."""
        out = np.empty(len(frames), dtype=np.float32)
        whole = len(frames) - len(frames) % self._frame_len
        for start in range(0, whole, self._frame_len):
            frame = frames[start : start + self._frame_len].astype(np.float64)
            power = float(np.mean(frame * frame))
            self._powers.append(power)
            gain = self._gain(power, min(self._powers))
            previous = gain if self._last_gain is None else self._last_gain
            # Glide from the last frame's gain to this one's, so the gain never steps inside the audio.
            out[start : start + self._frame_len] = frame * np.linspace(previous, gain, self._frame_len)
            self._last_gain = gain
        out[whole:] = frames[whole:] * (1.0 if self._last_gain is None else self._last_gain)
        return out

    @staticmethod
    def _gain(power: float, noise_power: float) -> float:
        if power <= 0.0:
            return GAIN_FLOOR
        kept = max(0.0, 1.0 - OVER_SUBTRACTION * noise_power / power)
        return max(GAIN_FLOOR, kept**0.5)
