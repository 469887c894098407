"""What lesson 06's check asks ``word_timings``: a real practice session's replies, edge cases, and the truth.

A private practice server (word timestamps and visemes on) says a greeting, answers a question and writes a
text-only reply; their events, as the SDK gives them, are what the learner's function reads. The truth for each
spoken reply comes from its timestamp events and is confirmed against the reply's transcript and audio length,
so a session that went wrong stops the check (:class:`PracticeUnavailable`) instead of judging against it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from azure.ai.voicelive.aio import connect
from azure.ai.voicelive.models import (
    Animation,
    AnimationOutputType,
    AssistantMessageItem,
    AudioTimestampType,
    AzureStandardVoice,
    InputTextContentPart,
    Modality,
    OutputTextContentPart,
    RequestSession,
    ResponseCreateParams,
    ServerEventResponseAudioTimestampDelta,
    UserMessageItem,
)
from azure.core.credentials import AzureKeyCredential

from ..audio.pcm import bytes_to_ms
from ..mock import MockServer
from ..recordings import events_until
from .own_loop import SessionTrouble, run_on_own_loop

TIMESTAMP = "response.audio_timestamp.delta"
GREETING = "Hello! Ask me anything about history."
QUESTION = "Who built the pyramids of Giza?"
#: Marks a synthesizer may time-stamp on their own; a caption that highlights words skips them.
LONE_MARKS = (",", "—", "...")

Entry = tuple[str, float, float]


class PracticeUnavailable(RuntimeError):
    """The check could not get a consistent practice session to judge with; the message says what went wrong."""


@dataclass(frozen=True)
class Replies:
    """A practice session's events and the item ids of its three replies."""

    events: list[Any]
    greeting: str
    answer: str
    text_only: str
    transcripts: dict[str, str]


@dataclass(frozen=True)
class Scenario:
    """One question for the learner's function: ``word_timings(events, item_id)`` should return ``truth``."""

    name: str
    events: list[Any]
    item_id: str
    truth: list[Entry]
    other_replies: frozenset[Entry] = frozenset()  # the words of the session's other spoken reply


def record_replies(deadline: float) -> Replies:
    """A greeting, an answer and a text-only reply from a private practice server, within the deadline."""
    try:
        return run_on_own_loop(_record(deadline), deadline, "word-timings")
    except SessionTrouble as trouble:
        why = "it did not finish in time" if trouble.late else str(trouble)
        raise PracticeUnavailable(
            f"the check could not record a practice session to try your function on ({why})"
        ) from None


async def _record(deadline: float) -> Replies:
    def left() -> float:
        return max(0.1, deadline - time.monotonic())

    with MockServer(speed=math.inf, first_audio_delay_ms=0) as server:
        credential = AzureKeyCredential(server.api_key)
        async with connect(endpoint=server.endpoint, credential=credential, model="gpt-4o") as conn:
            session = RequestSession(
                voice=AzureStandardVoice(name="en-US-AvaNeural"),
                output_audio_timestamp_types=[AudioTimestampType.WORD],
                animation=Animation(outputs=[AnimationOutputType.VISEME_ID]),
            )
            await conn.session.update(session=session)
            events = await events_until(conn, "session.updated", timeout_s=left())
            greeting = AssistantMessageItem(content=[OutputTextContentPart(text=GREETING)])
            await conn.response.create(response=ResponseCreateParams(pre_generated_assistant_message=greeting))
            events += await events_until(conn, "response.done", timeout_s=left())
            await conn.conversation.item.create(item=UserMessageItem(content=[InputTextContentPart(text=QUESTION)]))
            await conn.response.create()
            events += await events_until(conn, "response.done", timeout_s=left())
            await conn.response.create(response=ResponseCreateParams(modalities=[Modality.TEXT]))
            events += await events_until(conn, "response.done", timeout_s=left())
    done = [event.response.output[0] for event in events if event.type == "response.done"]
    transcripts = {item.id: item.content[0].get("transcript") or item.content[0].get("text") or "" for item in done}
    return Replies(events, done[0].id, done[1].id, done[2].id, transcripts)


def build_scenarios(replies: Replies) -> list[Scenario]:
    """What the learner's function is asked, each with the answer the service's events give."""
    truth = {item: confirmed_words(replies, item) for item in (replies.greeting, replies.answer)}
    return [
        Scenario(
            "the answer to a question, from all the events of a session with two spoken replies",
            replies.events,
            replies.answer,
            truth[replies.answer],
            frozenset(truth[replies.greeting]),
        ),
        Scenario(
            "the greeting, from the same events",
            replies.events,
            replies.greeting,
            truth[replies.greeting],
            frozenset(truth[replies.answer]),
        ),
        Scenario("a text-only reply (it has no audio, so no word timestamps)", replies.events, replies.text_only, []),
        Scenario(
            "the answer with punctuation marks time-stamped on their own",
            with_lone_marks(replies.events, replies.answer),
            replies.answer,
            truth[replies.answer],
        ),
        Scenario("an empty list of events", [], replies.answer, []),
    ]


def spoken_words(events: list[Any], item_id: str) -> list[Entry]:
    """The kit's reading of a reply's word timestamps."""
    return [
        (event.text, event.audio_offset_ms, event.audio_offset_ms + event.audio_duration_ms)
        for event in events
        if event.type == TIMESTAMP and event.item_id == item_id and has_word(event.text)
    ]


def confirmed_words(replies: Replies, item_id: str) -> list[Entry]:
    """The reply's words, confirmed against its transcript and its audio; the check fails (never passes) if not."""
    words = spoken_words(replies.events, item_id)
    heard = [token for token in replies.transcripts.get(item_id, "").split() if has_word(token)]
    audio_ms = bytes_to_ms(
        sum(
            len(event.delta)
            for event in replies.events
            if event.type == "response.audio.delta" and event.item_id == item_id
        )
    )
    starts = [start for _, start, _ in words]
    consistent = (
        bool(words)
        and [word for word, _, _ in words] == heard
        and starts == sorted(starts)
        and all(0 <= start <= end <= audio_ms + 1 for _, start, end in words)
    )
    if not consistent:
        raise PracticeUnavailable(
            "the practice session's word timestamps did not match its own transcript, so the check cannot judge"
        )
    return words


def with_lone_marks(events: list[Any], item_id: str) -> list[Any]:
    """The events with a lone punctuation mark time-stamped after each of the reply's first few words."""
    marked: list[Any] = []
    marks = list(LONE_MARKS)
    for event in events:
        marked.append(event)
        if marks and event.type == TIMESTAMP and event.item_id == item_id:
            end = event.audio_offset_ms + event.audio_duration_ms
            marked.append(
                ServerEventResponseAudioTimestampDelta(
                    response_id=event.response_id,
                    item_id=item_id,
                    output_index=event.output_index,
                    content_index=event.content_index,
                    audio_offset_ms=end,
                    audio_duration_ms=0,
                    text=marks.pop(0),
                )
            )
    return marked


def has_word(text: Any) -> bool:
    """A word to highlight has a letter or a digit; a lone ',' or '—' has none."""
    return isinstance(text, str) and any(character.isalnum() for character in text)
