"""spark-submit entry point for the corpus audit's Spark stage (read, sample, score, summarise).

spark-submit jobs/corpus_audit_job.py --settings-json '{"corpus": ..., "out": ...}'
"""

from __future__ import annotations

import argparse
import logging
import sys

from assay.run import spark_stage
from assay.settings import AuditSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--settings-json", required=True, help="AuditSettings as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stage = spark_stage(AuditSettings.from_json(args.settings_json))
    sampled = sum(s["n_sampled"] for s in stage["sample_stats"])
    read = sum(c["n"] for c in stage["counts"])
    print(
        f"assay spark stage: {len(stage['shards'])} shards, {read} documents read, {sampled} sampled"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
