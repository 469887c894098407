"""The notebook page's microphone and speaker, for kernels with no sound devices (JupyterHub, Codespaces, Docker).

Audio rides the widget channel the kernel already has: the page captures with ``getUserMedia`` and an
AudioWorklet, and sends 24 kHz mono PCM16 frames as binary buffers; reply audio goes back the same way into an
AudioWorklet queue. Knows the widget channel and ``audio``'s device protocols, nothing of the SDK.

    audio = BrowserAudio()
    display(audio)  # then, in a later cell:
    runner = SessionRunner(microphone=BrowserMicrophone(audio), speaker=BrowserSpeaker(audio))
"""

from .availability import BrowserAudioCheck, browser_audio_available
from .microphone import BrowserMicrophone
from .speaker import BrowserSpeaker
from .widget import BrowserAudio

__all__ = ["BrowserAudio", "BrowserAudioCheck", "BrowserMicrophone", "BrowserSpeaker", "browser_audio_available"]
