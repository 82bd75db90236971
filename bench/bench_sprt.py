"""SPRT vs the fixed 4000-document plan: documents scored, time, and verdicts on one corpus.

Generates sources with a known planted rate of problematic documents (an e-mail address and a
marker word) near 1% and near 10%, orders each source by the sampler's seeded hash key, and
scores them with the policy's scanner when `assay.policy` exists (else a fixed word check).
The fixed plan scores ranks 1..4000 of every source; the SPRT scores in rounds of the plan's
batch size, only the sources still undecided, exactly as the Spark driver does.

Run: .venv/bin/python bench/bench_sprt.py [--seed N] [--sources-per-rate N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from assay.decision import decide_at_most
from assay.sample import sample_key
from assay.sequential import CONTINUE, VERDICT, next_n, plan_for, sprt_state
from assay.statistics import proportion

WORDS = (
    "river morning table garden window paper market bridge valley station music coffee "
    "winter letter summer forest engine museum harbor ladder pencil island meadow candle "
    "planet rocket pocket silver blanket castle thunder orange basket violin harvest"
).split()
MARKER = "zzplantedmarker"
THRESHOLD = 0.05


def make_source(name: str, rate: float, size: int, rng: np.random.Generator) -> list[tuple]:
    """(doc_id, text) pairs; about `rate` of them carry a planted problem."""
    docs = []
    for i in range(size):
        words = rng.choice(WORDS, size=int(rng.integers(30, 90)))
        text = " ".join(words)
        if rng.random() < rate:
            text += f" write to {MARKER}.user{i}@example.com about the {MARKER} order"
        docs.append((f"{name}-{i:06d}", text))
    return docs


def load_scorer():
    """The policy scanner's batch scan if available, else a fixed word check."""
    try:
        from assay.policy import load_policy

        scan_batch = load_policy(None).scanner().scan_batch
        return "policy_scanner", lambda texts: [bool(found) for found in scan_batch(texts)]
    except ImportError:
        return "word_check", lambda texts: [MARKER in t for t in texts]


def fixed_plan(ordered: dict[str, list[str]], score, max_n: int) -> tuple[dict, int, float]:
    """Score ranks 1..max_n of every source at once and decide on all of them."""
    start = time.perf_counter()
    decisions, scored = {}, 0
    for source, texts in ordered.items():
        flags = score(texts[:max_n])
        scored += len(flags)
        decisions[source] = decide_at_most(proportion(sum(flags), len(flags)), THRESHOLD)
    return decisions, scored, time.perf_counter() - start


def sequential_plan(ordered: dict[str, list[str]], score, plan) -> tuple[dict, int, float, int]:
    """Score in rounds: ranks n+1..next_n(n) of every source still at "continue"."""
    start = time.perf_counter()
    k = dict.fromkeys(ordered, 0)
    n = dict.fromkeys(ordered, 0)
    decisions: dict[str, str] = {}
    rounds = 0
    while len(decisions) < len(ordered):
        rounds += 1
        for source, texts in ordered.items():
            if source in decisions:
                continue
            upto = min(next_n(n[source], plan), len(texts))
            k[source] += sum(score(texts[n[source] : upto]))
            n[source] = upto
            state = sprt_state(k[source], upto, plan, exhausted=upto >= len(texts))
            if state != CONTINUE:
                decisions[source] = VERDICT[state]
    return decisions, sum(n.values()), time.perf_counter() - start, rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20250601)
    parser.add_argument("--sources-per-rate", type=int, default=4)
    parser.add_argument("--source-size", type=int, default=6000)
    args = parser.parse_args(argv)

    plan = plan_for(THRESHOLD)
    scorer_name, score = load_scorer()
    print(f"scorer: {scorer_name}")
    print(f"plan: {plan.to_dict()}")
    rng = np.random.default_rng(args.seed)
    all_identical = True
    for label, centre in (("1pct", 0.01), ("10pct", 0.10)):
        ordered = {}
        for j in range(args.sources_per_rate):
            name = f"src{label}{j}"
            rate = centre * (0.8 + 0.4 * j / max(1, args.sources_per_rate - 1))
            docs = make_source(name, rate, args.source_size, rng)
            docs.sort(key=lambda d, s=name: sample_key(args.seed, s, d[0]))
            ordered[name] = [text for _, text in docs]
        fixed, fixed_n, fixed_s = fixed_plan(ordered, score, plan.max_n)
        seq, seq_n, seq_s, rounds = sequential_plan(ordered, score, plan)
        identical = fixed == seq
        all_identical &= identical
        print(f"fixed_decisions_at_{label}: {sorted(fixed.items())}")
        print(f"sprt_decisions_at_{label}: {sorted(seq.items())}")
        print(f"fixed_samples_at_{label}: {fixed_n}")
        print(f"sprt_samples_at_{label}: {seq_n}")
        print(f"sprt_rounds_at_{label}: {rounds}")
        print(f"fixed_seconds_at_{label}: {fixed_s:.3f}")
        print(f"sprt_seconds_at_{label}: {seq_s:.3f}")
        print(f"sprt_time_saving_at_{label}: {1 - seq_s / fixed_s:.3f}")
        print(f"sprt_saving_at_{label}: {1 - seq_n / fixed_n:.3f}")
        print(f"decisions_identical_at_{label}: {str(identical).lower()}")
    return 0 if all_identical else 1


if __name__ == "__main__":
    sys.exit(main())
