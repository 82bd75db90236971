"""The `assay` console: run audits without Airflow, with the same code the DAGs submit."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _audit_parser(sub) -> None:
    p = sub.add_parser("audit", help="audit a corpus: sample per source, score, decide, validate")
    p.add_argument("corpus", help="corpus folder, file or s3:// URI")
    p.add_argument(
        "--out", required=True, help="output folder for this run (verdicts.json lands here)"
    )
    p.add_argument(
        "--sample-size", type=int, default=4000, help="documents sampled per source (default 4000)"
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--max-flagged-rate",
        type=float,
        default=0.05,
        help="highest acceptable flagged share per source (default 0.05)",
    )
    p.add_argument(
        "--max-rejected-rate",
        type=float,
        default=0.05,
        help="highest acceptable share of unreadable documents per source (default 0.05)",
    )
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id")
    p.add_argument(
        "--source-field",
        default="source",
        help="document field naming its source; '' to use folders only",
    )
    p.add_argument(
        "--policy", default=None, help="policy YAML (default: the packaged default policy)"
    )
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument(
        "--decision-rule",
        choices=("interval", "naive"),
        default="interval",
        help="interval: decide only when the confidence interval clears the threshold; naive: sample rate alone",
    )
    p.add_argument(
        "--sampling-plan",
        choices=("fixed", "sequential"),
        default="fixed",
        help="fixed: score the whole sample; sequential: score in batches and stop each source once its SPRT decides",
    )
    p.add_argument(
        "--scan-fraction",
        type=float,
        default=0.0,
        help="also scan this seeded fraction of the whole corpus with every detector (TC260: >= 0.1; 1 = all) and write per-document attributes",
    )
    p.add_argument(
        "--review-sample-size",
        type=int,
        default=4000,
        help="documents in the corpus-wide review queue for people to label (0 = none)",
    )
    p.add_argument(
        "--incremental",
        action="store_true",
        help="reuse the sample state of unchanged shards from the last incremental run of this corpus",
    )
    p.add_argument(
        "--source-layout",
        choices=("folder", "first_segment"),
        default="folder",
        help="where documents carry no source field: the file's folder, or the first path segment ('source=<name>/' always names it)",
    )
    p.add_argument("--run-id", default="")
    p.add_argument(
        "--include", action="append", default=[], help="glob of files to read (repeatable)"
    )
    p.add_argument(
        "--exclude", action="append", default=[], help="glob of files to skip (repeatable)"
    )
    p.set_defaults(handler=_run_audit)


def _run_audit(args: argparse.Namespace) -> int:
    from assay.report_text import verdict_table
    from assay.run import audit
    from assay.settings import AuditSettings
    from assay.spark import get_spark

    settings = AuditSettings(
        corpus=args.corpus,
        out=args.out,
        run_id=args.run_id,
        sample_size=args.sample_size,
        seed=args.seed,
        max_flagged_rate=args.max_flagged_rate,
        max_rejected_rate=args.max_rejected_rate,
        text_field=args.text_field,
        id_field=args.id_field,
        source_field=args.source_field,
        policy=args.policy,
        confidence=args.confidence,
        decision_rule=args.decision_rule,
        sampling_plan=args.sampling_plan,
        scan_fraction=args.scan_fraction,
        review_sample_size=args.review_sample_size,
        incremental=args.incremental,
        source_layout=args.source_layout,
        include=tuple(args.include),
        exclude=tuple(args.exclude),
    )
    print(f"assay: auditing {settings.corpus} (run {settings.run_id})", file=sys.stderr)
    _preflight(settings)
    from assay.progress import SparkProgress

    spark = get_spark("assay-audit")
    with SparkProgress(spark):
        result = audit(settings, spark)
    print(verdict_table(result.sources))
    for err in result.shard_errors:
        print(f"UNREADABLE SHARD {err['shard']}: {err['error']}", file=sys.stderr)
    if result.sources.empty:
        print(
            f"assay: error: {settings.corpus}: no documents were read (the files are empty); check the corpus",
            file=sys.stderr,
        )
    print(
        f"\noverall: {result.overall}   validation: {'passed' if result.validation_success else 'FAILED'}"
    )
    if result.published and result.published != str(result.run_dir):
        print(f"published: {result.published}")
    print(f"verdicts: {result.run_dir / 'verdicts.json'}")
    print(f"Data Docs: {result.docs_index}")
    if (result.run_dir / "report.html").exists():
        print(f"report: {result.run_dir / 'report.html'}")
    return result.exit_code


def _preflight(settings) -> None:
    """Input problems found before Spark starts: the policy, the corpus path, readable files."""
    from assay.audit import plan_corpus
    from assay.policy import load_policy
    from assay.storage import StorageError

    load_policy(settings.policy)
    if settings.corpus.startswith("s3://"):
        return  # listed by the Spark stage, with the run's S3 connection
    plan = plan_corpus(settings)
    for f in plan.ignored[:20]:
        print(
            f"assay: note: not reading {f.relpath} ({f.reason}); listed in manifest.json",
            file=sys.stderr,
        )
    if len(plan.ignored) > 20:
        print(f"assay: note: ... and {len(plan.ignored) - 20} more files not read", file=sys.stderr)
    if not plan.shards:
        raise StorageError(
            f"corpus {settings.corpus} holds no file Assay can read ({len(plan.ignored)} other files); "
            "use .jsonl/.json/.ndjson/.txt (optionally .gz/.zst) or .parquet files, or check --include/--exclude"
        )


def _review_parser(sub) -> None:
    p = sub.add_parser(
        "review", help="import people's labels for a run's review queue and decide the >= 96% rule"
    )
    p.add_argument("action", choices=["import"])
    p.add_argument("run_dir", help="the audit's run folder (holds review/review_queue.jsonl)")
    p.add_argument("labels", help="the filled review queue (CSV or JSONL with review_id and label)")
    p.add_argument("--min-acceptable", type=float, default=0.96)
    p.add_argument("--confidence", type=float, default=0.95)
    p.set_defaults(handler=_run_review)


def _run_review(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from assay.corpus_rules import import_review
    from assay.settings import AuditSettings

    run_dir = Path(args.run_dir)
    verdicts = json.loads((run_dir / "verdicts.json").read_text())
    settings = AuditSettings(
        corpus=verdicts["corpus"],
        out=str(run_dir),
        run_id=verdicts["run_id"],
        min_review_acceptable=args.min_acceptable,
        confidence=args.confidence,
    )
    result = import_review(run_dir, Path(args.labels), settings)
    rule = result["rule"]
    print(
        f"manual review: {rule['n_acceptable']}/{rule['n']} acceptable "
        f"({rule['acceptable_rate']:.2%}, interval [{rule['low']:.2%}, {rule['high']:.2%}]) "
        f"threshold {rule['threshold']:.0%}: {rule['verdict']}"
    )
    print(f"written: {run_dir / 'review' / 'review_verdict.json'}")
    return EXIT_PASS if rule["verdict"] == "pass" else EXIT_FAIL


def _answers_parser(sub) -> None:
    from assay.answers import cli as answers_cli

    answers_cli.add_parser(sub)


COMMANDS: list[Callable] = [_audit_parser, _review_parser, _answers_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from assay.corpus import ShardReadError
    from assay.publish import RunBusyError
    from assay.settings import SettingsError
    from assay.storage import StorageError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("assay").setLevel(logging.INFO)
    args = build_parser().parse_args(argv)
    input_errors: tuple[type[BaseException], ...] = (
        SettingsError,
        StorageError,
        ShardReadError,
        FileNotFoundError,
        RunBusyError,
    )
    try:
        from assay.policy import PolicyError

        input_errors += (PolicyError,)
    except ImportError:
        pass
    try:
        return args.handler(args)
    except input_errors as exc:
        print(f"assay: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
