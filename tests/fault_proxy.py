"""A loopback HTTP proxy that injects faults in front of a real server, for retry tests.

Every ``every``-th POST gets the next fault of a fixed cycle: 429 with Retry-After, 500, a
response slower than the client's timeout, and a connection closed without an answer. Everything
else is forwarded.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

FAULTS = ("429", "500", "slow", "close")


class FaultProxy:
    def __init__(self, upstream: str, every: int, slow_s: float):
        self.upstream = upstream.rstrip("/")
        self.every = every
        self.slow_s = slow_s
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._posts = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fault = proxy._draw()
                if fault == "429":
                    self._reply(429, b'{"error": "rate limited"}', {"Retry-After": "0.2"})
                elif fault == "500":
                    self._reply(500, b'{"error": "internal"}')
                elif fault == "slow":
                    time.sleep(proxy.slow_s)
                    self.close_connection = True
                elif fault == "close":
                    self.close_connection = True  # no answer at all
                else:
                    self._forward(body)

            def _forward(self, body):
                with proxy._lock:
                    proxy.forwarded += 1
                response = httpx.request(self.command, proxy.upstream + self.path, content=body,
                                         headers={"Content-Type": "application/json"}, timeout=600)
                self._reply(response.status_code, response.content)

            def _reply(self, status, content, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left; it will retry

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _draw(self) -> str | None:
        with self._lock:
            self._posts += 1
            if self._posts % self.every:
                return None
            fault = FAULTS[(self._posts // self.every - 1) % len(FAULTS)]
            self.injected[fault] += 1
            return fault

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class KillingProxy:
    """Stands in front of one real server of a fleet: forwards its first ``after`` requests, then, at
    the next one, kills the server's process and stops listening, so that request and every later
    one find the server gone (a crash after a known number of requests: no timing involved)."""

    def __init__(self, upstream: str, process, after: int):
        self.upstream, self.process, self.after = upstream.rstrip("/"), process, after
        self.forwarded = 0
        self.killed = False
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self._answer(None)

            def do_POST(self):
                self._answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))

            def _answer(self, body):
                with proxy._lock:
                    kill = body is not None and proxy.forwarded >= proxy.after
                    if body is not None and not kill:
                        proxy.forwarded += 1
                if kill:
                    proxy._kill()
                    self.close_connection = True  # no answer: the server is gone
                    return
                try:
                    response = httpx.request(self.command, proxy.upstream + self.path, content=body,
                                             headers={"Content-Type": "application/json"}, timeout=600)
                except httpx.TransportError:
                    self.close_connection = True  # it died under this request
                    return
                self.send_response(response.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                try:
                    self.wfile.write(response.content)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _kill(self) -> None:
        with self._lock:
            if self.killed:
                return
            self.killed = True
        self.process.kill()
        self.process.wait()
        # Stop listening too: from now on a connection is refused, as to a dead host.
        threading.Thread(target=lambda: (self._server.shutdown(), self._server.server_close()), daemon=True).start()

    def __enter__(self) -> "KillingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.killed:
            self._server.shutdown()
            self._server.server_close()
