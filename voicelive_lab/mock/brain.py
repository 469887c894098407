"""The practice agent's deterministic "brain": which topic the words heard are about, and what it answers.

It knows the kit's sample questions and the usual first questions. Anything else gets an honest reflection of
the words heard. The same words, instructions and voice always give the same reply (the time of day aside).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
STOPWORDS = frozenset(
    "a an the of in on at for to and or is are was were be been it its this that these those me my you "
    "your i we us our do does did can could would will please tell about what who whom when where why how "
    "which some something one thing get give current there here with from by as".split()
)
SHORT_WORDS = ("short", "brief", "concise", "one sentence")
MATCH_SHARE = 0.6
SHORT_REPLY_CHARS = 20


@dataclass(frozen=True)
class Topic:
    """A practice topic: sentences it is asked with (also taught to the recognizer) and the answer."""

    name: str
    asked: tuple[str, ...]
    answer: str
    #: Words that must be heard for the topic to match (all of one group); the asked sentences give the rest.
    needs: tuple[str, ...] = ()


CAPITALS = {
    "France": "Paris",
    "Germany": "Berlin",
    "Italy": "Rome",
    "Japan": "Tokyo",
    "Spain": "Madrid",
    "Egypt": "Cairo",
    "China": "Beijing",
    "Canada": "Ottawa",
    "Greece": "Athens",
    "England": "London",
    "Australia": "Canberra",
    "Mexico": "Mexico City",
}
CITIES = ("Paris", "Seattle", "London", "Tokyo", "Berlin", "Rome", "New York", "Sydney", "Madrid", "Chicago")

TOPICS: tuple[Topic, ...] = (
    Topic(
        "greeting",
        ("Hello!", "Hello, can you hear me?", "Hi there.", "Good morning.", "Good afternoon.", "Hey, are you there?"),
        "Hello! Yes, I can hear you. Ask me about history, the time, or what I can do.",
        needs=("hello", "hi", "hey", "morning", "afternoon", "hear"),
    ),
    Topic(
        "how_are_you",
        ("How are you?", "How are you doing today?"),
        "I'm running smoothly, thank you. What would you like to talk about?",
        needs=("how",),
    ),
    Topic(
        "abilities",
        ("What can you do?", "Who are you?", "What is your name?", "Are you a real model?", "Can you help me?"),
        "I'm the practice assistant of voicelive-lab. Offline, I answer a few history questions, tell the time, "
        "call the tools you give me and repeat what I heard. Connect to Azure for a real model.",
        needs=("do", "who", "name", "model", "help"),
    ),
    Topic(
        "pyramids",
        ("Who built the pyramids of Giza?", "Who built the pyramids?", "How old are the pyramids?"),
        "The pyramids of Giza were built about 4,500 years ago for the pharaohs, by thousands of paid Egyptian "
        "workers.",
        needs=("pyramids", "giza"),
    ),
    Topic(
        "roman_empire",
        ("Tell me one thing about the Roman Empire.", "Tell me about the Roman Empire.", "When did Rome fall?"),
        "The Roman Empire built more than 80,000 kilometres of roads, and some of them are still in use today.",
        needs=("roman", "empire", "rome"),
    ),
    Topic(
        "caesar",
        ("Who was Julius Caesar?", "Tell me about Julius Caesar."),
        "Julius Caesar was a Roman general and statesman; he was killed in the Senate in 44 BC.",
        needs=("caesar", "julius"),
    ),
    Topic(
        "cleopatra",
        ("Who was Cleopatra?", "Tell me about Cleopatra."),
        "Cleopatra was the last active ruler of ancient Egypt, and she spoke at least six languages.",
        needs=("cleopatra",),
    ),
    Topic(
        "great_wall",
        ("When was the Great Wall of China built?", "Tell me about the Great Wall of China."),
        "The Great Wall of China was built and rebuilt over about two thousand years; most of what stands today "
        "is from the Ming dynasty.",
        needs=("wall",),
    ),
    Topic(
        "ancient_greece",
        ("Tell me about ancient Greece.", "What did the ancient Greeks invent?"),
        "Ancient Athens gave us one of the first democracies, about 2,500 years ago.",
        needs=("greece", "greeks", "athens"),
    ),
    Topic(
        "time",
        ("What time is it?", "What is the time?", "Can you tell me the time?"),
        "On the practice server's clock it is {time}.",
        needs=("time",),
    ),
    Topic(
        "date",
        ("What is the date today?", "What day is it today?"),
        "On the practice server's calendar it is {date}.",
        needs=("date", "day"),
    ),
    Topic(
        "weather_without_tool",
        (*(f"What is the weather in {city} today?" for city in CITIES), "What's the weather like?"),
        "I have no weather tool in this session; add a get_weather function tool and I will call it.",
        needs=("weather",),
    ),
    Topic(
        "change_of_mind",
        ("Sorry, wait. Let me ask something else.", "Wait, stop.", "Let me ask something else."),
        "Of course. What would you like to ask?",
        needs=("wait", "stop", "else"),
    ),
    Topic(
        "joke",
        ("Tell me a joke.", "Do you know a joke?"),
        "My favourite Roman dish is, of course, the Caesar salad.",
        needs=("joke",),
    ),
    Topic(
        "thanks",
        ("Thank you.", "Thanks a lot.", "That's great, thanks."),
        "You're welcome!",
        needs=("thank", "thanks"),
    ),
    Topic(
        "goodbye",
        ("Goodbye.", "Bye.", "Goodbye, thank you.", "See you later."),
        "Goodbye! Thanks for practising with me.",
        needs=("goodbye", "bye", "later"),
    ),
    *(
        Topic(f"capital_{country.lower()}", (f"What is the capital of {country}?",), f"The capital of {country} is "
              f"{capital}.", needs=(country.lower(),))
        for country, capital in CAPITALS.items()
    ),
)  # fmt: skip

#: Sentences the recognizer should know beyond the topics: everyday requests a learner tries first.
EVERYDAY = (
    "Yes.",
    "No.",
    "Okay.",
    "Can you repeat that?",
    "Please speak more slowly.",
    "I have a question.",
    "Tell me more.",
    "Why?",
    "What do you mean?",
    "That is interesting.",
    "Let me think.",
    "I don't know.",
)
REFLECTION = (
    'I heard: "{words}". I\'m the offline practice server and know only a few topics; connect to Azure '
    "for a real model."
)
NO_RECOGNIZER = (
    "I heard {seconds:.1f} seconds of speech, but the practice server has no speech recognizer here "
    "(pocketsphinx did not load), so I cannot tell the words. Typed messages still work."
)
NOTHING_HEARD = "I heard you speak, but I could not make out the words. Could you say it again, a little slower?"
#: Fixed phrases for a reply language other than English (the practice brain only thinks in English).
OTHER_LANGUAGES = {
    "de": "Ich habe dich gehört. Ich bin der Übungsserver und antworte offline nur mit festen Sätzen.",
    "it": "Ti ho sentito. Sono il server di esercitazione e offline rispondo solo con frasi fisse.",
    "fr": "Je t'ai entendu. Je suis le serveur d'entraînement et, hors ligne, je réponds par des phrases fixes.",
    "es": "Te he oído. Soy el servidor de práctica y sin conexión solo respondo con frases fijas.",
    "ja": "聞こえました。私は練習用サーバーで、オフラインでは決まった文だけで答えます。",
    "zh": "我听到了。我是练习服务器，离线时只能用固定的句子回答。",  # noqa: RUF001
}
LANGUAGE_NAMES = {
    "german": "de", "deutsch": "de", "italian": "it", "italiano": "it", "french": "fr", "spanish": "es",
    "japanese": "ja", "chinese": "zh", "mandarin": "zh",
}  # fmt: skip


def words_of(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("what's", "what is"))


def known_sentences() -> tuple[str, ...]:
    """Everything the brain expects to hear, for the recognizer's language model."""
    return tuple(sentence for topic in TOPICS for sentence in topic.asked) + EVERYDAY


def find_topic(heard: str) -> Topic | None:
    """The topic the words are about: one of its needed words heard, and most of its content words."""
    words = set(words_of(heard))
    best: tuple[float, Topic] | None = None
    for topic in TOPICS:
        if topic.needs and not words & set(topic.needs):
            continue
        score = max(share_heard(words, asked) for asked in topic.asked)
        if score >= MATCH_SHARE and (best is None or score > best[0]):
            best = (score, topic)
    return best[1] if best else None


def share_heard(words: set[str] | list[str], asked: str) -> float:
    """How much of what ``asked`` says (its content words) is among the words heard, 0 to 1."""
    words = set(words)
    content = {word for word in words_of(asked) if word not in STOPWORDS} or set(words_of(asked))
    return len(content & words) / len(content)


def reply_to(
    heard: str, instructions: str = "", voice_language: str = "en-US", now: datetime.datetime | None = None
) -> str:
    """What the practice agent says to ``heard`` under these instructions and in the voice's language."""
    language = reply_language(instructions, voice_language)
    if language != "en":
        return OTHER_LANGUAGES.get(language, OTHER_LANGUAGES["de"])
    if not words_of(heard):
        return NOTHING_HEARD
    topic = find_topic(heard)
    if topic is None:
        return REFLECTION.format(words=heard.strip())
    moment = now or datetime.datetime.now()
    answer = topic.answer.format(time=moment.strftime("%H:%M"), date=moment.strftime("%A, %d %B %Y"))
    return first_sentence(answer) if wants_short(instructions) else answer


def reply_language(instructions: str, voice_language: str) -> str:
    """The language named in the instructions ("answer in German"), else the voice's; English if unknown."""
    match = re.search(r"\b(?:in|auf|en)\s+(" + "|".join(LANGUAGE_NAMES) + r")\b", instructions.lower())
    if match:
        return LANGUAGE_NAMES[match.group(1)]
    language = voice_language.lower().split("-")[0]
    return language if language in OTHER_LANGUAGES else "en"


def wants_short(instructions: str) -> bool:
    lowered = instructions.lower()
    return any(word in lowered for word in SHORT_WORDS)


def first_sentence(text: str) -> str:
    """The opening sentence, or two when the first is a mere "Hello!"."""
    sentences = re.findall(r".+?[.!?](?=\s|$)", text)
    short = ""
    for sentence in sentences:
        short += sentence
        if len(short.strip()) >= SHORT_REPLY_CHARS:
            return short.strip()
    return text
