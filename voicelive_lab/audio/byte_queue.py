"""ByteQueue: bytes in arrival order, optionally bounded, read from the front without joining the whole queue.

Playback buffers, recordings, a WAV microphone's queued utterances and the record of what a microphone sent
all keep audio this way. Chunks are kept as written and copied out with an offset into the first, so a write
or a read costs what it moves, not what is queued. Past ``max_bytes`` the oldest bytes go first, cut at whole
``unit`` s (samples). Not locked: each owner guards it with the lock it already holds.
"""

from __future__ import annotations

from collections import deque


class ByteQueue:
    """A FIFO of bytes; ``max_bytes=None`` keeps everything."""

    def __init__(self, max_bytes: int | None = None, unit: int = 1) -> None:
        if unit < 1 or (max_bytes is not None and max_bytes < unit):
            raise ValueError("unit must be >= 1 and max_bytes (when set) at least one unit")
        self.max_bytes = None if max_bytes is None else max_bytes - max_bytes % unit
        self.unit = unit
        self._chunks: deque[bytes] = deque()
        self._head = 0  # bytes of _chunks[0] already read or dropped
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> int:
        """Queue ``data``; returns how many of the oldest bytes were dropped to stay within ``max_bytes``."""
        if data:
            self._chunks.append(bytes(data))
            self._size += len(data)
        if self.max_bytes is None or self._size <= self.max_bytes:
            return 0
        excess = self._size - self.max_bytes
        return self.drop(excess + (-excess) % self.unit)

    def read_into(self, out: memoryview) -> int:
        """Fill ``out`` from the front as far as the queue goes; returns the bytes copied (removed)."""
        size, copied = len(out), 0
        while copied < size and self._chunks:
            chunk = self._chunks[0]
            take = min(len(chunk) - self._head, size - copied)
            out[copied : copied + take] = memoryview(chunk)[self._head : self._head + take]
            copied += take
            self._advance(take)
        return copied

    def drop(self, count: int) -> int:
        """Remove up to ``count`` bytes from the front; returns how many went."""
        count = min(count, self._size)
        left = count
        while left:
            take = min(len(self._chunks[0]) - self._head, left)
            left -= take
            self._advance(take)
        return count

    def take_all(self) -> bytes:
        """Everything queued, removed."""
        data = self.peek_all()
        self.clear()
        return data

    def peek_all(self) -> bytes:
        """Everything queued, kept (joined once: the queue then holds it as one chunk)."""
        if not self._chunks:
            return b""
        if len(self._chunks) > 1 or self._head:
            joined = b"".join(self._chunks)[self._head :]
            self._chunks.clear()
            self._chunks.append(joined)
            self._head = 0
        return self._chunks[0]

    def clear(self) -> int:
        """Remove everything; returns how many bytes went."""
        count = self._size
        self._chunks.clear()
        self._head = self._size = 0
        return count

    def _advance(self, count: int) -> None:
        self._head += count
        self._size -= count
        if self._head == len(self._chunks[0]):
            self._chunks.popleft()
            self._head = 0
