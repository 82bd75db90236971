"""The seeded sampler: per source, the k documents with the smallest hash(seed, source, id).

Bottom-k by a keyed hash is a uniform sample without replacement, and it is mergeable: the
bottom-k of a union is the bottom-k of the parts' bottom-k's. So every shard keeps its own
bottom-k per source, any number of partitions merge to the same sample, and an incremental
audit can merge kept shard states with new ones.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from hashlib import blake2b

KEY_BITS = 63  # fits a signed 64-bit column


def sample_key(seed: int, source: str, doc_id: str) -> int:
    """A 63-bit key, uniform over documents, reproducible in any process and language."""
    digest = blake2b(f"{seed}\x1f{source}\x1f{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - KEY_BITS)


@dataclass(order=True, frozen=True)
class Candidate:
    """A document in the running for the sample; ordered by key, then by where it was read."""

    key: int
    shard: str
    locator: int
    doc_id: str = field(compare=False)
    text: str = field(compare=False, repr=False)


class _Reversed:
    __slots__ = ("item",)

    def __init__(self, item: Candidate):
        self.item = item

    def __lt__(self, other: _Reversed) -> bool:
        return other.item < self.item


class BottomK:
    """The k smallest candidates seen so far (a bounded max-heap)."""

    def __init__(self, k: int):
        self.k = k
        self._heap: list[_Reversed] = []

    def worst_key(self) -> int | None:
        """The largest key kept once full: any document with a larger key cannot enter."""
        return self._heap[0].item.key if len(self._heap) == self.k else None

    def offer(self, candidate: Candidate) -> None:
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, _Reversed(candidate))
        elif candidate < self._heap[0].item:
            heapq.heapreplace(self._heap, _Reversed(candidate))

    def items(self) -> list[Candidate]:
        return sorted(r.item for r in self._heap)


def bottom_k(candidates: list[Candidate], k: int) -> list[Candidate]:
    """Merge: the k smallest of any collection of candidates."""
    return heapq.nsmallest(k, candidates)


def review_key(seed: int, source: str, doc_id: str) -> int:
    """A key for the corpus-wide review sample, independent of the per-source sample keys."""
    return sample_key(seed, "\x00review", f"{source}\x1f{doc_id}")


def scan_key(seed: int, source: str, doc_id: str) -> int:
    """A key for the automated scan: a document is scanned when its key falls under the fraction."""
    return sample_key(seed, "\x00scan", f"{source}\x1f{doc_id}")


def in_fraction(key: int, fraction: float) -> bool:
    """Whether a key falls in the seeded fraction (keys are uniform on [0, 2^63))."""
    return fraction >= 1.0 or key < int(fraction * (1 << KEY_BITS))
