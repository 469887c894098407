"""The session object: defaults, merging a ``session.update`` into it, and rejecting invalid values.

Longer than the kit's usual ~350 lines on purpose: it holds one rule per session field Azure accepts (voices,
formats, turn detection, transcription, tools, agent mode), and each rule reads best beside the default it guards.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .client_events import session_field_problem
from .tool_schemas import function_tool_problem
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
#: Reply audio: "pcm16" is 24 kHz; the others name their rate. The SDK's OutputAudioFormat enum lists only
#: 8 and 16 kHz besides, but the service takes every rate here (the SDK passes other strings through).
OUTPUT_FORMATS = (
    "pcm16",
    "pcm16_8000hz",
    "pcm16_16000hz",
    "pcm16_22050hz",
    "pcm16_24000hz",
    "pcm16_44100hz",
    "pcm16_48000hz",
    "g711_ulaw",
    "g711_alaw",
)
#: The older hyphenated spellings; the session shows the current one.
LEGACY_OUTPUT_FORMATS = {name.replace("_", "-", 1): name for name in OUTPUT_FORMATS if name.startswith("pcm16_")}
#: PCM16 input rates. The SDK's docstring names 8000, 16000 and 24000 only; the service also takes the common
#: device rates 22050, 44100 and 48000, so a learner can send a microphone's audio as it comes. G.711 input
#: is 8 kHz whatever this field says (session.updated then shows 8000).
SAMPLING_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
#: ``input_audio_noise_reduction.type`` (the SDK's AudioNoiseReduction).
NOISE_REDUCTION_TYPES = ("azure_deep_noise_suppression", "near_field", "far_field")
#: ``input_audio_echo_cancellation`` (the SDK's AudioEchoCancellation): its type, reference sources, channels.
ECHO_CANCELLATION_TYPES = ("server_echo_cancellation",)
ECHO_REFERENCE_SOURCES = ("server", "client")
ECHO_CHANNELS = (1, 2)
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
#: The fields each turn detection type takes, as the SDK's models declare them.
VAD_FIELDS = (
    "threshold", "prefix_padding_ms", "silence_duration_ms", "speech_duration_ms", "end_of_utterance_detection",
    "create_response", "interrupt_response", "auto_truncate",
)  # fmt: skip
AZURE_SEMANTIC_FIELDS = (*VAD_FIELDS, "remove_filler_words", "languages", "appended_text_after_truncation")
TURN_DETECTION_FIELDS = {
    "server_vad": VAD_FIELDS,
    "azure_semantic_vad": AZURE_SEMANTIC_FIELDS,
    "azure_semantic_vad_en": (*VAD_FIELDS, "remove_filler_words"),
    "azure_semantic_vad_multilingual": AZURE_SEMANTIC_FIELDS,
    "semantic_vad": ("eagerness", "create_response", "interrupt_response"),
}
SEMANTIC_VAD_DEFAULTS = {"eagerness": "auto", "create_response": True, "interrupt_response": True}
EAGERNESS = ("low", "medium", "high", "auto")
EOU_MODELS = ("semantic_detection_v1", "semantic_detection_v1_en", "semantic_detection_v1_multilingual")
EOU_THRESHOLD_LEVELS = ("low", "medium", "high", "default")
#: ``timeout_ms`` when the client gives neither it nor the older ``timeout`` (seconds).
EOU_DEFAULT_TIMEOUT_MS = 1000
EOU_MAX_TIMEOUT_MS = 10_000
SESSION_LIFETIME_S = 30 * 60


class InvalidSessionValue(ValueError):
    """A ``session.update`` field the service would refuse; ``param`` names it as the service does."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def default_session(
    session_id: str, model: str, agent: dict[str, Any] | None = None, lifetime_s: float = SESSION_LIFETIME_S
) -> dict[str, Any]:
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
        "expires_at": int(time.time() + lifetime_s),
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
    if (problem := session_field_problem(field, value, param)) is not None:  # the field's shape; values below
        raise InvalidSessionValue(*problem)
    if field == "voice":
        return _checked_voice(value)
    if field == "modalities":
        if not isinstance(value, list) or not value or any(m not in MODALITIES for m in value):
            raise InvalidSessionValue(param, f"modalities must be a non-empty list drawn from {list(MODALITIES)}.")
        if "audio" in value and "text" not in value:
            raise InvalidSessionValue(param, "Audio-only output is not supported: use ['text', 'audio'].")
        return value
    if field == "input_audio_format":
        _one_of(param, value, INPUT_FORMATS)
        if value != "pcm16" and _stereo_echo_reference(session.get("input_audio_echo_cancellation")):
            raise InvalidSessionValue(param, "Two-channel echo cancellation input must be pcm16.")
        return value
    if field == "output_audio_format":
        return _one_of(
            param, LEGACY_OUTPUT_FORMATS.get(value, value) if isinstance(value, str) else value, OUTPUT_FORMATS
        )
    if field == "input_audio_sampling_rate":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidSessionValue(param, f"input_audio_sampling_rate must be one of {list(SAMPLING_RATES)} (Hz).")
        return _one_of(param, value, SAMPLING_RATES)
    if field == "input_audio_noise_reduction":
        return _checked_noise_reduction(value)
    if field == "input_audio_echo_cancellation":
        return _checked_echo_cancellation(value, session)
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


def _checked_noise_reduction(value: Any) -> Any:
    if value is None:
        return None
    param = "session.input_audio_noise_reduction"
    if not isinstance(value, dict):
        raise InvalidSessionValue(
            param,
            "input_audio_noise_reduction must be an object such as {'type': 'azure_deep_noise_suppression'}, or null.",
        )
    _one_of(f"{param}.type", value.get("type"), NOISE_REDUCTION_TYPES)
    return value


def _checked_echo_cancellation(value: Any, session: dict[str, Any]) -> Any:
    if value is None:
        return None
    param = "session.input_audio_echo_cancellation"
    if not isinstance(value, dict):
        raise InvalidSessionValue(
            param,
            "input_audio_echo_cancellation must be an object such as {'type': 'server_echo_cancellation'}, or null.",
        )
    _one_of(f"{param}.type", value.get("type"), ECHO_CANCELLATION_TYPES)
    if value.get("reference_source") is not None:
        _one_of(f"{param}.reference_source", value["reference_source"], ECHO_REFERENCE_SOURCES)
    if value.get("channels") is not None:
        if isinstance(value["channels"], bool):
            raise InvalidSessionValue(f"{param}.channels", "channels must be 1 or 2.")
        _one_of(f"{param}.channels", value["channels"], ECHO_CHANNELS)
    if _stereo_echo_reference(value):
        if value.get("reference_source") != "client":
            raise InvalidSessionValue(
                f"{param}.reference_source", "With channels 2 the reference is the client's: use 'client'."
            )
        if session.get("input_audio_format") != "pcm16":
            raise InvalidSessionValue(f"{param}.channels", "Two-channel input must be pcm16.")
    return value


def _stereo_echo_reference(echo: Any) -> bool:
    return isinstance(echo, dict) and echo.get("channels") == 2


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
    """The turn detection with its type's defaults filled in, or :class:`InvalidSessionValue` naming the field."""
    if value is None:
        return None
    param = "session.turn_detection"
    if not isinstance(value, dict):
        raise InvalidSessionValue(param, "turn_detection must be an object or null.")
    kind = _one_of(f"{param}.type", value.get("type"), TURN_DETECTION_TYPES)
    given = {k: v for k, v in value.items() if v is not None and k != "type"}
    for field in given:
        if field not in TURN_DETECTION_FIELDS[kind]:
            raise InvalidSessionValue(
                f"{param}.{field}", f"'{kind}' turn detection has no field '{field}'.", code="unknown_parameter"
            )
    if kind == "semantic_vad":
        checked = {"type": kind, **SEMANTIC_VAD_DEFAULTS, **given}
        _one_of(f"{param}.eagerness", checked["eagerness"], EAGERNESS)
    else:
        checked = {"type": kind, **TURN_DETECTION_DEFAULTS, **given}
        if kind != "server_vad":
            checked.setdefault("remove_filler_words", False)
        _number(f"{param}.threshold", checked["threshold"], 0.0, 1.0)
        for field in ("prefix_padding_ms", "silence_duration_ms", "speech_duration_ms"):
            if field in checked:
                _number(f"{param}.{field}", checked[field], 0, 10_000, integer=True)
        if "languages" in checked:
            _check_languages(f"{param}.languages", checked["languages"])
        if not isinstance(checked.get("appended_text_after_truncation", ""), str):
            raise InvalidSessionValue(
                f"{param}.appended_text_after_truncation", "appended_text_after_truncation must be a string."
            )
        if "end_of_utterance_detection" in checked:
            checked["end_of_utterance_detection"] = _checked_eou(checked["end_of_utterance_detection"])
    for field in ("create_response", "interrupt_response", "auto_truncate", "remove_filler_words"):
        if field in checked and not isinstance(checked[field], bool):
            raise InvalidSessionValue(f"{param}.{field}", f"{field} must be true or false.")
    return checked


def _checked_eou(value: Any) -> dict[str, Any]:
    """``end_of_utterance_detection`` with ``threshold_level`` and ``timeout_ms`` filled in."""
    param = "session.turn_detection.end_of_utterance_detection"
    if not isinstance(value, dict):
        example = "{'model': 'semantic_detection_v1'}"
        raise InvalidSessionValue(param, f"end_of_utterance_detection must be an object such as {example}, or null.")
    _one_of(f"{param}.model", value.get("model"), EOU_MODELS)
    for field in value:
        if field not in ("model", "threshold_level", "timeout_ms", "threshold", "timeout"):
            raise InvalidSessionValue(
                f"{param}.{field}", f"end_of_utterance_detection has no field '{field}'.", code="unknown_parameter"
            )
    checked = {k: v for k, v in value.items() if v is not None}
    _one_of(f"{param}.threshold_level", checked.setdefault("threshold_level", "default"), EOU_THRESHOLD_LEVELS)
    if "threshold" in checked:  # the older spelling of the level, 0.0 .. 1.0
        _number(f"{param}.threshold", checked["threshold"], 0.0, 1.0)
    if "timeout" in checked:  # the older spelling of the timeout, in seconds
        _number(f"{param}.timeout", checked["timeout"], 0.0, EOU_MAX_TIMEOUT_MS / 1000)
        checked.setdefault("timeout_ms", round(checked["timeout"] * 1000))
    checked.setdefault("timeout_ms", EOU_DEFAULT_TIMEOUT_MS)
    _number(f"{param}.timeout_ms", checked["timeout_ms"], 0, EOU_MAX_TIMEOUT_MS, integer=True)
    return checked


def _check_languages(param: str, value: Any) -> None:
    if not isinstance(value, list):
        raise InvalidSessionValue(param, "languages must be a list of language codes such as ['en-US', 'es-ES'].")
    for index, code in enumerate(value):
        parts = code.split("-") if isinstance(code, str) else [""]
        if not (2 <= len(parts[0]) <= 3 and parts[0].isalpha()) or not all(
            1 <= len(part) <= 8 and part.isalnum() for part in parts[1:]
        ):
            raise InvalidSessionValue(f"{param}[{index}]", f"{code!r} is not a BCP-47 language code such as 'en-US'.")


def _checked_tools(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise InvalidSessionValue("session.tools", "tools must be a list.")
    for index, tool in enumerate(value):
        param = f"session.tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") not in ("function", "mcp"):
            raise InvalidSessionValue(f"{param}.type", "Each tool needs type 'function' (or 'mcp').")
        if tool["type"] == "mcp":
            _checked_mcp_tool(tool, param, value[:index])
        if tool["type"] == "function" and (problem := function_tool_problem(tool, param)) is not None:
            raise InvalidSessionValue(*problem)
    return value


def _checked_mcp_tool(tool: dict[str, Any], param: str, earlier: list[Any]) -> None:
    """An MCP server: a unique ``server_label``, an http(s) ``server_url``, and the optional fields' types."""
    label = tool.get("server_label")
    if not isinstance(label, str) or not label.strip():
        raise InvalidSessionValue(f"{param}.server_label", "An MCP server needs a 'server_label'.")
    if any(isinstance(other, dict) and other.get("server_label") == label for other in earlier):
        raise InvalidSessionValue(f"{param}.server_label", f"Two MCP servers have the server_label '{label}'.")
    url = tool.get("server_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidSessionValue(f"{param}.server_url", "An MCP server needs an http(s) 'server_url'.")
    allowed = tool.get("allowed_tools")
    if allowed is not None and not _is_name_list(allowed):
        raise InvalidSessionValue(f"{param}.allowed_tools", "allowed_tools must be a list of tool names.")
    headers = tool.get("headers")
    if headers is not None and (not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values())):
        raise InvalidSessionValue(f"{param}.headers", "headers must map header names to string values.")
    if tool.get("authorization") is not None and not isinstance(tool["authorization"], str):
        raise InvalidSessionValue(f"{param}.authorization", "authorization must be a string.")
    approval = tool.get("require_approval")
    per_tool_ok = (
        isinstance(approval, dict)
        and set(approval) <= {"always", "never"}
        and all(_is_name_list(v.get("tool_names") if isinstance(v, dict) else v) for v in approval.values())
    )
    if approval is not None and approval not in ("always", "never") and not per_tool_ok:
        raise InvalidSessionValue(
            f"{param}.require_approval",
            "require_approval must be 'always', 'never' or {'always': [tool names], 'never': [tool names]}.",
        )


def _is_name_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(name, str) for name in value)


def _check_tool_choice(session: dict[str, Any]) -> None:
    choice = session.get("tool_choice", "auto")
    if isinstance(choice, str):
        _one_of("session.tool_choice", choice, TOOL_CHOICES)
        return
    names = {tool.get("name") for tool in session.get("tools") or []}
    name = choice.get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str) or choice.get("type") != "function" or name not in names:
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
