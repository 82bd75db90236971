"""The demo: build a small corpus with known planted rates, audit it through the real DAG.

The generator plants problematic documents (insults, personal data, credentials) at a rate set
per source and knows nothing of verdicts; the pipeline computes them.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from assay.settings import REPO_ROOT

SUBJECTS = [
    "the committee",
    "our team",
    "the village council",
    "a local bakery",
    "the museum",
    "the river authority",
    "a small startup",
    "the orchestra",
    "the library",
    "the school",
]
VERBS = [
    "announced",
    "reviewed",
    "opened",
    "described",
    "postponed",
    "celebrated",
    "planned",
    "repaired",
    "measured",
    "published",
]
OBJECTS = [
    "a new schedule",
    "the spring exhibition",
    "its annual report",
    "a footbridge",
    "the weather records",
    "a reading programme",
    "the harvest festival",
    "a bus route",
    "the water quality results",
    "a community garden",
]
TAILS = [
    "after a long discussion.",
    "for the coming season.",
    "with help from volunteers.",
    "despite the rain.",
    "to general approval.",
    "ahead of schedule.",
    "on Tuesday morning.",
    "in the town square.",
    "for the first time.",
    "without any fuss.",
]
INSULTS = [
    "you are a worthless idiot",
    "what a stupid moron",
    "shut up, you pathetic loser",
    "that bastard lied again",
    "this crap is garbage, dumbass",
]


@dataclass(frozen=True)
class DemoSource:
    name: str
    documents: int
    problem_rate: float
    problems: tuple[str, ...]  # kinds planted: "insult", "email", "phone", "card", "secret"
    layout: str  # "jsonl", "jsonl.gz", "jsonl.zst", "parquet"


DEMO_SOURCES = (
    DemoSource("news", 6000, 0.004, ("insult", "email"), "jsonl.gz"),
    DemoSource("encyclopedia", 2500, 0.0, (), "parquet"),
    DemoSource("forum", 3000, 0.14, ("insult",), "jsonl"),
    DemoSource("support_tickets", 2000, 0.09, ("email", "phone", "card"), "jsonl.zst"),
    DemoSource("code_comments", 1500, 0.012, ("secret",), "jsonl"),
)


def _sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}"


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i : i + 4] for i in range(0, 16, 4))


def _problem(kind: str, rng: random.Random) -> str:
    if kind == "insult":
        return rng.choice(INSULTS).capitalize() + "."
    if kind == "email":
        return f"Write to {rng.choice(['ana', 'li.wei', 'j.smith', 'marta'])}{rng.randrange(100)}@example.org for details."
    if kind == "phone":
        return f"Call me on +44 20 7946 {rng.randrange(1000, 9999)} tonight."
    if kind == "card":
        return f"My card number is {_luhn_card(rng)}, expiry 09/29."
    if kind == "secret":
        key = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        return f"# TODO remove: aws_access_key_id = AKIA{key}"
    raise ValueError(kind)


def _documents(source: DemoSource, rng: random.Random) -> list[dict]:
    docs = []
    for i in range(source.documents):
        sentences = [_sentence(rng) for _ in range(rng.randint(2, 6))]
        if source.problems and rng.random() < source.problem_rate:
            sentences.insert(
                rng.randrange(len(sentences) + 1), _problem(rng.choice(source.problems), rng)
            )
        docs.append({"id": f"{source.name}-{i:06d}", "text": " ".join(sentences)})
    return docs


def _write(folder: Path, source: DemoSource, docs: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    half = len(docs) // 2
    for part, chunk in enumerate((docs[:half], docs[half:])):
        stem = folder / f"part-{part:03d}"
        if source.layout == "parquet":
            pq.write_table(pa.Table.from_pylist(chunk), f"{stem}.parquet", row_group_size=500)
            continue
        data = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in chunk).encode()
        if source.layout == "jsonl.gz":
            Path(f"{stem}.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
        elif source.layout == "jsonl.zst":
            import zstandard

            Path(f"{stem}.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data))
        else:
            Path(f"{stem}.jsonl").write_bytes(data)


def build_demo_corpus(root: Path, seed: int = 7) -> Path:
    """Write the demo corpus (one folder per source) and return its root."""
    rng = random.Random(seed)
    for source in DEMO_SOURCES:
        docs = _documents(source, rng)
        _write(root / source.name, source, docs)
    # Real corpora are messy: a broken line and a document without text, to be counted.
    with open(root / "forum" / "part-001.jsonl", "ab") as handle:
        handle.write(b'{"id": "forum-broken", "text": "unterminated\n')
        handle.write(b'{"id": "forum-notext", "body": "the text went missing"}\n')
    return root


def main() -> int:
    from assay.local_airflow import airflow_env, dags_test, migrate

    corpus = build_demo_corpus(REPO_ROOT / "demo_corpus")
    output_root = REPO_ROOT / "runs" / "demo"
    env = airflow_env(REPO_ROOT / ".airflow")
    print(f"demo corpus: {corpus}", file=sys.stderr)
    print("preparing Airflow (SQLite) ...", file=sys.stderr)
    migrate(env)
    print("running DAG corpus_audit with Spark local[2] (airflow dags test) ...", file=sys.stderr)
    before = set(output_root.glob("*")) if output_root.exists() else set()
    done = dags_test("corpus_audit", {"corpus": str(corpus), "output_root": str(output_root)}, env)
    new_runs = sorted(
        p for p in set(output_root.glob("*")) - before if (p / "verdicts.json").exists()
    )
    if not new_runs:
        print(done.stdout[-5000:], done.stderr[-5000:], sep="\n", file=sys.stderr)
        print("demo: the DAG run produced no verdicts; see the log above", file=sys.stderr)
        return 1
    return show_run(new_runs[-1])


def show_run(run_dir: Path) -> int:
    """Print a run's verdict table and where its Data Docs are."""
    import pandas as pd

    from assay.report_text import verdict_table

    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    print(verdict_table(pd.DataFrame(verdicts["sources"])))
    print(
        f"\noverall: {verdicts['overall']}   validation: {'passed' if verdicts['validation']['success'] else 'FAILED'}"
    )
    print(f"run folder: {run_dir}")
    docs = sorted(run_dir.glob("gx/**/local_site/index.html"))
    print(f"Data Docs: {docs[0] if docs else '(missing)'}")
    if (run_dir / "report.html").exists():
        print(f"report: {run_dir / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
