"""The practice agent's parts on their own: voice choice, the fallback voice, and arguments from words."""

from __future__ import annotations

import pytest

from voicelive_lab.mock import speech
from voicelive_lab.mock.tools import arguments_for, choose_tool
from voicelive_lab.mock.voices import choose_voice, pitch_level, speaking_rate

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Get the current weather for a location.",
    "parameters": {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "The city"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1},
        },
        "required": ["location"],
    },
}
STOCKS = {
    "type": "function",
    "name": "get_stock_price",
    "description": "Look up the latest share price for a ticker symbol.",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]},
}


@pytest.mark.parametrize(
    ("voice", "espeak_voice", "language"),
    [
        ({"type": "azure-standard", "name": "en-US-AvaNeural"}, "en-us+f", "en-us"),
        ({"type": "azure-standard", "name": "en-US-AndrewNeural"}, "en-us+m", "en-us"),
        ({"type": "azure-standard", "name": "de-DE-ConradNeural"}, "de+m", "de-de"),
        ({"type": "azure-standard", "name": "it-IT-ElsaNeural"}, "it+f", "it-it"),
        ({"type": "azure-standard", "name": "ja-JP-NanamiNeural"}, "ja+f", "ja-jp"),
        ({"type": "azure-standard", "name": "zh-TW-HsiaoChenNeural"}, "cmn+f", "zh-tw"),
        ({"type": "azure-standard", "name": "zh-CN-YunxiNeural"}, "cmn+m", "zh-cn"),
        ({"type": "azure-standard", "name": "en-US-Ava:DragonHDLatestNeural"}, "en-us+f", "en-us"),
        ("alloy", "en-us+f", "en-us"),
        ({"type": "openai", "name": "echo"}, "en-us+m", "en-us"),
    ],
)
def test_voice_names_map_to_espeak_voices_by_language_and_gender(voice, espeak_voice: str, language: str) -> None:
    choice = choose_voice(voice)
    assert choice.espeak.voice.startswith(espeak_voice)
    assert choice.language == language


def test_rate_and_pitch_take_the_forms_azure_voices_take() -> None:
    assert speaking_rate("1.5") == 1.5 and speaking_rate("+20%") == 1.2 and speaking_rate("slow") == 0.75
    assert pitch_level("+10%") == 55 and pitch_level("-2st") == 40 and pitch_level("high") == 65
    fast = choose_voice({"type": "azure-standard", "name": "en-US-AvaNeural", "rate": "1.5"}).espeak
    assert (
        fast.words_per_minute
        > choose_voice({"type": "azure-standard", "name": "en-US-AvaNeural"}).espeak.words_per_minute
    )
    for bad in ("quick", "5"):
        with pytest.raises(ValueError, match="rate"):
            speaking_rate(bad)


def test_without_espeak_replies_fall_back_to_the_tone_voice(monkeypatch) -> None:
    monkeypatch.setattr(speech, "loaded_espeak", lambda: None)
    speech._cached_synthesis.cache_clear()
    try:
        spoken = speech.synthesize("Hello there, learner.", "alloy", 16000)
    finally:
        speech._cached_synthesis.cache_clear()
    assert spoken.sample_rate == 16000 and spoken.duration_ms > 500
    assert "".join(piece for _, piece in spoken.pieces) == "Hello there, learner."
    assert [word.text for word in spoken.words] == ["Hello", "there,", "learner."]


def test_a_request_picks_the_tool_its_words_fit() -> None:
    tools = [STOCKS, WEATHER]
    assert choose_tool(tools, "auto", "What is the weather like in Seattle?") is WEATHER
    assert choose_tool(tools, "auto", "What is the share price of Contoso?") is STOCKS
    assert choose_tool(tools, "auto", "Who built the pyramids of Giza?") is None
    assert choose_tool(tools, "required", "Who built the pyramids of Giza?") is STOCKS
    assert choose_tool(tools, {"type": "function", "name": "get_weather"}, "Hello") is WEATHER
    assert choose_tool(tools, "none", "What is the weather in Paris?") is None


def test_arguments_fill_required_fields_from_the_words_and_optional_ones_only_when_said() -> None:
    schema = WEATHER["parameters"]
    assert arguments_for(schema, "What's the weather in Seattle?") == {"location": "Seattle"}
    assert arguments_for(schema, "What is the weather in New York in fahrenheit for three days?") == {
        "location": "New York",
        "unit": "fahrenheit",
        "days": 3,
    }
    assert arguments_for(STOCKS["parameters"], "What is the share price of Contoso?") == {"symbol": "Contoso"}


@pytest.mark.parametrize(
    ("heard", "place"),
    [
        ("what is the weather in paris today", "Paris"),  # as the recogniser writes weather_paris.wav
        ("weather in new york tomorrow please", "New York"),
        ("is it cold in oslo now", "Oslo"),
    ],
)
def test_a_place_is_found_in_lower_case_speech_and_a_word_of_time_is_no_place(heard: str, place: str) -> None:
    assert arguments_for(WEATHER["parameters"], heard)["location"] == place
