"""Bounded work per request: a per-client rate limit and a concurrency bound on on-request computations,
a request body limit that answers 413 (chunked bodies too), and a throttle on failed admin attempts.

Beyond a bound the answer is immediate and says when to come back (429 or 503 with Retry-After); the
cheap routes, /health and /ready above all, never wait behind a computation.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings


def client_of(scope: Scope) -> str:
    """The client address as the server saw it (after trusted proxy headers, see the server command)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


async def send_error(send: Send, status: int, error: str, message: str, parameter: str | None, retry_after_s=None):
    """A JSON error body in the service's format, sent straight from a middleware."""
    body = json.dumps(
        {
            "status": status,
            "error": error,
            "details": [{"parameter": parameter, "message": message, "allowed": None, "input": None}],
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, math.ceil(retry_after_s))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TokenBuckets:
    """Per-key token buckets (rate per second, burst), the least recently seen keys forgotten first."""

    def __init__(self, rate_per_s: float, burst: int, max_keys: int):
        self.rate, self.burst, self.max_keys = rate_per_s, float(burst), max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Take one token: 0.0 if granted, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


class ComputeLimitMiddleware:
    """POSTs to the computed paths: per-client rate limit (429), then a concurrency bound (503)."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.paths = frozenset(settings.compute_paths)
        self.queue_s = settings.compute_queue_s
        self.slots = settings.compute_concurrency
        self.buckets = TokenBuckets(
            settings.compute_rate_per_min / 60.0, settings.compute_burst, settings.rate_limit_clients
        )
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_of(scope))
        if wait > 0:
            await send_error(
                send,
                429,
                "too many requests",
                f"at most the configured rate per client; retry in {math.ceil(wait)} s",
                None,
                wait,
            )
            return
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        try:
            if self._semaphore.locked():
                await asyncio.wait_for(self._semaphore.acquire(), timeout=self.queue_s)
            else:
                await self._semaphore.acquire()  # free: no wait (wait_for with timeout 0 would refuse it)
        except TimeoutError:
            await send_error(
                send,
                503,
                "busy",
                f"all {self.slots} computation slots are taken; retry shortly",
                None,
                max(1.0, self.queue_s),
            )
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._semaphore.release()


class BodyLimitMiddleware:
    """Rejects request bodies above a byte limit with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0
        state = {"started": False, "refused": False}

        async def limited_receive() -> Message:
            nonlocal seen
            if state["refused"]:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now, then tell the app the client went away: whatever it does next is dropped.
                    state["refused"] = True
                    if not state["started"]:
                        await self._too_large(send)
                        state["started"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["refused"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise

    async def _too_large(self, send: Send) -> None:
        await send_error(send, 413, "request body too large", f"at most {self.max_bytes} bytes", "body")


class FailureThrottle:
    """Failed attempts per client in a sliding window; a client over the limit is refused until it ages out."""

    def __init__(self, max_failures: int, window_s: float, max_clients: int):
        self.max_failures, self.window_s, self.max_clients = max_failures, window_s, max_clients
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if times:
            self._failures[key] = times
            self._failures.move_to_end(key)
        else:
            self._failures.pop(key, None)
        return times

    def blocked_for(self, key: str, now: float | None = None) -> float:
        """Seconds until this client may try again (0.0: it may now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._recent(key, now)
            if len(times) < self.max_failures:
                return 0.0
            return times[-self.max_failures] + self.window_s - now

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(key, now)
            self._failures.setdefault(key, []).append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
