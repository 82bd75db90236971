"""Throughput of the detectors on ~50 MB of real text, side by side in ONE run.

    .venv/bin/python bench/bench_detectors.py [--mb 50] [--no-spark] [--repeats 1]

Text: the web documents, Wikipedia and Chinese CLUECorpus samples in ../shared/data, one
document per line/record, repeated to reach --mb. Lexicon: 10,000+ real terms assembled at
run time (never committed) from the LDNOOBW lists in ../shared/data, the word lists that
better-profanity and glin-profanity ship, and, to reach 10,000, the rarest words (highest
IDF) of alt-profanity-check's vocabulary.

Variants, each printed as `name: value` lines (MB/s and docs/s per core):
  (a) Spark: the detectors as every audit runs them over a corpus - the automated scan
      (assay.audit.scan_corpus, scan_fraction 1.0) over the texts written as JSON Lines shards,
      local[2]: read, parse, score, per-document attributes back to Spark
      -> spark_*, spark_vs_plain, vs_datatrove_per_core, classifier_spark_vs_direct;
      spark_all: the default policy's detectors with the 10,000-term list;
      spark_default_policy: the shipped default policy itself;
      spark_dataframe_core: the same scanner over a cached DataFrame of the texts
      (score_partitions in mapInArrow, the sample-scoring path)
  (b) plain: the same detectors in this one Python process (one core)
  (c) datatrove's C4BadWordsFilter with the same English list, plus the same PII entities
      written with Python `re` as such pipelines do (needs bench/requirements.txt; skipped
      with a message otherwise)
Also: lexicon engine comparison (ahocorasick_rs vs pyahocorasick) on the same text.
--repeats N (default 5) runs (b), (c), (a) and the classifier pair in N interleaved rounds: each
round times every variant once, one after the other. MB/s figures are medians over the rounds;
each ratio is computed within a round (its two variants ran a minute apart at most) and the
median of the rounds' ratios is printed, so the machine's drift from minute to minute (often
+-30% here) moves both sides of a ratio alike. Each round's ratios are printed too (`*_rounds`).
Each round also times (a) and the Spark classifier over the first half of the texts: the
difference gives `*_marginal` figures (throughput per MB beyond a Spark job's fixed cost,
printed as `*_job_fixed_s`) next to the goal figures, which include that cost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assay.detectors.lexicon import LexiconDetector  # noqa: E402
from assay.policy import default_policy_path, load_policy, read_terms  # noqa: E402

DATA = REPO.parent / "shared" / "data"
TARGET_TERMS = 10_000


# ---- inputs -------------------------------------------------------------------------------


def real_documents(data: Path) -> list[str]:
    """Every document of the English web samples, Wikipedia and the Chinese CLUE sample."""
    docs: list[str] = []
    web = data / "webtext_corpus_samples"
    for path in sorted(web.rglob("*.jsonl")):  # the .json.gz files repeat these
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                text = rec.get("text") or rec.get("content") if isinstance(rec, dict) else None
                if isinstance(text, str) and text.strip():
                    docs.append(text)
    wiki = web / "wikipedia_en_llamafactory" / "wiki_demo.txt"
    if wiki.exists():
        docs += [p for p in wiki.read_text(encoding="utf-8").split("\n") if p.strip()]
    clue = data / "zh_cluecorpussmall_sample" / "CLUECorpusSmall_sampled.txt"
    if clue.exists():
        docs += [p for p in clue.read_text(encoding="utf-8").split("\n") if p.strip()]
    return docs


def repeat_to(docs: list[str], mb: float) -> list[str]:
    """The documents repeated until their UTF-8 size reaches `mb` megabytes."""
    size = sum(len(d.encode()) for d in docs)
    times = max(1, round(mb * 1e6 / size))
    return docs * times


def bench_lexicon(data: Path) -> tuple[list[str], list[str]]:
    """(10,000+ terms, the C4 English list): real terms from the data folder and pip packages."""
    from importlib import resources

    import joblib

    c4_en = read_terms(data / "ldnoobw" / "lists_at_25e679f_c4" / "en")
    terms: dict[str, None] = dict.fromkeys(t for t in c4_en if t)
    for f in sorted((data / "ldnoobw" / "lists").iterdir()):
        terms.update(dict.fromkeys(t for t in read_terms(f) if t))
    bp = Path(str(resources.files("better_profanity").joinpath("profanity_wordlist.txt")))
    terms.update(dict.fromkeys(t for t in read_terms(bp) if t))
    glin = Path(str(resources.files("glin_profanity").joinpath("data/dictionaries")))
    for f in sorted(glin.glob("*.json")):
        if "Whitelist" not in f.name:
            terms.update(dict.fromkeys(t for t in read_terms(f, "json", "words") if t))
    vectorizer = joblib.load(resources.files("profanity_check").joinpath("data/vectorizer.joblib"))
    by_rarity = sorted(vectorizer.vocabulary_.items(), key=lambda kv: -vectorizer.idf_[kv[1]])
    for word, _ in by_rarity:
        if len(terms) >= TARGET_TERMS + 200:
            break
        if word.isalpha() and len(word) >= 4:
            terms.setdefault(word)
    return list(terms), c4_en


def write_bench_policy(
    out: Path, lexicon: list[str], only: tuple[str, ...] | None = None, name: str = "all"
) -> Path:
    """The default policy's detectors with the 10,000-term lexicon, as a file under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_lexicon.txt").write_text("\n".join(lexicon) + "\n", encoding="utf-8")
    detectors = {
        "lexicon": {"name": "lexicon", "type": "lexicon", "sources": [{"path": "bench_lexicon.txt"}]},
        "classifier": {"name": "classifier", "type": "classifier", "builtin": "alt-profanity-check", "threshold": 0.8, "window_chars": 300},
        "pii": {"name": "pii", "type": "pii"},
        "secrets": {"name": "secrets", "type": "secrets"},
    }  # fmt: skip
    chosen = [detectors[d] for d in only] if only else list(detectors.values())
    policy = {
        "name": f"bench-{name}",
        "version": "1",
        "categories": [{"id": "bench", "title": "Bench", "detectors": chosen}],
    }
    path = out / f"bench_policy_{name}.yaml"
    path.write_text(json.dumps(policy, indent=1), encoding="utf-8")  # JSON is YAML
    return path


# ---- timing -------------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeats: int = 1) -> float:
    """Median wall seconds of `fn` over `repeats` runs."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(name: str, seconds: float, n_bytes: int, n_docs: int, cores: int = 1) -> float:
    """Print MB/s and docs/s per core; return MB/s per core."""
    mb_s = n_bytes / 1e6 / seconds / cores
    print(f"{name}_mb_s_per_core: {mb_s:.2f}")
    print(f"{name}_docs_s_per_core: {n_docs / seconds / cores:.0f}")
    return mb_s


def batched(texts: Sequence[str], size: int = 512):
    for i in range(0, len(texts), size):
        yield texts[i : i + size]


# ---- (b) plain Python ---------------------------------------------------------------------


def plain_detectors(texts: list[str], policy_path: Path, n_bytes: int) -> None:
    """Each detector of the policy alone, in this process (one timing each)."""
    scanner = load_policy(policy_path).scanner()
    for det in scanner.detectors:
        if hasattr(det, "scan_batch"):
            seconds = timed(lambda d=det: [d.scan_batch(b) for b in batched(texts)])
        else:
            seconds = timed(lambda d=det: [d.scan(t) for t in texts])
        report(f"plain_{det.name}", seconds, n_bytes, len(texts))


def plain_scanner(texts: list[str], policy_path: Path) -> Callable[[], int]:
    """(b): the policy's scanner over the texts in batches, in this process; returns the flagged."""
    scanner = load_policy(policy_path).scanner()

    def run() -> int:
        return sum(bool(f) for b in batched(texts) for f in scanner.scan_batch(b))

    return run


def compare_engines(texts: list[str], lexicon: list[str], n_bytes: int, rounds: int = 3) -> None:
    """Same terms, same pre-folded text: ahocorasick_rs vs pyahocorasick, matcher alone and full scan.

    The engines run in alternation and the median of `rounds` is kept, so machine noise hits both.
    """
    from assay.normalize import normalize

    folded = [normalize(t).text for t in texts]
    dets = {}
    for engine in ("ahocorasick_rs", "pyahocorasick"):
        det = LexiconDetector("lex", "c", lexicon, engine=engine)
        t0 = time.perf_counter()
        det.setup()
        print(f"lexicon_{engine}_build_s: {time.perf_counter() - t0:.2f}")
        dets[engine] = det
    match_s: dict[str, list[float]] = {e: [] for e in dets}
    scan_s: dict[str, list[float]] = {e: [] for e in dets}
    for _ in range(rounds):
        for engine, det in dets.items():
            match_s[engine].append(timed(lambda d=det: [list(d._matcher(f)) for f in folded]))
            scan_s[engine].append(timed(lambda d=det: [d.scan_batch(b) for b in batched(texts)]))
    for engine in dets:
        report(f"lexicon_{engine}_matcher", statistics.median(match_s[engine]), n_bytes, len(texts))
        report(f"lexicon_{engine}_scan", statistics.median(scan_s[engine]), n_bytes, len(texts))
    ratio = statistics.median(match_s["pyahocorasick"]) / statistics.median(
        match_s["ahocorasick_rs"]
    )
    print(f"lexicon_matcher_rs_vs_py: {ratio:.2f}")


# ---- (c) datatrove baseline ---------------------------------------------------------------

# The PII entities written with Python `re` the way corpus pipelines usually do.
RE_PII = {
    "email": r"[\w.+-]+@[\w-]+\.[\w.-]+",
    "phone": r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{2,4}[ .-]\d{3,4}[ .-]?\d{2,4}",
    "credit_card": r"\b(?:\d[ -]?){12,18}\d\b",
    "iban": r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
    "ipv4": r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b",
    "us_ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "cn_resident_id": r"\b\d{17}[\dXx]\b",
}


def datatrove_filters(
    texts: list[str], data: Path
) -> tuple[Callable[[], None], Callable[[], None]] | None:
    """(C4BadWordsFilter alone, C4BadWordsFilter + the PII set in Python `re`) over the texts.

    The filter uses the English LDNOOBW list @25e679f, as C4 did. None without datatrove.
    """
    try:
        from datatrove.data import Document
        from datatrove.pipeline.filters import c4_filters
        from datatrove.pipeline.filters.c4_filters import C4BadWordsFilter
    except ImportError as exc:
        print(
            f"datatrove_skipped: datatrove not importable ({exc.name}); pip install -r bench/requirements.txt in a bench venv"
        )
        return None
    import re

    lists = data / "ldnoobw"
    # Offline: datatrove downloads the lists at run time; point it at the same revisions here.
    c4_filters.cached_asset_path_or_download = lambda url, *a, **k: str(
        lists
        / (
            "lists_at_25e679f_c4/en"
            if "25e679f" in url
            else "lists/" + url.rstrip("/").rsplit("/", 1)[-1]
        )
    )
    bad_words = C4BadWordsFilter(keep_fraction=0.0, default_language="en")
    pii = [re.compile(p) for p in RE_PII.values()]
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]

    def c4_only() -> None:
        for d in docs:
            bad_words.filter(d)

    def c4_and_pii() -> None:
        for d in docs:
            bad_words.filter(d)
            for p in pii:
                p.findall(d.text)

    c4_only()  # warm-up: the word list is read and compiled on first use
    return c4_only, c4_and_pii


# ---- (a) Spark ----------------------------------------------------------------------------


def spark_dataframe(texts: list[str], policy_path: Path, n_bytes: int, cores: int = 2) -> None:
    """The same scanner over a cached DataFrame of the texts (mapInArrow over score_partitions,
    the sample-scoring path): every text and finding crosses between the JVM and Python."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.sql.pandas.types import from_arrow_schema

    from assay.scoring import score_partitions, scored_schema
    from assay.spark import get_spark

    spark = get_spark("assay-bench", master=f"local[{cores}]")
    path = str(policy_path)
    schema = pa.schema([pa.field("text", pa.string())])
    with tempfile.TemporaryDirectory() as tmp:
        pq.write_table(pa.table({"text": texts}), f"{tmp}/texts.parquet", row_group_size=2048)
        df = spark.read.parquet(f"{tmp}/texts.parquet").repartition(cores * 4).cache()
        df.count()
        out_schema = from_arrow_schema(scored_schema(schema))

        def run() -> None:
            df.mapInArrow(lambda it: score_partitions(it, path), out_schema).write.format(
                "noop"
            ).mode("overwrite").save()

        run()  # warm-up: workers start, scanners are built and cached
        seconds = timed(run)
        df.unpersist()
    name = policy_path.stem.removeprefix("bench_policy_")
    report(f"spark_dataframe_{name}", seconds, n_bytes, len(texts), cores)


def spark_scan(
    texts: list[str], policy_path: Path, work: Path, cores: int = 2, label: str = ""
) -> Callable[[], None]:
    """(a): the detectors as Assay runs them over a corpus: the automated scan (scan_fraction 1.0).

    The texts are written as JSON Lines shards under `work`; Spark tasks read them with the
    columnar reader, score every document with the policy's scanner and hand back per-document
    attributes (findings with masked evidence), as `assay.audit.scan_corpus` does in every audit.
    Returns the timed run, after one warm-up run (workers started, scanners built and cached).
    """
    from assay.audit import plan_corpus, scan_corpus
    from assay.settings import AuditSettings
    from assay.spark import get_spark

    spark = get_spark("assay-bench", master=f"local[{cores}]")
    name = policy_path.stem.removeprefix("bench_policy_") + label
    corpus = work / f"corpus-{name}" / "bench"
    corpus.mkdir(parents=True)
    files = cores * 4
    for f in range(files):
        with open(corpus / f"part-{f}.jsonl", "w", encoding="utf-8") as out:
            for i in range(f, len(texts), files):
                out.write(json.dumps({"id": f"d{i}", "text": texts[i]}) + "\n")
    n_bytes = sum(p.stat().st_size for p in corpus.iterdir())
    settings = AuditSettings(
        corpus=str(corpus.parent),
        out=str(work / f"out-{name}"),
        run_id="bench",
        policy=str(policy_path),
        scan_fraction=1.0,
        review_sample_size=0,
        # Tasks sized like production ones (shard_bytes defaults to 128 MiB): the 50 MB make
        # one read task per core, so Spark's fixed cost per Python task (about 40 ms here)
        # is not multiplied by slicing the text finer than an audit would.
        shard_bytes=max(1 << 20, int(n_bytes * 1.05 / cores)),
    )
    plan = plan_corpus(settings)

    def run() -> None:
        scan_corpus(spark, plan, settings).write.format("noop").mode("overwrite").save()

    run()
    return run


# ---- main ---------------------------------------------------------------------------------


def rounds_of(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Wall seconds of every variant in each of `rounds` rounds (variants in turn per round)."""
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, run in variants.items():
            seconds[name].append(timed(run))
    return seconds


def print_ratio(name: str, numerator: list[float], denominator: list[float]) -> None:
    """The median over rounds of numerator/denominator (MB/s per core), and each round's."""
    ratios = [n / d for n, d in zip(numerator, denominator, strict=True)]
    print(f"{name}: {statistics.median(ratios):.2f}")
    print(f"{name}_rounds: {' '.join(f'{r:.2f}' for r in ratios)}")


def print_marginal(
    name: str, full: list[float], half: list[float], n_bytes: int, half_bytes: int, cores: int = 2
) -> list[float]:
    """Per round: MB/s per core of the bytes the full run reads beyond the half run, and the
    fixed seconds of a run (the full run's time less that many seconds per MB); medians printed.

    Every Spark job pays a fixed cost (planning, scheduling, Python task start: about 0.2-0.4 s
    here) that a 2-second job feels and a terabyte audit does not.
    """
    extra_mb = (n_bytes - half_bytes) / 1e6
    rates = [extra_mb / max(f - h, 1e-9) / cores for f, h in zip(full, half, strict=True)]
    fixed = [f - n_bytes / 1e6 / (r * cores) for f, r in zip(full, rates, strict=True)]
    print(f"{name}_marginal_mb_s_per_core: {statistics.median(rates):.2f}")
    print(f"{name}_job_fixed_s: {statistics.median(fixed):.2f}")
    return rates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--mb", type=float, default=50.0)
    p.add_argument(
        "--engine-mb", type=float, default=10.0, help="text size for the engine comparison"
    )
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    p.add_argument("--no-spark", action="store_true")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (medians kept)")
    args = p.parse_args(argv)
    if not args.data.is_dir():
        print(f"skipped: no data at {args.data}")
        return 0
    docs = real_documents(args.data)
    texts = repeat_to(docs, args.mb)
    n_bytes = sum(len(t.encode()) for t in texts)
    lexicon, c4_en = bench_lexicon(args.data)
    print(f"text_mb: {n_bytes / 1e6:.1f}")
    print(f"documents: {len(texts)}")
    print(f"distinct_documents: {len(docs)}")
    print(f"lexicon_terms: {len(lexicon)}")
    print(f"cpu_cores_visible: {os.cpu_count()}")

    small = repeat_to(docs, args.engine_mb)
    compare_engines(small, lexicon, sum(len(t.encode()) for t in small))

    # (a) and (b) run the lexicon and the PII/secret detectors, as (c) does; the classifier and
    # the whole policy are measured beside them.
    policy_core = write_bench_policy(args.out, lexicon, ("lexicon", "pii", "secrets"), "core")
    policy_clf = write_bench_policy(args.out, lexicon, ("classifier",), "classifier")
    policy_all = write_bench_policy(args.out, lexicon, None, "all")
    plain_detectors(texts, policy_core, n_bytes)
    flagged = plain_scanner(texts, policy_core)()
    print(f"plain_flagged_share: {flagged / len(texts):.4f}")

    variants: dict[str, Callable[[], object]] = {
        "plain_lexicon_pii_secrets": plain_scanner(texts, policy_core),  # (b)
        "plain_classifier_only": plain_scanner(texts, policy_clf),
    }
    half = texts[: len(texts) // 2]
    half_bytes = sum(len(t.encode()) for t in half)
    datatrove = datatrove_filters(texts, args.data)
    if datatrove:
        variants["datatrove_c4_badwords"] = datatrove[0]
        variants["datatrove_c4_badwords_plus_re_pii"] = datatrove[1]  # (c)
    with tempfile.TemporaryDirectory() as work:
        if not args.no_spark:
            variants["spark_core"] = spark_scan(texts, policy_core, Path(work))  # (a)
            variants["spark_classifier"] = spark_scan(texts, policy_clf, Path(work))
            # The same scans over the first half of the texts: the difference is the cost per
            # MB at scale, without the fixed cost every Spark job pays (see print_marginal).
            variants["spark_core_half"] = spark_scan(half, policy_core, Path(work), label="-half")
            variants["spark_classifier_half"] = spark_scan(
                half, policy_clf, Path(work), label="-half"
            )
        seconds = rounds_of(variants, max(1, args.repeats))
        mb_s = {}
        for name, times in seconds.items():
            if name.endswith("_half"):
                continue
            cores = 2 if name.startswith("spark") else 1
            mb_s[name] = [n_bytes / 1e6 / t / cores for t in times]
            report(name, statistics.median(times), n_bytes, len(texts), cores)
        if datatrove:
            print_ratio(
                "plain_vs_datatrove_per_core",
                mb_s["plain_lexicon_pii_secrets"],
                mb_s["datatrove_c4_badwords_plus_re_pii"],
            )
        if args.no_spark:
            print("spark_skipped: --no-spark")
            return 0
        print_ratio("spark_vs_plain", mb_s["spark_core"], mb_s["plain_lexicon_pii_secrets"])
        if datatrove:
            print_ratio(
                "vs_datatrove_per_core",
                mb_s["spark_core"],
                mb_s["datatrove_c4_badwords_plus_re_pii"],
            )
        print_ratio(
            "classifier_spark_vs_direct", mb_s["spark_classifier"], mb_s["plain_classifier_only"]
        )
        marginal = {
            name: print_marginal(name, seconds[name], seconds[f"{name}_half"], n_bytes, half_bytes)
            for name in ("spark_core", "spark_classifier")
        }
        print_ratio(
            "spark_vs_plain_marginal", marginal["spark_core"], mb_s["plain_lexicon_pii_secrets"]
        )
        if datatrove:
            print_ratio(
                "vs_datatrove_per_core_marginal",
                marginal["spark_core"],
                mb_s["datatrove_c4_badwords_plus_re_pii"],
            )
        print_ratio(
            "classifier_spark_vs_direct_marginal",
            marginal["spark_classifier"],
            mb_s["plain_classifier_only"],
        )
        # The default policy's detectors with the 10,000-term list, the shipped default policy
        # itself (its own 1,092-term list, classifier, PII, secrets), and the DataFrame
        # (sample-scoring) path: once each.
        report(
            "spark_all", timed(spark_scan(texts, policy_all, Path(work))), n_bytes, len(texts), 2
        )
        default = spark_scan(texts, default_policy_path(), Path(work))
        report("spark_default_policy", timed(default), n_bytes, len(texts), 2)
    spark_dataframe(texts, policy_core, n_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
