"""A real webhook receiver for tests: signed JSON in, deduplicated by ``Idempotency-Key``.

It behaves like an SMS or push provider: it checks the signature
(:func:`micromarket.campaigns.channels.webhook.verify_signature`), records every request as it
came, and accepts each ``Idempotency-Key`` once (a repeat is answered 200 again, with the first
answer's id, and not delivered twice). It can be told to fail the first requests (503 by
default, optionally with ``Retry-After``), to answer some requests with a fixed status, or to
be slow. Accepted deliveries are appended to a log file, one JSON line each, so a test in
another process can count them; a server started on an existing log remembers its keys, as a
provider remembers them across its own restarts.

In a thread::

    with WebhookServer(secret="s", log=tmp_path / "accepted.jsonl") as server:
        ... server.url ... server.accepted ... server.requests

As a process (prints ``listening on http://127.0.0.1:PORT`` once it accepts connections)::

    python tests/campaigns/webhook_server.py --port 0 --log accepted.jsonl --secret s
    proc, url = spawn(log, secret="s")      # the same, from a test
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from micromarket.campaigns.channels.webhook import IDEMPOTENCY_HEADER, verify_signature


@dataclass
class Request:
    """One request as it arrived, and the status it was answered with (None until answered)."""

    method: str
    path: str
    headers: Message
    body: bytes
    status: int | None = None

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class _Script:
    """What the next requests get instead of normal handling: (status, headers, body) each."""

    answers: list[tuple[int, dict[str, str], dict]] = field(default_factory=list)
    slow: list[float] = field(default_factory=list)


class WebhookServer:
    """A threading HTTP server on 127.0.0.1 that verifies, records and deduplicates webhook posts.

    Parameters
    ----------
    secret : str
        The signing secret requests must be signed with.
    log : path, optional
        Accepted deliveries are appended here (JSON lines, flushed each); keys already in it
        count as accepted.
    port : int, default 0
        0 picks a free port (see :attr:`url`).
    """

    def __init__(self, secret: str, log: Path | str | None = None, port: int = 0):
        self.secret = secret
        self.log = Path(log) if log else None
        self.requests: list[Request] = []
        self.accepted: dict[str, dict] = {}
        self._script = _Script()
        self._lock = threading.Lock()
        self._load_log()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address to post to (any path is accepted)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/hook"

    def fail_next(self, n: int, status: int = 503, retry_after: str | None = None, body: dict | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (and ``Retry-After``) without accepting them."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            self._script.answers.extend([(status, headers, body or {"error": "scripted"})] * n)

    def slow_next(self, n: int, seconds: float) -> None:
        """Sleep ``seconds`` before handling each of the next ``n`` requests (it is still accepted afterwards)."""
        with self._lock:
            self._script.slow.extend([seconds] * n)

    def wait_answered(self, n: int, timeout: float = 10.0) -> list[Request]:
        """Wait until ``n`` requests have been answered (slow ones included); return the requests."""
        deadline = time.monotonic() + timeout
        while sum(r.status is not None for r in self.requests) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} requests not answered in {timeout} s: {self.requests}")
            time.sleep(0.01)
        return self.requests

    def start(self) -> "WebhookServer":
        """Serve in a daemon thread; returns the server."""
        self._thread = threading.Thread(target=self.serve_forever, name="webhook-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` (from another thread or a signal handler)."""
        # A short poll: stop() waits up to one interval (the default 0.5 s would slow every test).
        self._httpd.serve_forever(poll_interval=0.02)

    def stop_soon(self) -> None:
        """Ask :meth:`serve_forever` to return; safe from a signal handler or a request's thread."""
        threading.Thread(target=self._httpd.shutdown).start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "WebhookServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- request handling (called from the handler's threads) --

    def handle(self, request: Request) -> tuple[int, dict[str, str], dict]:
        """Record ``request`` and decide its answer: (status, headers, JSON body)."""
        with self._lock:
            self.requests.append(request)
            delay = self._script.slow.pop(0) if self._script.slow else 0.0
        time.sleep(delay)
        with self._lock:
            if self._script.answers:
                return self._script.answers.pop(0)
        if not verify_signature(self.secret, request.body, request.headers):
            return 401, {}, {"error": "bad signature"}
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            return 400, {}, {"error": f"no {IDEMPOTENCY_HEADER} header"}
        try:
            payload = request.json()
        except ValueError:
            return 400, {}, {"error": "body is not JSON"}
        return 200, {}, self._accept(key, payload)

    def _accept(self, key: str, payload: dict) -> dict:
        # Check and record under one lock: two concurrent repeats of a key must not both be accepted.
        with self._lock:
            if key in self.accepted:
                return {"id": self.accepted[key]["id"], "duplicate": True}
            entry = {"id": f"msg-{len(self.accepted) + 1}", "key": key, "received_at": time.time(), "body": payload}
            self.accepted[key] = entry
            if self.log is not None:
                with self.log.open("a", encoding="utf-8") as out:  # closed, so flushed, per line
                    out.write(json.dumps(entry) + "\n")
        return {"id": entry["id"]}

    def _load_log(self) -> None:
        for entry in read_log(self.log) if self.log else []:
            self.accepted[entry["key"]] = entry


def _handler(server: WebhookServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = Request("POST", self.path, self.headers, body)  # names match without case
            status, headers, answer = server.handle(request)
            request.status = status
            data = json.dumps(answer).encode()
            try:
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json",
                                    "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): the delivery stands, as at a real provider

        def log_message(self, *args) -> None:  # quiet: the tests read server.requests instead
            pass

    return Handler


def read_log(path: Path | str) -> list[dict]:
    """The accepted deliveries in a server's log file (none when it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def spawn(log: Path | str, secret: str, *args: str, port: int = 0) -> tuple[subprocess.Popen, str]:
    """Start the server as a process; return it and its URL once it listens. ``args`` go to its
    command line (``"--fail-first", "2"``). Stop it with ``proc.terminate()``.

    The secret travels in the environment, not the command line (where ``ps`` would show it).
    """
    env = {**os.environ, "WEBHOOK_SERVER_SECRET": secret}
    proc = subprocess.Popen([sys.executable, __file__, "--port", str(port), "--log", str(log), *args],
                            stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()  # blocks until the server says where it listens, or exits ("")
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"webhook server did not start (exit {proc.poll()}): {line!r}")
    return proc, line.split()[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A webhook receiver for micromarket's tests.")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--log", required=True, help="JSON-lines file of accepted deliveries")
    parser.add_argument("--secret", help="signing secret (default: $WEBHOOK_SERVER_SECRET)")
    parser.add_argument("--fail-first", type=int, default=0, help="answer the first N requests with --fail-status")
    parser.add_argument("--fail-status", type=int, default=503)
    parser.add_argument("--retry-after", help="Retry-After header of the failed answers")
    parser.add_argument("--slow-first", type=int, default=0, help="delay the first N requests by --delay seconds")
    parser.add_argument("--delay", type=float, default=0.0)
    options = parser.parse_args(argv)
    secret = options.secret or os.environ.get("WEBHOOK_SERVER_SECRET")
    if not secret:
        parser.error("no secret: pass --secret or set WEBHOOK_SERVER_SECRET")
    server = WebhookServer(secret, log=options.log, port=options.port)
    server.fail_next(options.fail_first, options.fail_status, options.retry_after)
    server.slow_next(options.slow_first, options.delay)
    signal.signal(signal.SIGTERM, lambda *_: server.stop_soon())
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
