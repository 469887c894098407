"""Ending a WebSocket's TCP connection so that the client reads the close frame, without ever hanging on a client.

aiohttp closes its socket as soon as it has written a close frame when it does not wait for the client's reply
(after refusing an oversized frame with 1009, say). If the client is still sending at that moment, the kernel
answers the unread bytes with a reset, and the client loses the close frame: it sees "Connection lost" and no
close code. So the server keeps a second handle on each socket and, once aiohttp lets go, closes the connection
the lingering way (RFC 9112 §9.6): it throws away what the client still sends until the client closes or goes
quiet, and only then closes.

A client that stopped reading can block the server's writes forever; such a connection is cut (reset) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

#: How long a closing connection may take to flush the server's last frames and to hear the client close.
CLOSE_GRACE_S = 1.0
#: A lingering connection is closed once its client has sent nothing for this long (its close frame came first).
QUIET_S = 0.2
_POLL_S = 0.01
_RECV_BYTES = 256 * 1024


class SocketCloser:
    """Owns the end of one client's TCP connection; create it right after the WebSocket upgrade."""

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        self._transport = transport if isinstance(transport, asyncio.WriteTransport) else None
        sock = transport.get_extra_info("socket") if transport is not None else None
        self._spare: socket.socket | None = None
        if sock is not None:
            with contextlib.suppress(OSError):  # out of file descriptors: close the plain way
                self._spare = sock.dup()
        self._cut = False

    def cut(self) -> None:
        """Drop the connection now (its client stopped reading, so nothing more can reach it)."""
        self._cut = True
        if self._transport is not None:
            self._transport.abort()

    def cut_if_stuck(self) -> bool:
        """Cut the connection if the server's last frames are still waiting to go out; True if it did."""
        if self._transport is not None and self._transport.get_write_buffer_size() > 0:
            self.cut()
            return True
        return False

    async def finish(self, closed_cleanly: bool, grace_s: float = CLOSE_GRACE_S) -> None:
        """After the WebSocket has closed: let aiohttp flush its last frames, then end the TCP connection.

        ``closed_cleanly``: the WebSocket ended with a close code, not after a protocol error (such as an oversized
        frame) or a lost connection. Otherwise, and whenever the client is still sending, the server lingers for
        the client's reply. Returns within about twice ``grace_s`` whatever the client does.
        """
        spare, self._spare = self._spare, None
        if spare is None:
            return
        loop = asyncio.get_running_loop()
        try:
            if not await self._flushed(loop.time() + grace_s):
                self.cut()
            elif not closed_cleanly or _has_unread_bytes(spare):
                await _read_until_quiet(spare, loop.time() + grace_s)
        except OSError:  # the client reset the connection: nothing left to do
            pass
        finally:
            if self._cut:
                with contextlib.suppress(OSError):  # a zero linger time makes close() send a reset
                    spare.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            spare.close()

    async def _flushed(self, deadline: float) -> bool:
        """Wait until aiohttp has closed its transport with nothing left to write; False if that takes too long."""
        transport = self._transport
        if transport is None:
            return not self._cut
        while not (transport.is_closing() and transport.get_write_buffer_size() == 0):
            if self._cut or asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)  # asyncio offers no event for "the write buffer is empty"
        return not self._cut


def _has_unread_bytes(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False


async def _read_until_quiet(sock: socket.socket, deadline: float) -> None:
    """Discard what the client sends until it closes its side, sends nothing for a moment, or the deadline passes."""
    loop = asyncio.get_running_loop()
    while (remaining := deadline - loop.time()) > 0:
        try:
            data = await asyncio.wait_for(loop.sock_recv(sock, _RECV_BYTES), min(remaining, QUIET_S))
        except asyncio.TimeoutError:
            return
        if not data:
            return
