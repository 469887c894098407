"""Audio for Voice Live sessions: PCM16 bytes in and out, devices, stand-ins and buffers.

Knows nothing of the SDK or the protocol. ``sounddevice`` (PortAudio) is imported only when a real
device is started or ``audio_status()`` is called.
"""

from .errors import AudioFileError, AudioFileNotFound, AudioUnavailable
from .microphone import Microphone
from .pcm import BLOCK_MS, SAMPLE_RATE
from .playback import PlaybackBuffer
from .protocols import AudioInput, AudioOutput, LostCallback, RecordedOutput, ScriptedInput
from .recording_speaker import RecordingSpeaker
from .samples import SAMPLES_DIR, sample, sample_names
from .speaker import Speaker
from .status import AudioStatus, audio_status
from .wav_microphone import WavMicrophone

__all__ = [
    "BLOCK_MS",
    "SAMPLES_DIR",
    "SAMPLE_RATE",
    "AudioFileError",
    "AudioFileNotFound",
    "AudioInput",
    "AudioOutput",
    "AudioStatus",
    "AudioUnavailable",
    "LostCallback",
    "Microphone",
    "PlaybackBuffer",
    "RecordedOutput",
    "RecordingSpeaker",
    "ScriptedInput",
    "Speaker",
    "WavMicrophone",
    "audio_status",
    "sample",
    "sample_names",
]
