"""Failure notices against a real HTTP server and a real SMTP exchange on 127.0.0.1.

The connections are real Airflow connections (AIRFLOW_CONN_* in the environment) read by the
http and smtp providers' hooks; the task instance is a small stand-in for the callback context.
"""

from __future__ import annotations

import json
import socketserver
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from assay import notify

PUBLISHED = {
    "overall": "fail",
    "failing_sources": ["forum", "support_tickets"],
    "warned_sources": ["news"],
    "shard_errors": [],
    "report_url": "https://audits.example/runs/r7/report.html",
    "docs_url": "https://audits.example/runs/r7/gx/gx/uncommitted/data_docs/local_site/index.html",
}


class TaskInstance:
    """What a failure callback reads from its context's task instance."""

    dag_id, run_id, task_id, try_number = (
        "corpus_audit",
        "manual__2026-11-27T02:00:00+00:00",
        "gate",
        1,
    )

    def __init__(self, published: dict | None) -> None:
        self.published = published

    def xcom_pull(self, task_ids: str):
        assert task_ids == "decide_and_publish"
        return self.published


class Webhook:
    """A tiny HTTP server that records what is posted and answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.posts: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.posts.append(
                    {
                        "path": self.path,
                        "type": self.headers["Content-Type"],
                        "json": json.loads(body),
                    }
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook(monkeypatch):
    hook = Webhook()
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": hook.port,
        "schema": "http",
        "extra": {"endpoint": "/hooks/assay"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ASSAY_ALERTS", json.dumps(conn))
    monkeypatch.setenv(notify.HTTP_CONN, "assay_alerts")
    monkeypatch.delenv(notify.EMAIL_CONN, raising=False)
    yield hook
    hook.close()


def test_failure_posts_a_concise_summary(webhook):
    notify.on_failure(
        {"ti": TaskInstance(PUBLISHED), "exception": RuntimeError("sources not passing: forum")}
    )
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert post["path"] == "/hooks/assay" and post["type"] == "application/json"
    summary, text = post["json"]["summary"], post["json"]["text"]
    assert (
        summary["failing_sources"] == ["forum", "support_tickets"] and summary["task_id"] == "gate"
    )
    assert (
        summary["docs_url"] == PUBLISHED["docs_url"]
        and summary["report_url"] == PUBLISHED["report_url"]
    )
    assert "Sources not passing: forum, support_tickets." in text
    assert "Trend warnings: news." in text and PUBLISHED["docs_url"] in text
    assert len(text) < 600


def test_failure_before_publishing_names_the_error(webhook):
    notify.on_failure(
        {"ti": TaskInstance(None), "exception": FileNotFoundError("stage.json is missing")}
    )
    summary = webhook.posts[0]["json"]["summary"]
    assert summary["failing_sources"] == [] and summary["docs_url"] == ""
    assert "Error: stage.json is missing" in webhook.posts[0]["json"]["text"]


def test_many_sources_are_cut_short(webhook):
    many = {**PUBLISHED, "failing_sources": [f"s{i:03d}" for i in range(55)]}
    notify.on_failure({"ti": TaskInstance(many)})
    summary = webhook.posts[0]["json"]["summary"]
    assert (
        len(summary["failing_sources"]) == notify.MAX_SOURCES
        and summary["more_failing_sources"] == 35
    )
    assert "and 35 more" in webhook.posts[0]["json"]["text"]


def test_a_broken_webhook_never_raises(monkeypatch):
    hook = Webhook(status=500)
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ASSAY_ALERTS",
            json.dumps(
                {"conn_type": "http", "host": "127.0.0.1", "port": hook.port, "schema": "http"}
            ),
        )
        monkeypatch.setenv(notify.HTTP_CONN, "assay_alerts")
        monkeypatch.setenv("AIRFLOW__HTTP__RETRY_LIMIT", "0")
        sent = notify.notify(notify.failure_summary({"ti": TaskInstance(PUBLISHED)}))
        assert sent["webhook"].startswith("failed") and len(hook.posts) >= 1
    finally:
        hook.close()


class SmtpSink(socketserver.ThreadingTCPServer):
    """Just enough SMTP (RFC 5321 without extensions) to receive one message per session."""

    allow_reuse_address = True

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 localhost ESMTP test")
                rcpt: list[str] = []
                while raw := self.rfile.readline():
                    verb = raw.decode().strip().split(" ")[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 localhost")
                    elif verb == "RCPT":
                        rcpt.append(raw.decode().split(":", 1)[1].strip().strip("<>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = b""
                        while (line := self.rfile.readline()) not in (b".\r\n", b""):
                            data += line
                        sink.messages.append((rcpt, data))
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 OK")

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_failure_mails_the_summary(monkeypatch):
    sink = SmtpSink()
    try:
        extra = {
            "disable_ssl": True,
            "disable_tls": True,
            "from_email": "assay@localhost",
            "retry_limit": 0,
            "timeout": 10,
        }
        conn = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": sink.server_address[1],
            "extra": extra,
        }
        monkeypatch.setenv("AIRFLOW_CONN_ASSAY_MAIL", json.dumps(conn))
        monkeypatch.setenv(notify.EMAIL_CONN, "assay_mail")
        monkeypatch.setenv(notify.EMAIL_TO, "oncall@example.org, lead@example.org")
        monkeypatch.delenv(notify.HTTP_CONN, raising=False)
        hostile = {**PUBLISHED, "failing_sources": ["<script>alert(1)</script>"]}
        sent = notify.notify(notify.failure_summary({"ti": TaskInstance(hostile)}))
        assert sent == {"email": "sent"}
        ((rcpt, data),) = sink.messages
        assert rcpt == ["oncall@example.org", "lead@example.org"]
        mail = message_from_bytes(data, policy=default_policy)
        assert mail["Subject"].startswith("[assay] corpus_audit failed")
        body = next(p for p in mail.walk() if p.get_content_type() == "text/html").get_content()
        assert "&lt;script&gt;" in body and "<script>" not in body
        assert f'href="{PUBLISHED["report_url"]}"' in body
    finally:
        sink.shutdown()
        sink.server_close()


def test_nothing_configured_sends_nothing(monkeypatch):
    for name in (notify.HTTP_CONN, notify.EMAIL_CONN, notify.EMAIL_TO):
        monkeypatch.delenv(name, raising=False)
    assert notify.notify(notify.failure_summary({"ti": TaskInstance(PUBLISHED)})) == {}


def test_run_links(tmp_path):
    files = {
        "report_url": "report.html",
        "docs_url": "gx/gx/uncommitted/data_docs/local_site/index.html",
    }
    web = notify.run_links(
        "s3://bucket/audits/run 7", files, base_url="https://bucket.s3-website.example/audits/"
    )
    assert web["report_url"] == "https://bucket.s3-website.example/audits/run%207/report.html"
    assert (
        notify.run_links("s3://bucket/audits/r7", files, base_url="")["report_url"]
        == "s3://bucket/audits/r7/report.html"
    )
    local = notify.run_links(str(tmp_path / "r7"), files, base_url="")
    assert local["docs_url"] == (tmp_path / "r7" / files["docs_url"]).as_uri()
