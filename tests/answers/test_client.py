"""The chat client against a real HTTP server on 127.0.0.1 with injected faults."""

from __future__ import annotations

import logging
import time

import pytest

from assay.answers.banks import Question
from assay.answers.client import ChatClient, ChatSettings, Checkpoint, RateLimiter

from .chat_server import ChatServer, Faults

KEY = "sk-test-SECRET-4711"


def _questions(recorded: dict[str, str], n: int) -> list[Question]:
    """Recorded prompts first; made-up ones when the recorded set is small (no XSTest data)."""
    prompts = list(recorded)[:n] + [f"Made-up question number {i}?" for i in range(n)]
    return [Question(f"x{i}", p, "c", "should_refuse") for i, p in enumerate(prompts[:n])]


def _settings(server: ChatServer, **kw) -> ChatSettings:
    base = dict(model="test-model", api_key=KEY, concurrency=8, timeout_s=0.75,
                backoff_base_s=0.01, backoff_max_s=0.05, max_attempts=6)  # fmt: skip
    base.update(kw)
    return ChatSettings(server.base_url, **base)


def test_every_fault_is_retried_and_every_question_answered(
    faulty_server, recorded, tmp_path, caplog
):
    qs = _questions(recorded, 120)
    caplog.set_level(logging.INFO)
    with ChatClient(_settings(faulty_server)) as client:
        answers = client.ask_all(qs, Checkpoint(tmp_path / "ck.jsonl"))
    assert [a.key for a in answers] == [q.key for q in qs]  # the questions' order
    assert all(a.ok for a in answers), [a.error for a in answers if not a.ok]
    assert [a.answer for a in answers] == [faulty_server.answer_for(q.question) for q in qs]
    sent = faulty_server.faults_sent
    assert sent["429"] and sent["500"] and sent["drop"], sent  # each fault kind was exercised
    retried = [a for a in answers if a.attempts > 1]
    assert len(retried) >= sum(sent.values()) - sent["slow"]
    assert "answers: 120/120" in caplog.text
    assert KEY not in caplog.text and KEY not in (tmp_path / "ck.jsonl").read_text()
    assert KEY not in repr(client.settings) and "api_key" not in client.settings.public()


def test_slow_answers_time_out_and_are_asked_again(recorded):
    slow = Faults(share_slow=1.0, slow_s=1.0)
    with ChatServer(recorded, slow) as server:
        with ChatClient(_settings(server, api_key="", timeout_s=0.3)) as client:
            answer = client.ask(_questions(recorded, 1)[0])
    assert answer.ok and answer.attempts == 2


def test_checkpoint_means_a_retry_does_not_ask_again(recorded, tmp_path):
    qs = _questions(recorded, 40)
    path = tmp_path / "ck.jsonl"
    fail = {q.question for q in qs[:5]}
    with ChatServer(recorded, Faults(always_fail=fail)) as server:
        with ChatClient(_settings(server, max_attempts=2)) as client:
            first = client.ask_all(qs, Checkpoint(path))
        assert sum(not a.ok for a in first) == 5
        assert all(a.error.startswith("gave up: HTTP 500") for a in first[:5])
        assert len(path.read_text().splitlines()) == 35  # only answers are checkpointed
        with path.open("a") as handle:
            handle.write('{"key": "torn')  # a crash mid-write leaves a torn line
        server.faults.always_fail = set()
        before = dict(server.requests)
        with ChatClient(_settings(server)) as client:
            second = client.ask_all(qs, Checkpoint(path))
        asked_again = {p for p, n in server.requests.items() if n > before.get(p, 0)}
    assert asked_again == fail
    assert all(a.ok for a in second)
    assert [a.answer for a in second] == [server.answer_for(q.question) for q in qs]


def test_concurrency_is_bounded(recorded):
    qs = _questions(recorded, 60)
    with ChatServer(recorded, Faults(share_slow=1.0, slow_s=0.05)) as server:
        with ChatClient(_settings(server, api_key="", concurrency=3, timeout_s=5)) as client:
            client.ask_all(qs)
    assert server.max_in_flight == 3


def test_requests_per_second_limit_holds(recorded):
    qs = _questions(recorded, 21)
    with ChatServer(recorded) as server:
        with ChatClient(_settings(server, api_key="", requests_per_second=40)) as client:
            client.ask_all(qs)
    span = max(server.times) - min(server.times)
    assert span >= 20 / 40 * 0.9  # 21 evenly spaced requests at 40/s take >= 0.5 s


def test_rate_limiter_spaces_slots():
    now = [0.0]
    limiter = RateLimiter(100, clock=lambda: now[0])
    start = time.monotonic()
    for _ in range(5):
        limiter.acquire()
    assert time.monotonic() - start >= 0.035


def test_wrong_key_fails_fast_without_retries(recorded):
    with ChatServer(recorded, api_key=KEY) as server:
        with ChatClient(_settings(server, api_key="wrong")) as client:
            answer = client.ask(_questions(recorded, 1)[0])
    assert answer.error == "HTTP 401: authentication failed: check the API key connection"
    assert answer.attempts == 1 and server.auth_failures == 1


def test_unreachable_endpoint_gives_up_with_a_reason():
    settings = ChatSettings("http://127.0.0.1:9/v1", "m", timeout_s=0.2, max_attempts=2,
                            backoff_base_s=0.01)  # fmt: skip
    with ChatClient(settings) as client:
        answer = client.ask(Question("1", "hi", "c", "content"))
    assert not answer.ok and answer.error.startswith("gave up: ConnectError")


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="base_url"):
        ChatSettings("ftp://x", "m")
    with pytest.raises(ValueError, match="concurrency"):
        ChatSettings("http://x", "m", concurrency=0)
