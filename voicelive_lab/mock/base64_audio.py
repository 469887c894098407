"""Decoding a client's base64 audio without holding the event loop: big payloads go a slice at a time."""

from __future__ import annotations

import asyncio
import base64
import binascii

from .client_events import ClientEventError

#: Base64 characters decoded per step (a multiple of 4): about a millisecond of work between yields.
SLICE_CHARS = 1 << 18


async def decode_base64_audio(text: str, param: str, keep_bytes: int | None = None) -> bytes:
    """The bytes of ``text`` (all of it is checked); only the first ``keep_bytes`` are kept when given."""
    kept: list[bytes] = []
    size = 0
    for start in range(0, len(text), SLICE_CHARS):
        try:
            piece = base64.b64decode(text[start : start + SLICE_CHARS], validate=True)
        except (binascii.Error, ValueError):
            raise ClientEventError(f"'{param}' must be base64-encoded audio bytes.", "invalid_value", param) from None
        if keep_bytes is None or size < keep_bytes:
            kept.append(piece)
            size += len(piece)
        if len(text) > SLICE_CHARS:
            await asyncio.sleep(0)
    audio = b"".join(kept)
    return audio if keep_bytes is None else audio[:keep_bytes]
