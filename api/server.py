"""The shipped server command (``magnet-forecast serve``): uvicorn with bounds on what a client can hold.

- the pure-Python h11 parser, with the request line plus headers bounded (MAX_HEADER_BYTES; beyond it
  the request is refused with 431 and the connection closed) — the httptools parser has no such bound;
- a deadline to send a whole request, head and body (REQUEST_READ_TIMEOUT_S), from the moment the
  connection opens or the previous response ends: slow or idle connections are closed, so they cannot
  pile up until the process runs out of file descriptors;
- idle keep-alive connections closed after KEEP_ALIVE_S; at most MAX_CONNECTIONS open at once (503);
- request bodies bounded by the app (MAX_BODY_BYTES, 413, chunked too);
- SIGTERM: in-flight requests get GRACEFUL_SHUTDOWN_S, then a running refresh is cancelled.

Behind a reverse proxy, set the same bounds there (see README, "Deployment").
"""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.settings import Settings, get_settings

# The event loop (and /health) waits for the GIL behind request threads running pandas: hand it over
# every millisecond rather than every five (imported by every worker for the protocol class below).
GIL_SWITCH_INTERVAL_S = 0.001
sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each whole request."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.read_timeout_s = settings.request_read_timeout_s
        self.max_head_bytes = settings.max_header_bytes
        self._read_deadline: asyncio.TimerHandle | None = None
        self._head_bytes: int | None = 0  # bytes of the request head so far; None once it is complete
        self._tail = b""

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(self.read_timeout_s, self._read_timed_out)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _request_received(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete and not self.cycle.more_body

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_bytes is not None and self._head_too_large(data):
            self._refuse_head()
            return
        super().data_received(data)
        if self._request_received():
            self._disarm()

    def _head_too_large(self, data: bytes) -> bool:
        """Count head bytes up to the blank line that ends it (h11 alone bounds only what it must buffer,
        so a head arriving in one large read would pass)."""
        assert self._head_bytes is not None
        seen = self._tail + data
        end = seen.find(b"\r\n\r\n")
        if end >= 0:
            self._head_bytes += end + 4 - len(self._tail)
            too_large = self._head_bytes > self.max_head_bytes
            self._head_bytes, self._tail = None, b""
            return too_large
        self._head_bytes += len(data)
        self._tail = seen[-3:]
        return self._head_bytes > self.max_head_bytes

    def _refuse_head(self) -> None:
        self.logger.warning("Request head too large.")
        body = b"request line and headers too large"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain\r\n"
            + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            + body
        )
        self._disarm()
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_bytes, self._tail = 0, b""
            self._arm()  # the next request on this connection has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self._request_received() or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app sees the client gone
            self.cycle.message_event.set()
        self.transport.close()


def server_config(settings: Settings, host: str, port: int, workers: int = 1) -> dict:
    """uvicorn keyword arguments of the shipped server command."""
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "http": "api.server:BoundedH11Protocol",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "timeout_graceful_shutdown": max(1, round(settings.graceful_shutdown_s)),
        "proxy_headers": True,
        "forwarded_allow_ips": settings.trusted_proxies,
        "server_header": False,
        "access_log": False,  # one JSON line per request comes from the app itself
    }


def run(host: str, port: int, workers: int = 1) -> None:
    """Serve api.main:app with the bounds above (blocks until stopped)."""
    uvicorn.run("api.main:app", **server_config(get_settings(), host, port, workers))
