"""What one response runs with: the session's settings, ``response.create``'s overrides, and the bounds on its size.

A response may change its own modalities, instructions, voice, output format, temperature, token limit, tools,
tool choice, metadata and interim response, and may stay out of the conversation (``commit: false`` as Voice Live
names it, ``conversation: "none"`` as OpenAI does). Values are checked as ``session.update`` checks them, with the
error's ``param`` naming the response field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .client_events import ClientEventError
from .responses import ResponsePlan
from .session_config import InvalidSessionValue, merge_update

#: ``response`` fields that override a session field of the same meaning (response name → session name).
OVERRIDES = {
    "modalities": "modalities",
    "instructions": "instructions",
    "voice": "voice",
    "output_audio_format": "output_audio_format",
    "temperature": "temperature",
    "max_output_tokens": "max_response_output_tokens",
    "tools": "tools",
    "tool_choice": "tool_choice",
    "metadata": "metadata",
    "interim_response": "interim_response",
    "reasoning_effort": "reasoning_effort",
}
#: Whatever the words or the tool output, one reply says at most this much (about a minute of speech), so one
#: session can never keep the synthesizer busy for minutes.
MAX_REPLY_CHARS = 1000
CHARS_PER_TOKEN = 4
INTERIM_TEXT = "One moment, please."


def response_settings(session: dict[str, Any], params: dict[str, Any], additional: str | None) -> dict[str, Any]:
    """The session with the response's overrides applied; refuses bad values with ``response.<field>``."""
    update = {OVERRIDES[key]: value for key, value in params.items() if key in OVERRIDES}
    try:
        settings = merge_update(session, update)
    except InvalidSessionValue as error:
        param = error.param.replace("session.", "response.", 1)
        for response_name, session_name in OVERRIDES.items():
            param = param.replace(f"response.{session_name}", f"response.{response_name}", 1)
        raise ClientEventError(str(error), error.code, param) from None
    if additional:
        settings["instructions"] = f"{settings.get('instructions') or ''}\n{additional}".strip()
    return settings


def in_conversation(params: dict[str, Any]) -> bool:
    """False for an out-of-band response, whose items stay out of the conversation."""
    return params.get("commit", True) is not False and params.get("conversation", "auto") != "none"


def bounded(plan: ResponsePlan, settings: dict[str, Any]) -> ResponsePlan:
    """The plan cut to the response's token limit (then ``incomplete``) and to the practice server's own bound."""
    limit = settings.get("max_response_output_tokens", "inf")
    text, reason = plan.text, plan.incomplete_reason
    if isinstance(limit, int) and len(text) > limit * CHARS_PER_TOKEN:
        text, reason = _cut(text, limit * CHARS_PER_TOKEN), "max_output_tokens"
    if len(text) > MAX_REPLY_CHARS:
        text = _cut(text, MAX_REPLY_CHARS)
    return dataclasses.replace(plan, text=text, incomplete_reason=reason)


def interim_text(settings: dict[str, Any], calls_tool: bool, waited_ms: float) -> str | None:
    """What the interim response says before the answer, when its trigger fires (a tool call, or a slow answer)."""
    config = settings.get("interim_response")
    if not isinstance(config, dict):
        return None
    triggers = config.get("triggers") or ["latency", "tool"]
    threshold = config.get("latency_threshold_ms")
    threshold = threshold if isinstance(threshold, (int, float)) else 2000
    fired = ("tool" in triggers and calls_tool) or ("latency" in triggers and waited_ms >= threshold)
    if not fired:
        return None
    texts = config.get("texts") if config.get("type") == "static_interim_response" else None
    return str(texts[0]) if isinstance(texts, list) and texts else INTERIM_TEXT


def pre_generated_text(params: dict[str, Any]) -> str | None:
    """The text of ``pre_generated_assistant_message``: the response says exactly this."""
    message = params.get("pre_generated_assistant_message")
    if not isinstance(message, dict):
        return None
    parts = content if isinstance(content := message.get("content"), list) else []
    texts = [str(part.get("text") or part.get("transcript") or "") for part in parts if isinstance(part, dict)]
    return " ".join(text for text in texts if text) or None


def _cut(text: str, limit: int) -> str:
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut
