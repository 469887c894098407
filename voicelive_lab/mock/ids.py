"""Deterministic identifiers: the same seed and session number give the same ids in the same order."""

from __future__ import annotations

import hashlib
from collections import defaultdict


class IdFactory:
    """Makes ids such as ``event_3f2a9c01b7de`` from a seed, a session number and a per-kind counter."""

    def __init__(self, seed: int, session_number: int) -> None:
        self._root = f"{seed}:{session_number}"
        self._counters: defaultdict[str, int] = defaultdict(int)

    def new(self, kind: str) -> str:
        self._counters[kind] += 1
        digest = hashlib.blake2b(f"{self._root}:{kind}:{self._counters[kind]}".encode(), digest_size=6)
        return f"{kind}_{digest.hexdigest()}"
