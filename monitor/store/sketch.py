"""A mergeable latency sketch: counts per logarithmic bucket, so percentiles of any union of buckets
are within ``ALPHA`` (2 %) of the exact ones (the DDSketch construction).

A value ``v`` with ``|v| >= MIN_VALUE`` falls in bucket ``k = ±(1 + ceil(log_γ(|v| / MIN_VALUE)))``,
γ = (1 + α) / (1 - α); every value of a bucket is within α of the bucket's representative
``2 γ^i / (γ + 1)``. Values nearer to zero than ``MIN_VALUE`` (1 µs, as these are milliseconds)
count as 0. A sketch is stored as a flat JSON list ``[k1, n1, k2, n2, ...]`` sorted by ``k``.

``quantile`` interpolates between the closest ranks as ``percentile_cont`` does, between the
representatives of the two ranks' buckets: each is within α of its exact value, so the result is
within α of the exact percentile (values of one sign; plus at most ``MIN_VALUE`` near zero).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import orjson

try:
    import numpy as _np
except ImportError:  # numpy is optional (the dashboard's extras); merging falls back to plain Python
    _np = None

ALPHA = 0.02
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-3


def bucket(value: float) -> int | None:
    """The bucket of a value (``None`` for NaN and infinities, which no percentile can use)."""
    if not math.isfinite(value):
        return None
    size = abs(value)
    if size < MIN_VALUE:
        return 0
    k = 1 + max(math.ceil(math.log(size / MIN_VALUE) / _LOG_GAMMA), 0)
    return k if value > 0 else -k


def representative(k: int) -> float:
    if k == 0:
        return 0.0
    value = MIN_VALUE * 2 * GAMMA ** (abs(k) - 1) / (GAMMA + 1)
    return value if k > 0 else -value


def add(counts: dict[int, int], value: float | None) -> None:
    """Count one value (``None`` is skipped)."""
    if value is None:
        return
    k = bucket(value)
    if k is not None:
        counts[k] = counts.get(k, 0) + 1


def merge(counts: dict[int, int], stored: str | bytes | None) -> None:
    """Add a stored sketch into ``counts``."""
    if not stored:
        return
    flat = orjson.loads(stored)
    it = iter(flat)
    for k, n in zip(it, it, strict=True):
        counts[k] = counts.get(k, 0) + n


def merge_many(counts: dict[int, int], stored: list[str]) -> None:
    """Add many stored sketches into ``counts`` at once: one JSON parse, and numpy's sums where it is
    installed (the dashboard's extras bring it), ~10× faster than ``merge`` one by one."""
    parts = [s[1:-1] for s in stored if s and len(s) > 2]
    if not parts:
        return
    if _np is None or len(parts) < 8:
        flat = orjson.loads("[" + ",".join(parts) + "]")
        it = iter(flat)
        for k, n in zip(it, it, strict=True):
            counts[k] = counts.get(k, 0) + n
        return
    pairs = _np.fromstring(",".join(parts), dtype=_np.int64, sep=",").reshape(-1, 2)
    keys, where = _np.unique(pairs[:, 0], return_inverse=True)
    sums = _np.bincount(where.ravel(), weights=pairs[:, 1], minlength=len(keys))
    for k, n in zip(keys.tolist(), sums.tolist(), strict=True):
        counts[k] = counts.get(k, 0) + int(n)


def dumps(counts: dict[int, int]) -> str:
    flat: list[int] = []
    for k in sorted(counts):
        flat += (k, counts[k])
    return orjson.dumps(flat).decode()


def quantiles(counts: dict[int, int], qs: Iterable[float]) -> tuple[float | None, ...]:
    """Percentiles (``percentile_cont`` interpolation between ranks) of the counted values."""
    qs = tuple(qs)
    total = sum(counts.values())
    if total == 0:
        return (None,) * len(qs)
    keys = sorted(counts)
    cumulative, seen = [], 0
    for k in keys:
        seen += counts[k]
        cumulative.append(seen)

    def at(rank: int) -> float:  # 0-based rank -> the representative of its bucket
        lo, hi = 0, len(keys) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cumulative[mid] > rank:
                hi = mid
            else:
                lo = mid + 1
        return representative(keys[lo])

    out = []
    for q in qs:
        pos = (total - 1) * q
        lo, hi = math.floor(pos), math.ceil(pos)
        a, b = at(lo), at(hi)
        out.append(a + (b - a) * (pos - lo))
    return tuple(out)
