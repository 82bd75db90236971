"""Shared fixtures for the answer-audit tests: XSTest location and a live chat server."""

from __future__ import annotations

from pathlib import Path

import pytest

from .chat_server import XSTEST_DIR, ChatServer, Faults, load_recorded

__all__ = ["XSTEST_DIR", "need_xstest", "xstest_rows"]


def _have_xstest() -> bool:
    return (XSTEST_DIR / "model_completions").is_dir() and any(
        (XSTEST_DIR / "model_completions").glob("*.csv")
    )


need_xstest = pytest.mark.skipif(
    not _have_xstest(), reason=f"XSTest data not found at {XSTEST_DIR} (../shared/data/xstest)"
)


def xstest_rows(model: str = "gpt4") -> list[dict]:
    """The labelled completions of one model as dicts (skips when the data is absent)."""
    import csv

    path = next(iter(sorted((XSTEST_DIR / "model_completions").glob(f"*_{model}.csv"))), None)
    if path is None:
        pytest.skip(f"XSTest completions for {model} not found under {XSTEST_DIR}")
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def recorded() -> dict[str, str]:
    """Recorded answers: XSTest gpt4 completions, or the built-in set when absent."""
    return load_recorded()


@pytest.fixture
def faulty_server(recorded):
    """A server that sends 429s, 500s, slow answers and drops connections on first attempts."""
    faults = Faults(share_429=0.15, share_500=0.1, share_drop=0.1, share_slow=0.05, slow_s=1.5)
    with ChatServer(recorded, faults, api_key="sk-test-SECRET-4711") as server:
        yield server
