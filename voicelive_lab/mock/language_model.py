"""A small trigram language model in ARPA form, built from sentences: what the practice recognizer expects.

Interpolated absolute discounting, written as a backoff model so any ARPA reader (pocketsphinx here) loads it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

DISCOUNT = 0.7
UNIFORM_SHARE = 0.1
ORDER = 3

Gram = tuple[str, ...]


def build_arpa(sentences: Iterable[tuple[list[str], int]]) -> str:
    """ARPA text for (words, weight) sentences; a weight repeats a sentence, biasing the model toward it."""
    counts: list[Counter[Gram]] = [Counter() for _ in range(ORDER)]
    for words, weight in sentences:
        tokens = ["<s>", *words, "</s>"]
        for n in range(1, ORDER + 1):
            for start in range(len(tokens) - n + 1):
                gram = tuple(tokens[start : start + n])
                if gram != ("<s>",):
                    counts[n - 1][gram] += weight
    vocabulary = sorted({gram[0] for gram in counts[0]} | {"<s>"})
    total = sum(counts[0].values()) or 1
    probs: list[dict[Gram, float]] = [{}, {}, {}]
    probs[0] = {
        (word,): (1 - UNIFORM_SHARE) * counts[0][(word,)] / total + UNIFORM_SHARE / len(vocabulary)
        for word in vocabulary
    }
    probs[0][("<s>",)] = 0.0
    backoffs: list[dict[Gram, float]] = [{}, {}]

    def lower(gram: Gram) -> float:
        if len(gram) == 1:
            return probs[0].get(gram, 0.0)
        if gram in probs[len(gram) - 1]:
            return probs[len(gram) - 1][gram]
        return backoffs[len(gram) - 2].get(gram[:-1], 1.0) * lower(gram[1:])

    for n in range(1, ORDER):
        history_total: Counter[Gram] = Counter()
        followers: dict[Gram, list[Gram]] = defaultdict(list)
        for gram, count in counts[n].items():
            history_total[gram[:-1]] += count
            followers[gram[:-1]].append(gram)
        for history, grams in followers.items():
            share = DISCOUNT * len(grams) / history_total[history]
            for gram in grams:
                probs[n][gram] = max(counts[n][gram] - DISCOUNT, 0) / history_total[history] + share * lower(gram[1:])
        for history, grams in followers.items():
            left = 1 - sum(probs[n][gram] for gram in grams)
            left_below = 1 - sum(lower(gram[1:]) for gram in grams)
            backoffs[n - 1][history] = max(left, 1e-12) / max(left_below, 1e-12)
    return _arpa_text(probs, backoffs)


def _arpa_text(probs: list[dict[Gram, float]], backoffs: list[dict[Gram, float]]) -> str:
    lines = ["\\data\\", *(f"ngram {n + 1}={len(table)}" for n, table in enumerate(probs))]
    for n, table in enumerate(probs):
        lines += ["", f"\\{n + 1}-grams:"]
        for gram, prob in sorted(table.items()):
            line = f"{math.log10(prob) if prob > 0 else -99.0:.4f}\t{' '.join(gram)}"
            if n < ORDER - 1:
                line += f"\t{math.log10(backoffs[n].get(gram, 1.0)):.4f}"
            lines.append(line)
    return "\n".join([*lines, "", "\\end\\", ""])
