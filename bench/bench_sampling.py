"""The sampling pass against a bare Spark scan, and Parquet text bytes read against the sample.

In one Spark session (local[N]), on generated web-like documents in several sources:

- sampling_vs_scan: time of the sampling pass (plan, read every shard, per-shard bottom-k, the
  global sample drawn and collected) over a JSONL corpus, divided by the time of a bare Spark
  scan of the same files (`spark.read.text(...).count()`); medians of alternating repeats after
  a warm-up. Goal <= 1.2. `sampling_vs_json_scan` divides by `spark.read.json(schema).count()`.
  python_read_vs_scan: the same shards read by the same Python tasks without parsing, over the
  text scan (the floor of any sampler in Python tasks); sampling_vs_python_read: the pass over
  that floor (what parsing, hashing and drawing the sample add).
- parquet_text_read_fraction: text-column bytes the two-pass Parquet path read (pass 2: pages
  holding sampled rows, offset indexes) over the text column's stored bytes;
  parquet_sample_fraction: sampled documents over all documents. A page is the smallest unit
  of Parquet text that can be read, so the fraction is about sample fraction x docs per page
  (parquet_docs_per_page; the corpus is written with small pages, --page-rows) and the bytes
  read stay flat when the corpus doubles (parquet_text_bytes_2x_corpus_vs_1x ~ 1, where a full
  read would give 2): proportional to the sample, not to the corpus.

Run: .venv/bin/python bench/bench_sampling.py [--docs 200000] [--parquet-docs 200000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

WORDS = (
    "river morning table garden window paper market bridge valley station music coffee winter "
    "letter summer forest engine museum harbor ladder pencil island meadow candle planet rocket "
    "pocket silver blanket castle thunder orange basket violin harvest the of and to in is that"
).split()


def texts_and_ids(
    rng: np.random.Generator, n: int, first: int, source: int
) -> tuple[list[str], list[str]]:
    words = np.array(WORDS)
    lengths = rng.integers(60, 260, size=n)
    flat = words[rng.integers(0, len(words), size=int(lengths.sum()))]
    texts = [" ".join(chunk) for chunk in np.split(flat, np.cumsum(lengths)[:-1])]
    return texts, [f"s{source}-{first + i}" for i in range(n)]


def generate_jsonl(root: Path, docs: int, sources: int, files_per_source: int, seed: int) -> Path:
    """JSONL files, one folder per source."""
    rng = np.random.default_rng(seed)
    per_file, n = docs // (sources * files_per_source), 0
    for s in range(sources):
        (root / f"source{s}").mkdir(parents=True, exist_ok=True)
        for f in range(files_per_source):
            texts, ids = texts_and_ids(rng, per_file, n, s)
            n += per_file
            with open(root / f"source{s}" / f"part-{f}.jsonl", "w") as out:
                for i, t in zip(ids, texts, strict=True):
                    out.write(json.dumps({"id": i, "text": t}) + "\n")
    return root


def generate_parquet(root: Path, docs: int, sources: int, seed: int, page_rows: int) -> Path:
    """Parquet files (snappy, page index, text without dictionary, ~page_rows rows a page)."""
    rng = np.random.default_rng(seed)
    per_source = docs // sources
    for s in range(sources):
        (root / f"source{s}").mkdir(parents=True, exist_ok=True)
        texts, ids = texts_and_ids(rng, per_source, 0, s)
        pq.write_table(
            pa.table({"id": ids, "text": texts}),
            root / f"source{s}" / "part-0.parquet",
            row_group_size=50_000,
            use_dictionary=["id"],
            write_page_index=True,
            write_batch_size=page_rows,
            data_page_size=page_rows * 600,
        )
    return root


def text_column_bytes(root: Path) -> tuple[int, int]:
    """(compressed text-column bytes, data pages) over every Parquet file under root."""
    total = pages = 0
    for path in root.rglob("*.parquet"):
        f = pq.ParquetFile(path)
        col = f.schema_arrow.get_field_index("text")
        for g in range(f.metadata.num_row_groups):
            total += f.metadata.row_group(g).column(col).total_compressed_size
            pages += _pages_in(path, g, col)
    return total, pages


def _pages_in(path: Path, group: int, column: int) -> int:
    from assay.corpus import Shard
    from assay.parquet_pages import ByteSource, page_locations

    stat = path.stat()
    shard = Shard(
        0, str(path), path.name, "parquet", "none", stat.st_size, str(stat.st_mtime_ns), "s"
    )
    source = ByteSource(shard)
    try:
        return len(page_locations(source, pq.ParquetFile(path), group, column))
    finally:
        source.close()


def sampling_pass(spark, corpus: Path, k: int, shard_bytes: int):
    """Plan, read, sample; returns (seconds, sampled rows, settings, plan, report)."""
    from assay.audit import draw_sample, plan_corpus, read_and_sample
    from assay.settings import AuditSettings

    settings = AuditSettings(
        corpus=str(corpus),
        out="/tmp/unused",
        run_id="bench",
        sample_size=k,
        shard_bytes=shard_bytes,
        review_sample_size=0,
    )
    start = time.perf_counter()
    plan = plan_corpus(settings)
    report = read_and_sample(spark, plan, settings)
    sample = (
        draw_sample(report, k)
        .select("source", "rank", "doc_id", "shard", "locator", "text")
        .collect()
    )
    seconds = time.perf_counter() - start
    return seconds, sample, settings, plan, report


def text_scan(spark, corpus: Path) -> float:
    start = time.perf_counter()
    spark.read.option("recursiveFileLookup", "true").text(str(corpus)).count()
    return time.perf_counter() - start


def python_read(spark, corpus: Path, shard_bytes: int) -> float:
    """The same shards and tasks as the sampling pass, each only reading its bytes (no parsing):
    the floor any sampler running in Python tasks stands on."""
    import pyarrow as pa

    from assay.audit import READ_SCHEMA, over_shards, plan_corpus
    from assay.corpus import shard_blocks
    from assay.settings import AuditSettings

    settings = AuditSettings(
        corpus=str(corpus), out="/tmp/unused", run_id="bench", shard_bytes=shard_bytes
    )

    def read_only(shard, _settings):
        for _ in shard_blocks(shard):
            pass
        yield pa.RecordBatch.from_pylist([], schema=READ_SCHEMA)

    start = time.perf_counter()
    over_shards(spark, plan_corpus(settings), settings, read_only, READ_SCHEMA).count()
    return time.perf_counter() - start


def json_scan(spark, corpus: Path) -> float:
    start = time.perf_counter()
    spark.read.option("recursiveFileLookup", "true").schema("id string, text string").json(
        str(corpus)
    ).count()
    return time.perf_counter() - start


def parquet_pass(spark, corpus: Path, k: int) -> tuple[int, int]:
    """Two-pass sampling over a Parquet corpus: (text bytes read in pass 2, documents sampled)."""
    from assay.audit import draw_sample
    from assay.parquet_pages import TextFill

    _, _, settings, plan, report = sampling_pass(spark, corpus, k, 64 << 20)
    fill = TextFill(spark, plan, settings)
    filled = fill(draw_sample(report, k)).collect()
    report.unpersist()
    assert filled and all(isinstance(r["text"], str) for r in filled)
    return fill.bytes_read(), len(filled)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=200_000, help="JSONL corpus documents")
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--files-per-source", type=int, default=4)
    parser.add_argument("--sample-size", type=int, default=1000, help="per source, JSONL pass")
    parser.add_argument("--parquet-docs", type=int, default=200_000)
    parser.add_argument("--parquet-sample-size", type=int, default=50, help="per source")
    parser.add_argument("--page-rows", type=int, default=64, help="rows per Parquet data page")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv)

    from assay.spark import get_spark

    root = Path(tempfile.mkdtemp(prefix="assay-bench-sampling-"))
    try:
        jsonl = generate_jsonl(
            root / "jsonl", args.docs, args.sources, args.files_per_source, args.seed
        )
        corpus_bytes = sum(p.stat().st_size for p in jsonl.rglob("*.jsonl"))
        print(
            f"JSONL corpus: {args.docs} documents, {corpus_bytes / 1e6:.1f} MB, {args.sources} sources",
            file=sys.stderr,
        )
        spark = get_spark("assay-bench-sampling", master=args.master)
        shard_bytes = max(1 << 20, corpus_bytes // (4 * spark.sparkContext.defaultParallelism))

        text_scan(spark, jsonl)  # warm-up: JVM, Python workers, imports
        sampling_pass(spark, jsonl, args.sample_size, shard_bytes)[4].unpersist()
        passes, scans, jscans, floors = [], [], [], []
        for _ in range(args.repeats):
            seconds, sample, _, _, report = sampling_pass(
                spark, jsonl, args.sample_size, shard_bytes
            )
            report.unpersist()
            assert len(sample) == args.sample_size * args.sources
            passes.append(seconds)
            scans.append(text_scan(spark, jsonl))
            jscans.append(json_scan(spark, jsonl))
            floors.append(python_read(spark, jsonl, shard_bytes))
        p, s, j = statistics.median(passes), statistics.median(scans), statistics.median(jscans)
        f = statistics.median(floors)
        print(
            f"sampling pass {p:.2f} s, text scan {s:.2f} s, json scan {j:.2f} s, "
            f"read-only Python tasks {f:.2f} s (medians of {args.repeats})",
            file=sys.stderr,
        )

        one = generate_parquet(
            root / "pq1", args.parquet_docs, args.sources, args.seed, args.page_rows
        )
        two = generate_parquet(
            root / "pq2", 2 * args.parquet_docs, args.sources, args.seed + 1, args.page_rows
        )
        read_one, sampled = parquet_pass(spark, one, args.parquet_sample_size)
        read_two, _ = parquet_pass(spark, two, args.parquet_sample_size)
        total_one, pages_one = text_column_bytes(one)
        print(
            f"parquet: {read_one} of {total_one} text bytes read for {sampled} of {args.parquet_docs} documents "
            f"({pages_one} pages); twice the corpus: {read_two} bytes",
            file=sys.stderr,
        )
        spark.stop()

        print(f"sampling_vs_scan: {p / s:.3f}")
        print(f"sampling_vs_json_scan: {p / j:.3f}")
        print(f"python_read_vs_scan: {f / s:.3f}")
        print(f"sampling_vs_python_read: {p / f:.3f}")
        print(f"parquet_text_read_fraction: {read_one / total_one:.5f}")
        print(f"parquet_sample_fraction: {sampled / args.parquet_docs:.5f}")
        print(f"parquet_docs_per_page: {args.parquet_docs / pages_one:.1f}")
        print(f"parquet_text_bytes_2x_corpus_vs_1x: {read_two / read_one:.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
