"""A real S3-compatible HTTP server on 127.0.0.1 for the session, and a fault-injecting proxy.

moto's server runs in this process on a free port; the proxy forwards every request to it and,
when a test asks, answers some requests itself with throttling (503 SlowDown) or 500 errors.
Clients reach the store only over HTTP through the standard AWS environment variables.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# A distinctive secret: tests assert it never shows up in logs, output or files.
SECRET_KEY = "assay-TEST-secret-9f2c7e1d4b8a"
ACCESS_KEY = "AKIAASSAYTESTKEY0001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Fault:
    match: str  # substring of "METHOD path?query"
    status: int
    code: str
    remaining: int  # -1: every time
    hits: int = 0


@dataclass
class FaultProxy:
    """Forwards to moto; `inject` makes matching requests fail `times` times first."""

    target_port: int
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def inject(
        self, match: str, status: int = 503, code: str = "SlowDown", times: int = 1
    ) -> Fault:
        fault = Fault(match, status, code, times)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def take(self, line: str) -> Fault | None:
        with self.lock:
            self.requests += 1
            for fault in self.faults:
                if fault.match in line and fault.remaining != 0:
                    fault.remaining -= 1 if fault.remaining > 0 else 0
                    fault.hits += 1
                    return fault
        return None


def _handler(proxy: FaultProxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = proxy.take(f"{self.command} {self.path}")
            if fault is not None:
                payload = (
                    f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{fault.code}</Code>'
                    f"<Message>injected by the test proxy</Message></Error>"
                ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header(
                    "Content-Length", str(len(payload) if self.command != "HEAD" else 0)
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in (
                    "transfer-encoding",
                    "connection",
                    "content-length",
                    "server",
                    "date",
                ):
                    self.send_header(key, value)
            sent_length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", sent_length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


@dataclass
class S3Server:
    endpoint: str  # through the proxy
    direct_endpoint: str
    proxy: FaultProxy


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto on a free 127.0.0.1 port, with the fault proxy in front of it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    server.start()
    proxy = FaultProxy(moto_port)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield S3Server(
            f"http://127.0.0.1:{httpd.server_address[1]}", f"http://127.0.0.1:{moto_port}", proxy
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
        server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch) -> S3Server:
    """The standard AWS environment pointing at the proxy, with the test secret."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "ASSAY_S3_CONNECTION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ASSAY_S3_MAX_ATTEMPTS", "6")
    s3_server.proxy.clear()
    yield s3_server
    s3_server.proxy.clear()


@pytest.fixture
def bucket(s3_env) -> str:
    """A fresh bucket for one test."""
    from assay import s3

    name = f"assay-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


def put(uri: str, data: bytes) -> None:
    from assay import s3

    s3.write_bytes(uri, data)
