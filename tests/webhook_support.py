"""A loopback webhook receiver for the tests: a threaded ``http.server`` on 127.0.0.1 that verifies every
request's Standard Webhooks signature with ``standardwebhooks.Webhook(secret).verify`` (as a real receiver
would) and answers as the test tells it: 204, an error status, a redirect, a huge body, or not at all."""
from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any, Self

from standardwebhooks import Webhook


class Receiver:
    """Requests received (``events``: verified payloads; ``rejected``: signature failures)."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.status = 204
        self.hang = 0.0  #: seconds to wait before answering
        self.trickle = 0.0  #: answer a header byte every this many seconds (a slow-loris receiver)
        self.body = b""  #: answer body (a huge one for the hostile tests)
        self.location: str | None = None
        self.events: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.rejected: list[str] = []
        self.requests = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.requests += 1
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    event = Webhook(receiver.secret or "").verify(body, headers)
                except Exception as error:  # noqa: BLE001 - recorded for the test
                    receiver.rejected.append(str(error))
                else:
                    receiver.events.append(event)
                    receiver.headers.append(headers)
                if receiver.hang:
                    time.sleep(receiver.hang)
                if receiver.trickle:
                    try:
                        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                        for _ in range(100):
                            self.wfile.write(b"z")
                            self.wfile.flush()
                            time.sleep(receiver.trickle)
                    except OSError:
                        pass
                    return
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                try:
                    self.wfile.write(receiver.body)
                except OSError:  # the sender stopped reading (a huge body): fine
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]


def payloads(rows: list[Any]) -> list[dict[str, Any]]:
    """The payload of each delivery row (as stored: what was signed)."""
    return [json.loads(json.dumps(row.payload)) for row in rows]
