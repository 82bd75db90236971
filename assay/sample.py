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

import numpy as np
import pyarrow as pa

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


def sample_keys(seed: int, source: str, doc_ids: pa.Array) -> np.ndarray:
    """sample_key for many documents of one source (int64), hashing the shared prefix once."""
    return _keys(f"{seed}\x1f{source}\x1f", doc_ids)


def review_keys(seed: int, source: str, doc_ids: pa.Array) -> np.ndarray:
    """review_key for many documents of one source (int64)."""
    return _keys(f"{seed}\x1f\x00review\x1f{source}\x1f", doc_ids)


def scan_keys(seed: int, source: str, doc_ids: pa.Array) -> np.ndarray:
    """scan_key for many documents of one source (int64)."""
    return _keys(f"{seed}\x1f\x00scan\x1f{source}\x1f", doc_ids)


def _keys(prefix_text: str, doc_ids: pa.Array) -> np.ndarray:
    """63-bit keys of prefix + id for each id: the prefix is hashed once and copied."""
    prefix = blake2b(prefix_text.encode(), digest_size=8)
    digests = []
    for suffix in doc_ids.cast(pa.binary()).to_pylist():
        h = prefix.copy()
        h.update(suffix)
        digests.append(h.digest())
    keys = np.frombuffer(b"".join(digests), dtype=">u8") >> np.uint64(64 - KEY_BITS)
    return keys.astype(np.int64)


class ColumnBottomK:
    """The k smallest rows seen so far by (key, tie-breakers...), with Arrow payload columns.

    The columnar twin of BottomK for the sampling pass: rows are offered a batch at a time, and
    only rows that can still enter (key at or below the current k-th) are ever copied.
    """

    def __init__(self, k: int):
        self.k = k
        self.keys = np.empty(0, dtype=np.int64)
        self.ties: list[np.ndarray] = []
        self.payload: pa.Table | None = None

    def threshold(self) -> int | None:
        """The k-th smallest key once full: rows with larger keys cannot enter."""
        return int(self.keys[-1]) if len(self.keys) == self.k else None

    def offer(self, keys: np.ndarray, ties: list[np.ndarray], payload: pa.Table) -> None:
        """Offer rows; `ties` break equal keys, in order (e.g. locator), smaller first."""
        if not len(keys) or not self.k:
            return
        limit = self.threshold()
        if limit is not None:
            keep = keys <= limit
            if not keep.any():
                return
            keys, ties = keys[keep], [t[keep] for t in ties]
            payload = payload.filter(pa.array(keep))
        if self.payload is not None:
            keys = np.concatenate([self.keys, keys])
            ties = [np.concatenate([old, new]) for old, new in zip(self.ties, ties, strict=True)]
            payload = pa.concat_tables([self.payload, payload])
        order = np.lexsort([*reversed(ties), keys])[: self.k]
        self.keys, self.ties = keys[order], [t[order] for t in ties]
        self.payload = payload.take(pa.array(order))

    def __len__(self) -> int:
        return len(self.keys)


def in_fraction(key: int, fraction: float) -> bool:
    """Whether a key falls in the seeded fraction (keys are uniform on [0, 2^63))."""
    return fraction >= 1.0 or key < int(fraction * (1 << KEY_BITS))


def in_fraction_mask(keys: np.ndarray, fraction: float) -> np.ndarray:
    """in_fraction for many keys."""
    if fraction >= 1.0:
        return np.ones(len(keys), dtype=bool)
    return keys < int(fraction * (1 << KEY_BITS))
