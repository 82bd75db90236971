"""Ask an OpenAI-compatible chat-completions endpoint many questions, politely and resumably.

- bounded concurrency (a thread pool sharing one HTTP connection pool),
- a requests-per-second limit shared by all workers,
- retries with exponential backoff and jitter on 429, 5xx, timeouts and dropped connections
  (a server's Retry-After is honoured, capped),
- a checkpoint: every answer is appended to a JSONL file the moment it arrives, and questions
  already answered there are not asked again (a retried Airflow task resumes),
- progress in the log. The API key only ever goes into the Authorization header: it is not
  logged, not written, and not part of any repr.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from assay.answers.banks import Question

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
RETRY_ERRORS = (httpx.TimeoutException, httpx.TransportError)


@dataclass(frozen=True)
class ChatSettings:
    """Where and how to ask. `api_key` is excluded from repr and never serialised."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    temperature: float = 0.0
    max_tokens: int = 512
    timeout_s: float = 60.0
    concurrency: int = 8
    requests_per_second: float = 0.0  # 0: no limit
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    system_prompt: str = ""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r}: give an http(s):// URL of the API root")
        if not self.model:
            raise ValueError("model: give the model name the endpoint serves")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ValueError("concurrency and max_attempts must be >= 1")
        if self.timeout_s <= 0 or self.requests_per_second < 0:
            raise ValueError("timeout_s must be > 0 and requests_per_second >= 0")

    @property
    def url(self) -> str:
        """The chat-completions URL: <base>/chat/completions (base usually ends in /v1)."""
        return self.base_url.rstrip("/") + "/chat/completions"

    def public(self) -> dict:
        """Settings safe to log and write (no key; only whether one is set)."""
        out = {k: v for k, v in asdict(self).items() if k != "api_key"}
        out["api_key_set"] = bool(self.api_key)
        return out


@dataclass(frozen=True)
class Answer:
    """One question's outcome: the answer text, or the reason there is none."""

    key: str
    id: str
    bank: str
    category: str
    question: str
    answer: str = ""
    finish_reason: str = ""
    attempts: int = 0
    latency_s: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def to_dict(self) -> dict:
        return asdict(self)


class RateLimiter:
    """At most `rate` acquisitions per second across threads (evenly spaced slots)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            time.sleep(delay)


class Checkpoint:
    """Answers appended to a JSONL file as they arrive; read back to skip work on a retry."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> dict[str, Answer]:
        """Answers already recorded (a torn last line from a crash is ignored)."""
        done: dict[str, Answer] = {}
        if not self.path.exists():
            return done
        with self.path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    rec = json.loads(line)
                    answer = Answer(**rec)
                except (json.JSONDecodeError, TypeError):
                    continue
                if answer.ok:
                    done[answer.key] = answer
        return done

    def append(self, answer: Answer) -> None:
        line = json.dumps(answer.to_dict(), ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()


class _Progress:
    """Thread-safe counters, logged every `every_s` seconds and at the end."""

    def __init__(self, total: int, every_s: float) -> None:
        self.total, self.every_s = total, every_s
        self.done = self.failed = self.retries = 0
        self.start = self._last = time.monotonic()
        self._lock = threading.Lock()

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def finished(self, answer: Answer) -> None:
        with self._lock:
            self.done += 1
            self.failed += not answer.ok
            now = time.monotonic()
            if now - self._last >= self.every_s or self.done == self.total:
                self._last = now
                self.log(now)

    def log(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        log.info(
            "answers: %d/%d (%.1f%%), %d failed, %d retries, %.1f answers/s",
            self.done,
            self.total,
            100.0 * self.done / max(self.total, 1),
            self.failed,
            self.retries,
            self.done / elapsed,
        )


class ChatClient:
    """Ask questions of one endpoint and model."""

    def __init__(self, settings: ChatSettings, transport: httpx.BaseTransport | None = None):
        self.settings = settings
        headers = {"Content-Type": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        limits = httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        )
        self._http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(settings.timeout_s),
            limits=limits,
            transport=transport,
        )
        self._limiter = RateLimiter(settings.requests_per_second)
        self._rng = random.Random()
        logging.getLogger("httpx").setLevel(logging.WARNING)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def body(self, question: str) -> dict:
        """The chat-completions request for one question."""
        messages = []
        if self.settings.system_prompt:
            messages.append({"role": "system", "content": self.settings.system_prompt})
        messages.append({"role": "user", "content": question})
        return {
            "model": self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
            "max_tokens": self.settings.max_tokens,
        }

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        cap = self.settings.backoff_max_s
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), cap)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        base = min(cap, self.settings.backoff_base_s * (2 ** (attempt - 1)))
        return base * (0.5 + 0.5 * self._rng.random())

    def ask(self, q: Question, progress: _Progress | None = None) -> Answer:
        """One question, with retries; never raises for HTTP trouble (the Answer says why)."""
        body = self.body(q.question)
        error = ""
        start = time.monotonic()
        for attempt in range(1, self.settings.max_attempts + 1):
            self._limiter.acquire()
            retry_after = None
            try:
                resp = self._http.post(self.settings.url, json=body)
            except RETRY_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            else:
                if resp.status_code == 200:
                    parsed = _parse(resp)
                    if parsed is not None:
                        text, finish = parsed
                        return Answer(
                            q.key, q.id, q.bank, q.category, q.question, text, finish,
                            attempt, round(time.monotonic() - start, 4),
                        )  # fmt: skip
                    error = "malformed response body"
                elif resp.status_code in RETRY_STATUS:
                    error = f"HTTP {resp.status_code}"
                    retry_after = resp.headers.get("retry-after")
                else:
                    return self._failed(q, attempt, start, _client_error(resp))
            if attempt < self.settings.max_attempts:
                if progress:
                    progress.retried()
                time.sleep(self._backoff(attempt, retry_after))
        return self._failed(q, self.settings.max_attempts, start, f"gave up: {error}")

    def _failed(self, q: Question, attempts: int, start: float, error: str) -> Answer:
        return Answer(
            q.key, q.id, q.bank, q.category, q.question, "", "", attempts,
            round(time.monotonic() - start, 4), error,
        )  # fmt: skip

    def ask_all(
        self,
        questions: Sequence[Question],
        checkpoint: Checkpoint | None = None,
        progress_every_s: float = 10.0,
    ) -> list[Answer]:
        """Answers for all questions, in the questions' order; checkpointed ones are not re-asked."""
        done = checkpoint.load() if checkpoint else {}
        todo = [q for q in questions if q.key not in done]
        log.info(
            "asking %s (model %s): %d questions, %d already in the checkpoint, concurrency %d",
            self.settings.url, self.settings.model, len(todo), len(questions) - len(todo),
            self.settings.concurrency,
        )  # fmt: skip
        progress = _Progress(len(todo), progress_every_s)
        results: dict[str, Answer] = dict(done)
        with ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="ask") as pool:
            futures = {pool.submit(self.ask, q, progress): q for q in todo}
            for fut in as_completed(futures):
                answer = fut.result()
                if answer.ok and checkpoint:
                    checkpoint.append(answer)
                results[answer.key] = answer
                progress.finished(answer)
        return [results[q.key] for q in questions]


def _parse(resp: httpx.Response) -> tuple[str, str] | None:
    """(answer text, finish_reason) of a chat-completions response, or None when malformed."""
    try:
        choice = resp.json()["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content")
        if content is None:
            content = message.get("refusal")  # OpenAI's structured refusal field
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            return None
        return content, str(choice.get("finish_reason") or "")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None


def _client_error(resp: httpx.Response) -> str:
    """A non-retriable answer in words (never echoing request headers)."""
    hint = {
        401: "authentication failed: check the API key connection",
        403: "forbidden: the key may not use this model",
        404: "not found: check the base URL (usually ends in /v1) and the model name",
    }.get(resp.status_code, "the endpoint rejected the request")
    return f"HTTP {resp.status_code}: {hint}"


def failed_share(answers: Iterable[Answer]) -> float:
    """Share of questions without an answer."""
    items = list(answers)
    return sum(not a.ok for a in items) / len(items) if items else 0.0
