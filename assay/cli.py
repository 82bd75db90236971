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
    p.add_argument("--out", required=True, help="output folder for this run (verdicts.json lands here)")
    p.add_argument("--sample-size", type=int, default=4000, help="documents sampled per source (default 4000)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--max-flagged-rate", type=float, default=0.05, help="highest acceptable flagged share per source (default 0.05)")
    p.add_argument("--max-rejected-rate", type=float, default=0.05, help="highest acceptable share of unreadable documents per source (default 0.05)")
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field", default="id")
    p.add_argument("--source-field", default="source", help="document field naming its source; '' to use folders only")
    p.add_argument("--policy", default=None, help="policy YAML (default: the packaged default policy)")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--decision-rule", choices=("interval", "naive"), default="interval")
    p.add_argument("--run-id", default="")
    p.add_argument("--include", action="append", default=[], help="glob of files to read (repeatable)")
    p.add_argument("--exclude", action="append", default=[], help="glob of files to skip (repeatable)")
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
        include=tuple(args.include),
        exclude=tuple(args.exclude),
    )
    print(f"assay: auditing {settings.corpus} (run {settings.run_id})", file=sys.stderr)
    from assay.progress import SparkProgress

    spark = get_spark("assay-audit")
    with SparkProgress(spark):
        result = audit(settings, spark)
    print(verdict_table(result.sources))
    for err in result.shard_errors:
        print(f"UNREADABLE SHARD {err['shard']}: {err['error']}", file=sys.stderr)
    print(f"\noverall: {result.overall}   validation: {'passed' if result.validation_success else 'FAILED'}")
    print(f"verdicts: {result.run_dir / 'verdicts.json'}")
    print(f"Data Docs: {result.docs_index}")
    return result.exit_code


COMMANDS: list[Callable] = [_audit_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from assay.corpus import ShardReadError
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
