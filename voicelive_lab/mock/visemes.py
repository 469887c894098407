"""eSpeak NG phoneme names → the viseme ids (0-21) that Azure speech uses for mouth shapes."""

from __future__ import annotations

SILENCE = 0
#: Longest prefix wins. Names follow eSpeak's phoneme mnemonics, e.g. ``aI``, ``tS``, ``@``, ``i:``.
VISEME_BY_PHONEME = {
    "aI": 11, "aU": 9, "OI": 10, "oU": 8, "o@": 8, "eI": 4, "e@": 4, "i@": 6, "U@": 4, "A@": 2, "O@": 3,
    "tS": 16, "dZ": 16, "S": 16, "Z": 16,
    "a": 1, "@": 1, "V": 1, "3": 5, "A": 2, "0": 3, "O": 3, "E": 4, "e": 4, "U": 4, "i": 6, "I": 6, "y": 6,
    "u": 7, "o": 8,
    "p": 21, "b": 21, "m": 21, "f": 18, "v": 18, "T": 19, "D": 17, "t": 19, "d": 19, "n": 19, "s": 15, "z": 15,
    "k": 20, "g": 20, "N": 20, "x": 20, "l": 14, "r": 13, "w": 7, "j": 6, "h": 12, "C": 12,
}  # fmt: skip
LONGEST = max(len(name) for name in VISEME_BY_PHONEME)


def viseme_id(phoneme: str) -> int:
    """The viseme for one eSpeak phoneme; pauses (``_``, ``_:``) and unknown names are silence."""
    name = phoneme.lstrip("',%=")
    for size in range(LONGEST, 0, -1):
        if name[:size] in VISEME_BY_PHONEME:
            return VISEME_BY_PHONEME[name[:size]]
    return SILENCE


def visemes_from_phonemes(phonemes: tuple[tuple[int, str], ...]) -> tuple[tuple[int, int], ...]:
    """(ms, viseme id) from (ms, phoneme): repeats merged, silence at the start."""
    visemes: list[tuple[int, int]] = [(0, SILENCE)]
    for ms, phoneme in phonemes:
        viseme = viseme_id(phoneme)
        if viseme != visemes[-1][1]:
            visemes.append((max(ms, visemes[-1][0]), viseme))
    return tuple(visemes)
