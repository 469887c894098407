"""From a Voice Live voice to an eSpeak NG voice: language and gender from the name, rate and pitch from the voice."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

from .espeak import EspeakSettings

BASE_WORDS_PER_MINUTE = 165
BASE_PITCH = 50
#: Variants that stay easy to understand (eSpeak's ``!v`` files), chosen per voice name so voices differ.
FEMALE_VARIANTS: tuple[str, ...] = ("f2", "f5", "f3")
MALE_VARIANTS: tuple[str, ...] = ("m5", "m6", "m1")
#: BCP-47 locale (lower case) or its language → eSpeak NG voice.
ESPEAK_LANGUAGE = {
    "en-us": "en-us",
    "en-gb": "en",
    "en-au": "en",
    "en-in": "en",
    "en": "en-us",
    "de": "de",
    "it": "it",
    "fr": "fr",
    "fr-ca": "fr",
    "es": "es",
    "es-mx": "es-419",
    "pt": "pt",
    "pt-br": "pt-br",
    "nl": "nl",
    "ja": "ja",
    "ko": "ko",
    "zh-cn": "cmn",
    "zh-tw": "cmn",
    "zh-hk": "yue",
    "zh": "cmn",
}
#: Voice first names → gender, for the Azure and OpenAI voices learners meet first. Others get a variant by name.
FEMALE_NAMES = frozenset(
    "ava emma jenny aria sara nancy michelle ana amber ashley cora elizabeth jane monica libby sonia "
    "maisie katja amala elke gisela louisa maja seraphina tanja elsa isabella fabiola fiamma imelda irma "
    "palmira pierina nanami aoi mayu shiori xiaoxiao xiaoyi xiaochen xiaohan xiaomeng hsiaochen hsiaoyu "
    "denise eloise vivienne elvira ximena dalia francisca alloy coral sage shimmer marin".split()
)
MALE_NAMES = frozenset(
    "andrew brian guy davis tony jason eric christopher roger steffan ryan thomas conrad florian killian "
    "kasper ralf bernd christoph diego benigno calimero cataldo gianni giuseppe lisandro rinaldo keita "
    "daichi naoki yunxi yunjian yunyang yunjhe henri remy alvaro jorge ash ballad echo verse cedar".split()
)
RATE_WORDS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.5, "x-fast": 2.0}
PITCH_WORDS = {"x-low": 20, "low": 35, "medium": 50, "default": 50, "high": 65, "x-high": 80}


@dataclass(frozen=True)
class VoiceChoice:
    """The eSpeak NG settings for one Voice Live voice, and the BCP-47 language they speak."""

    espeak: EspeakSettings
    language: str


def choose_voice(voice: Any) -> VoiceChoice:
    """``"alloy"``, ``{"type": "azure-standard", "name": "de-DE-KatjaNeural", "rate": "1.2"}`` … → eSpeak NG."""
    fields = voice if isinstance(voice, dict) else {"name": str(voice or "")}
    name = str(fields.get("name") or "")
    locale = str(fields.get("locale") or _locale_of(name) or "en-US").lower()
    language = ESPEAK_LANGUAGE.get(locale) or ESPEAK_LANGUAGE.get(locale.split("-")[0]) or "en-us"
    first_name = _first_name(name)
    if first_name in FEMALE_NAMES:
        variants = FEMALE_VARIANTS
    elif first_name in MALE_NAMES:
        variants = MALE_VARIANTS
    else:
        variants = FEMALE_VARIANTS + MALE_VARIANTS
    variant = variants[zlib.crc32(name.encode()) % len(variants)]
    settings = EspeakSettings(
        voice=f"{language}+{variant}",
        words_per_minute=round(BASE_WORDS_PER_MINUTE * speaking_rate(fields.get("rate"))),
        pitch=pitch_level(fields.get("pitch")),
    )
    return VoiceChoice(settings, locale if "-" in locale else f"{locale}-{locale}")


def _locale_of(name: str) -> str | None:
    match = re.match(r"([a-z]{2,3}-[A-Za-z]{2,4})-", name)
    return match.group(1) if match else None


def _first_name(name: str) -> str:
    """``en-US-AvaNeural`` → ``ava``; ``en-US-Ava:DragonHDLatestNeural`` → ``ava``; ``alloy`` → ``alloy``."""
    bare = re.sub(r"^[a-z]{2,3}-[A-Za-z]{2,4}-", "", name).split(":")[0]
    bare = re.sub(r"(Multilingual)?Neural$", "", bare)
    return bare.lower()


def speaking_rate(value: Any) -> float:
    """A multiple of the normal rate from ``"1.2"``, ``"+20%"``, ``"-10%"`` or ``"fast"``; ValueError otherwise."""
    if value is None or value == "":
        return 1.0
    text = str(value).strip().lower()
    if text in RATE_WORDS:
        return RATE_WORDS[text]
    try:
        rate = 1.0 + float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(
            f"rate {value!r} is not a rate: use a multiple such as '1.2', a change such as '+20%', or one of "
            f"{', '.join(RATE_WORDS)}."
        ) from None
    if not 0.5 <= rate <= 2.0:
        raise ValueError(f"rate {value!r} is out of range: the speaking rate must stay between 0.5x and 2x.")
    return rate


def pitch_level(value: Any) -> int:
    """eSpeak's pitch (0-100, 50 normal) from ``"+10%"``, ``"-2st"``, ``"+50Hz"`` or ``"high"``."""
    if value is None or value == "":
        return BASE_PITCH
    text = str(value).strip().lower()
    if text in PITCH_WORDS:
        return PITCH_WORDS[text]
    match = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)\s*(%|st|hz)", text)
    if match is None:
        raise ValueError(
            f"pitch {value!r} is not a pitch: use a change such as '+10%', '-2st' or '+50Hz', or one of "
            f"{', '.join(PITCH_WORDS)}."
        )
    amount, unit = float(match.group(1)), match.group(2)
    change = {"%": amount / 2, "st": amount * 5, "hz": amount / 4}[unit]
    return max(0, min(100, round(BASE_PITCH + change)))
