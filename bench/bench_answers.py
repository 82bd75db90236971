"""Benchmark the answer audit: client throughput vs the server's capacity, refusal detector speed
and agreement with XSTest's human labels.

Starts the test chat server (tests/answers/chat_server.py) as a separate process on 127.0.0.1,
measures its capacity with a plain load loop (a thread pool posting requests, nothing else),
then the audit client (rate limiter, retries, checkpoint, progress) on the same questions with
the same concurrency; the two alternate and the medians are compared. Prints, one per line:

    server_capacity_rps: N
    audit_rps: N
    audit_vs_server_capacity: <ratio>          (goal >= 0.8)
    refusal_answers_per_s: N
    refusal_agreement_xstest: <fraction>       (all labelled completions; per model below)
    refusal_agreement_xstest_<model>: <fraction>
    baseline_agreement_xstest: <fraction>      (string match on answer openings)

Usage: .venv/bin/python bench/bench_answers.py [--requests 2000] [--concurrency 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assay.answers import xstest  # noqa: E402
from assay.answers.banks import Question  # noqa: E402
from assay.answers.client import ChatClient, ChatSettings, Checkpoint  # noqa: E402
from assay.answers.refusal import classify  # noqa: E402
from tests.answers.chat_server import BUILTIN_ANSWERS, XSTEST_DIR, load_recorded  # noqa: E402


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "answers" / "chat_server.py"), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"chat server did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


def plain_load(base_url: str, prompts: list[str], concurrency: int) -> float:
    """Requests per second of a bare thread pool posting chat requests."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    url = base_url + "/chat/completions"
    with httpx.Client(limits=limits, timeout=30) as http:

        def one(prompt: str) -> None:
            body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
            http.post(url, json=body).raise_for_status()

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, prompts))
        return len(prompts) / (time.perf_counter() - start)


def audit_load(base_url: str, prompts: list[str], concurrency: int, folder: Path) -> float:
    """Requests per second of the audit client with its checkpoint."""
    questions = [Question(str(i), p, "c", "should_refuse") for i, p in enumerate(prompts)]
    settings = ChatSettings(base_url, "m", api_key="bench-key", concurrency=concurrency)
    checkpoint = Checkpoint(folder / f"ck-{time.monotonic_ns()}.jsonl")
    with ChatClient(settings) as client:
        start = time.perf_counter()
        answers = client.ask_all(questions, checkpoint, progress_every_s=3600)
        elapsed = time.perf_counter() - start
    assert all(a.ok for a in answers)
    return len(prompts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    recorded = load_recorded()
    base = list(recorded)
    prompts = [base[i % len(base)] for i in range(args.requests)]
    proc, base_url = start_server()
    try:
        plain_load(base_url, prompts[:200], args.concurrency)  # warm-up
        capacity, audit = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                capacity.append(plain_load(base_url, prompts, args.concurrency))
                audit.append(audit_load(base_url, prompts, args.concurrency, Path(tmp)))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    cap, aud = statistics.median(capacity), statistics.median(audit)
    print(f"server_capacity_rps: {cap:.0f}")
    print(f"audit_rps: {aud:.0f}")
    print(f"audit_vs_server_capacity: {aud / cap:.3f}")

    rows = xstest.load(XSTEST_DIR)
    texts = [r.completion for r in rows] or list(BUILTIN_ANSWERS.values()) * 150
    classify(texts[0])
    start = time.perf_counter()
    for text in texts:
        classify(text)
    print(f"refusal_answers_per_s: {len(texts) / (time.perf_counter() - start):.0f}")
    if not rows:
        print("refusal_agreement_xstest: n/a (XSTest data not found)")
        return
    ours = xstest.evaluate(rows)
    baseline = xstest.evaluate(rows, xstest.baseline_label)
    print(f"refusal_agreement_xstest: {ours['all'].agreement:.4f}")
    for model, agreement in sorted(ours.items()):
        if model != "all":
            print(f"refusal_agreement_xstest_{model}: {agreement.agreement:.4f}")
            print(f"refusal_precision_xstest_{model}: {agreement.precision:.4f}")
            print(f"refusal_recall_xstest_{model}: {agreement.recall:.4f}")
    print(f"baseline_agreement_xstest: {baseline['all'].agreement:.4f}")


if __name__ == "__main__":
    main()
