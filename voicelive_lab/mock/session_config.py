"""The session object: defaults, merging a ``session.update`` into it, and rejecting invalid values."""

from __future__ import annotations

import copy
import time
from typing import Any

from .voices import choose_voice, pitch_level, speaking_rate

OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
VOICE_TYPES = (
    "azure-standard",
    "azure-custom",
    "azure-personal",
    "azure-realtime-native",
    "avatar-voice-sync",
    "openai",
)
INPUT_FORMATS = ("pcm16", "g711_ulaw", "g711_alaw")
OUTPUT_FORMATS = ("pcm16", "pcm16_8000hz", "pcm16_16000hz", "g711_ulaw", "g711_alaw")
LEGACY_OUTPUT_FORMATS = {"pcm16-8000hz": "pcm16_8000hz", "pcm16-16000hz": "pcm16_16000hz"}
SAMPLING_RATES = (16000, 24000)
MODALITIES = ("text", "audio", "animation", "avatar")
TURN_DETECTION_TYPES = (
    "server_vad",
    "azure_semantic_vad",
    "azure_semantic_vad_en",
    "azure_semantic_vad_multilingual",
    "semantic_vad",
)
TOOL_CHOICES = ("auto", "none", "required")
TRANSCRIPTION_MODELS = (
    "azure-speech",
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe-diarize",
    "mai-transcribe-1",
)
TIMESTAMP_TYPES = ("word",)
ANIMATION_OUTPUTS = ("blendshapes", "viseme_id")
KNOWN_FIELDS = frozenset(
    {
        "model", "modalities", "animation", "voice", "instructions", "input_audio_sampling_rate",
        "input_audio_format", "output_audio_format", "turn_detection", "input_audio_noise_reduction",
        "input_audio_echo_cancellation", "avatar", "input_audio_transcription",
        "output_audio_timestamp_types", "tools", "tool_choice", "parallel_tool_calls", "temperature",
        "max_response_output_tokens", "reasoning_effort", "interim_response", "include", "metadata",
    }
)  # fmt: skip
TURN_DETECTION_DEFAULTS = {
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "create_response": True,
    "interrupt_response": True,
    "auto_truncate": False,
}
SESSION_LIFETIME_S = 30 * 60


class InvalidSessionValue(ValueError):
    """A ``session.update`` field the service would refuse; ``param`` names it as the service does."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def default_session(session_id: str, model: str, agent: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new session as ``session.created`` shows it; ``agent`` is the Foundry agent in agent mode."""
    session = {
        "id": session_id,
        "object": "realtime.session",
        "model": model,
        "modalities": ["text", "audio"],
        "instructions": "",
        "voice": {"type": "azure-standard", "name": "en-US-AvaNeural"},
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_sampling_rate": 24000,
        "turn_detection": {"type": "server_vad", **TURN_DETECTION_DEFAULTS},
        "input_audio_noise_reduction": None,
        "input_audio_echo_cancellation": None,
        "input_audio_transcription": None,
        "tools": [],
        "tool_choice": "auto",
        "temperature": 0.8,
        "max_response_output_tokens": "inf",
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
    }
    if agent is not None:
        session["agent"] = agent
    return session


def merge_update(current: dict[str, Any], update: Any) -> dict[str, Any]:
    """The session after ``update``, or :class:`InvalidSessionValue`; ``current`` is never changed."""
    if not isinstance(update, dict):
        raise InvalidSessionValue("session", "'session' must be an object with the fields to change.")
    merged = copy.deepcopy(current)
    for field, value in update.items():
        if field not in KNOWN_FIELDS:
            raise InvalidSessionValue(f"session.{field}", f"Unknown session field '{field}'.", code="unknown_parameter")
        merged[field] = _checked(field, copy.deepcopy(value), merged)
    _check_tool_choice(merged)
    return merged


def voice_language(session: dict[str, Any]) -> str:
    """The BCP-47 language the session's voice speaks (``en-us`` for OpenAI voices)."""
    return choose_voice(session.get("voice")).language


def _checked(field: str, value: Any, session: dict[str, Any]) -> Any:
    param = f"session.{field}"
    if field == "voice":
        return _checked_voice(value)
    if field == "modalities":
        if not isinstance(value, list) or not value or any(m not in MODALITIES for m in value):
            raise InvalidSessionValue(param, f"modalities must be a non-empty list drawn from {list(MODALITIES)}.")
        if "audio" in value and "text" not in value:
            raise InvalidSessionValue(param, "Audio-only output is not supported: use ['text', 'audio'].")
        return value
    if field == "input_audio_format":
        return _one_of(param, value, INPUT_FORMATS)
    if field == "output_audio_format":
        return _one_of(param, LEGACY_OUTPUT_FORMATS.get(value, value), OUTPUT_FORMATS)
    if field == "input_audio_sampling_rate":
        return _one_of(param, value, SAMPLING_RATES)
    if field == "turn_detection":
        return _checked_turn_detection(value)
    if field == "instructions" and not isinstance(value, str):
        raise InvalidSessionValue(param, "instructions must be a string.")
    if field == "temperature":
        return _number(param, value, 0.0, 2.0)
    if field == "max_response_output_tokens" and value != "inf":
        return int(_number(param, value, 1, 4096, integer=True))
    if field == "tools":
        return _checked_tools(value)
    if field == "input_audio_transcription":
        return _checked_transcription(value)
    if field == "output_audio_timestamp_types":
        if not isinstance(value, list) or any(kind not in TIMESTAMP_TYPES for kind in value):
            raise InvalidSessionValue(
                param, f"output_audio_timestamp_types must be a list drawn from {list(TIMESTAMP_TYPES)}."
            )
        return value
    if field == "animation" and value is not None:
        outputs = value.get("outputs") if isinstance(value, dict) else None
        if not isinstance(value, dict) or (
            outputs is not None and (not isinstance(outputs, list) or any(o not in ANIMATION_OUTPUTS for o in outputs))
        ):
            raise InvalidSessionValue(
                param, f"animation must be an object whose outputs are drawn from {list(ANIMATION_OUTPUTS)}."
            )
    return value


def _checked_transcription(value: Any) -> Any:
    if value is None:
        return None
    param = "session.input_audio_transcription"
    if not isinstance(value, dict):
        raise InvalidSessionValue(
            param, "input_audio_transcription must be an object such as {'model': 'azure-speech'}, or null."
        )
    _one_of(f"{param}.model", value.get("model"), TRANSCRIPTION_MODELS)
    if value.get("language") is not None and not isinstance(value["language"], str):
        raise InvalidSessionValue(f"{param}.language", "language must be a language code such as 'en-US', or 'en,de'.")
    phrases = value.get("phrase_list")
    if phrases is not None and (not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases)):
        raise InvalidSessionValue(f"{param}.phrase_list", "phrase_list must be a list of strings.")
    return value


def _checked_voice(value: Any) -> Any:
    if isinstance(value, str):
        if value.lower() not in OPENAI_VOICES:
            raise InvalidSessionValue(
                "session.voice",
                f"'{value}' is not an OpenAI voice ({', '.join(OPENAI_VOICES)}). For an Azure voice send "
                "an object such as {'type': 'azure-standard', 'name': 'en-US-AvaNeural'}.",
            )
        return value
    if not isinstance(value, dict):
        raise InvalidSessionValue("session.voice", "voice must be a voice name or a voice object.")
    voice_type = value.get("type")
    if voice_type not in VOICE_TYPES:
        raise InvalidSessionValue(
            "session.voice.type", f"Unknown voice type {voice_type!r}; use one of {list(VOICE_TYPES)}."
        )
    if not isinstance(value.get("name"), str) or not value["name"].strip():
        raise InvalidSessionValue("session.voice.name", f"A '{voice_type}' voice needs a 'name'.")
    if voice_type == "openai" and value["name"].lower() not in OPENAI_VOICES:
        raise InvalidSessionValue("session.voice.name", f"'{value['name']}' is not an OpenAI voice.")
    if voice_type == "azure-custom" and not value.get("endpoint_id"):
        raise InvalidSessionValue("session.voice.endpoint_id", "An 'azure-custom' voice needs an 'endpoint_id'.")
    if "temperature" in value and value["temperature"] is not None:
        _number("session.voice.temperature", value["temperature"], 0.0, 1.0)
    for field, parse in (("rate", speaking_rate), ("pitch", pitch_level)):
        try:
            parse(value.get(field))
        except ValueError as error:
            raise InvalidSessionValue(f"session.voice.{field}", str(error)) from None
    return value


def _checked_turn_detection(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidSessionValue("session.turn_detection", "turn_detection must be an object or null.")
    _one_of("session.turn_detection.type", value.get("type"), TURN_DETECTION_TYPES)
    checked = {**TURN_DETECTION_DEFAULTS, **{k: v for k, v in value.items() if v is not None}}
    _number("session.turn_detection.threshold", checked["threshold"], 0.0, 1.0)
    for field in ("prefix_padding_ms", "silence_duration_ms", "speech_duration_ms"):
        if field in checked:
            _number(f"session.turn_detection.{field}", checked[field], 0, 10_000, integer=True)
    for field in ("create_response", "interrupt_response", "auto_truncate"):
        if not isinstance(checked[field], bool):
            raise InvalidSessionValue(f"session.turn_detection.{field}", f"{field} must be true or false.")
    return checked


def _checked_tools(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidSessionValue("session.tools", "tools must be a list.")
    for index, tool in enumerate(value):
        param = f"session.tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") not in ("function", "mcp"):
            raise InvalidSessionValue(f"{param}.type", "Each tool needs type 'function' (or 'mcp').")
        if tool["type"] == "function":
            if not isinstance(tool.get("name"), str) or not tool["name"]:
                raise InvalidSessionValue(f"{param}.name", "A function tool needs a 'name'.")
            if not isinstance(tool.get("parameters", {}), dict):
                raise InvalidSessionValue(f"{param}.parameters", "'parameters' must be a JSON schema object.")
    return value


def _check_tool_choice(session: dict[str, Any]) -> None:
    choice = session.get("tool_choice", "auto")
    if isinstance(choice, str):
        _one_of("session.tool_choice", choice, TOOL_CHOICES)
        return
    names = {tool.get("name") for tool in session.get("tools") or []}
    if not isinstance(choice, dict) or choice.get("type") != "function" or choice.get("name") not in names:
        raise InvalidSessionValue(
            "session.tool_choice",
            "tool_choice must be 'auto', 'none', 'required' or {'type': 'function', 'name': <a configured tool>}.",
        )


def _one_of(param: str, value: Any, allowed: tuple[Any, ...]) -> Any:
    if value not in allowed:
        raise InvalidSessionValue(param, f"{value!r} is not supported; use one of {list(allowed)}.")
    return value


def _number(param: str, value: Any, low: float, high: float, integer: bool = False) -> float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise InvalidSessionValue(param, f"{param.split('.')[-1]} must be {kind} from {low} to {high} (got {value!r}).")
    return value
