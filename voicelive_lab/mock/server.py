"""MockServer: the offline practice service on its own thread and asyncio loop, loopback only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import logging
import os
import secrets
import threading
from types import TracebackType
from typing import Any

from aiohttp import WSCloseCode, web

from .faults import Faults
from .handshake import AGENT_QUERY, build_app, refusal
from .hearing import models_warm, warm_up
from .realtime_session import EventObserver, RealtimeSession, SessionOptions
from .recognizer import Recognizer
from .replies import ReplyScript
from .responses import Pacing
from .session_config import SESSION_LIFETIME_S
from .socket_close import CLOSE_GRACE_S, SocketCloser

log = logging.getLogger("voicelive_lab.mock")

MAX_FRAME_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_SESSIONS = 100
STARTUP_TIMEOUT_S = 10.0
#: A connection must finish its HTTP upgrade request this soon after it opens.
DEFAULT_HANDSHAKE_TIMEOUT_S = 10.0
#: A session that has heard nothing from its client for this long pings it, and ends without a pong in half of it.
#: Over 30 s on purpose: the SDK pings every 30 s when idle, so an SDK app that is not reading (aiohttp answers
#: pings only inside receive()) is never pinged and so never dropped.
DEFAULT_HEARTBEAT_S = 60.0
#: stop() gives up waiting for the server's loop after this long (it normally needs about 2 * CLOSE_GRACE_S).
STOP_TIMEOUT_S = 5.0


class MockServer:
    """A local Voice Live service that the real ``azure-ai-voicelive`` SDK connects to over ``ws://``.

    >>> with MockServer(api_key="secret") as server:
    ...     server.endpoint  # "http://127.0.0.1:<port>", for azure.ai.voicelive.aio.connect
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        script: ReplyScript | str | os.PathLike[str] | None = None,
        speed: float = 4.0,
        chunk_ms: int = 80,
        first_audio_delay_ms: float = 100.0,
        faults: Faults | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        observer: EventObserver | None = None,
        server_barge_in: bool = True,
        recognizer: Recognizer | None = None,
        handshake_timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        session_lifetime_s: float = SESSION_LIFETIME_S,
    ) -> None:
        if not is_loopback_host(host):
            raise ValueError(f"The practice server only listens on loopback addresses (127.0.0.1, ::1), not {host!r}.")
        if not (speed > 0 and 10 <= chunk_ms <= 1000):
            raise ValueError("speed must be > 0 (math.inf for no pacing) and chunk_ms between 10 and 1000.")
        if not (handshake_timeout_s > 0 and heartbeat_s > 0 and session_lifetime_s > 0):
            raise ValueError("handshake_timeout_s, heartbeat_s and session_lifetime_s must be > 0 seconds.")
        self.api_key = api_key or secrets.token_urlsafe(24)
        self.host = host
        self.seed = seed
        self.max_sessions = max_sessions
        self.faults = faults or Faults()
        self._requested_port = port
        self._script = script if isinstance(script, ReplyScript) else ReplyScript.from_file(script) if script else None
        self._pacing = Pacing(speed=speed, chunk_ms=chunk_ms, first_audio_delay_ms=first_audio_delay_ms)
        self._observer = observer
        #: False: hearing speech never cancels a reply here, whatever the session says; only a client's
        #: response.cancel does (the checks use this to see the client's own barge-in).
        self.server_barge_in = server_barge_in
        #: None: the process's own (pocketsphinx where it loads); tests pass a PlaceholderRecognizer to degrade.
        self.recognizer = recognizer
        self.handshake_timeout_s = handshake_timeout_s
        self.heartbeat_s = heartbeat_s
        #: Sessions end this long after they open (30 minutes, as on Azure), with a ``session_expired`` error.
        self.session_lifetime_s = session_lifetime_s
        self._sessions: dict[RealtimeSession, SocketCloser] = {}
        self._sessions_started = 0
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = f"serving {self.endpoint}" if self.running else "stopped"
        return f"<MockServer {state}, {self.active_sessions} active sessions>"

    # ----------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._port is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("The practice server is not running: call start() first.")
        return self._port

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def active_sessions(self) -> int:
        return len(self._sessions)

    @property
    def sessions_started(self) -> int:
        return self._sessions_started

    def start(self) -> MockServer:
        """Start serving on a background thread; returns once the port is bound (or raises why not)."""
        with self._lock:
            if self.running:
                return self
            self._ready.clear()
            self._startup_error = None
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._serve, name="voicelive-practice-server", daemon=True)
            self._thread.start()
            if not self._ready.wait(STARTUP_TIMEOUT_S):
                raise RuntimeError("The practice server did not start within 10 s.")
            if self._startup_error is not None:
                self._thread.join()
                self._thread = None
                raise RuntimeError(f"The practice server could not start: {self._startup_error}") from (
                    self._startup_error
                )
            log.info("practice server listening on %s", self.endpoint)
            return self

    def stop(self) -> None:
        """Close every session (code 1001) and stop the thread, within a few seconds. Safe to call twice.

        Clients that stopped reading cannot take their close frame; their connections are cut.
        """
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if thread.is_alive():
                future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
                try:
                    future.result(timeout=STOP_TIMEOUT_S)
                except concurrent.futures.TimeoutError:
                    log.warning(
                        "the practice server took over %s s to close its sessions; stopping anyway", STOP_TIMEOUT_S
                    )
                    future.cancel()
                finally:
                    loop.call_soon_threadsafe(loop.stop)
                    thread.join(timeout=5)
            self._loop = self._thread = None
            self._port = None
            log.info("practice server stopped")

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def close_all_sessions(self, code: int = 1011) -> None:
        """Drop every open session now, as a service restart would (a fault for tests)."""
        if self._loop is not None and self.running:
            asyncio.run_coroutine_threadsafe(self._close_sessions(code), self._loop).result(timeout=5)

    def send_error_to_sessions(self, error: dict[str, Any]) -> None:
        """Send an ``error`` event with this payload to every open session now (a fault for tests and checks)."""
        if self._loop is not None and self.running:
            asyncio.run_coroutine_threadsafe(self._send_error_to_sessions(error), self._loop).result(timeout=5)

    # ----------------------------------------------------------------- the loop thread

    def _serve(self) -> None:
        assert self._loop is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._startup())
        except BaseException as error:  # report any bind failure to start()
            self._startup_error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        # So the first turn does not wait for the models (once per process); a daemon thread, so stopping never
        # waits for it.
        if not models_warm(self.recognizer):
            threading.Thread(
                target=warm_up, args=(self.recognizer,), name="voicelive-practice-warm-up", daemon=True
            ).start()
        try:
            loop.run_forever()
        finally:
            # Handlers still running get a cancellation they can clean up after (closing the loop on them would
            # throw GeneratorExit into their ``finally`` blocks instead).
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=STOP_TIMEOUT_S))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> None:
        app = build_app(self, self._realtime)
        # keepalive_timeout also bounds a new connection's wait for its first request: the handshake timeout.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=CLOSE_GRACE_S,
            keepalive_timeout=self.handshake_timeout_s,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def _shutdown(self) -> None:
        await self._close_sessions(1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _send_error_to_sessions(self, error: dict[str, Any]) -> None:
        sends = [asyncio.wait_for(session.send_error_event(error), CLOSE_GRACE_S) for session in list(self._sessions)]
        await asyncio.gather(*sends, return_exceptions=True)  # a client that stopped reading does not hold it up

    async def _close_sessions(self, code: int) -> None:
        sessions = list(self._sessions.items())
        await asyncio.gather(*(self._close_session(session, closer, code) for session, closer in sessions))

    async def _close_session(self, session: RealtimeSession, closer: SocketCloser, code: int) -> None:
        """Send the close frame; cut the connection if the client does not take it in time (it stopped reading)."""
        try:
            await asyncio.wait_for(session.close(code), CLOSE_GRACE_S)
        except (asyncio.TimeoutError, OSError, RuntimeError):
            if closer.cut_if_stuck():
                log.info("session %s: the client stopped reading, so its connection was cut", session.id)

    # ----------------------------------------------------------------- HTTP

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        """A Voice Live session on this socket (the handshake gates in ``handshake.py`` have let it through)."""
        agent_query = request[AGENT_QUERY]
        faults = self.faults
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, autoping=True, heartbeat=self.heartbeat_s)
        if not ws.can_prepare(request).ok:
            return refusal(426, "This route expects a WebSocket upgrade.")
        await ws.prepare(request)
        self._sessions_started += 1
        # Azure OpenAI clients name a deployment where the Voice Live SDK names a model.
        model = request.query.get("model") or request.query.get("deployment") or "gpt-4o"
        options = SessionOptions(
            lifetime_s=self.session_lifetime_s,
            seed=self.seed,
            pacing=self._pacing,
            script=self._script or ReplyScript(),
            faults=faults,
            observer=self._observer,
            server_barge_in=self.server_barge_in,
            recognizer=self.recognizer,
        )
        agent = agent_query.session_agent(self.seed, self._sessions_started) if agent_query else None
        session = RealtimeSession(ws, options, self._sessions_started, model, agent=agent)
        log.info(
            "session %s opened (api-version=%s, model=%s%s)",
            session.id,
            request.query.get("api-version", "-"),
            model,
            f", agent={agent_query.name}" if agent_query else "",
        )
        closer = SocketCloser(request.transport)
        self._sessions[session] = closer
        try:
            await session.run()
        except Exception:
            log.exception("session %s failed", session.id)
            with contextlib.suppress(asyncio.TimeoutError):  # else closer.finish() cuts the connection
                await asyncio.wait_for(ws.close(code=1011, message=b"practice server error"), CLOSE_GRACE_S)
        finally:
            self._sessions.pop(session, None)
            await closer.finish(closed_cleanly=ws.close_code != WSCloseCode.ABNORMAL_CLOSURE)
            log.info("session %s closed", session.id)
        return ws


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
