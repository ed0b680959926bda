"""What ideal (uniform, independent) hashing predicts: the quantities the hashed methods' losses depend on.

Torch-free (the report draws these curves over measured points). For a Bloom code of m bits with k hash
functions encoding a set of c items (a user's history, the paper's input and output), the fill and the
false-positive rate of membership decide how much is lost, not m/d alone; for a hashed table of m rows, the
share of ids that share their rows with another id. The layers' collision diagnostics report the measured
values next to these.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

__all__ = ["bloom_false_positive_rate", "bloom_fill", "expected_repeat_share", "expected_signature_collision_share",
           "hashed_collision_share", "signature_collision_probability"]


def bloom_fill(num_hashes: float, set_size: float, num_bits: float) -> float:
    """Expected share of the m bits set by a set of c items under k hashes: ``1 - (1 - 1/m)**(k c)``
    (about ``1 - exp(-k c / m)``)."""
    if num_bits < 1 or num_hashes < 0 or set_size < 0:
        raise ValueError(f"need num_bits >= 1 and num_hashes, set_size >= 0; got m={num_bits}, "
                         f"k={num_hashes}, c={set_size}")
    if num_bits == 1:
        return 1.0 if num_hashes * set_size > 0 else 0.0
    return -math.expm1(num_hashes * set_size * math.log1p(-1.0 / num_bits))


def bloom_false_positive_rate(num_hashes: float, set_size: float, num_bits: float) -> float:
    """Chance that an item outside the set has all its k bits set (the filter says it is in): fill ** k."""
    return bloom_fill(num_hashes, set_size, num_bits) ** num_hashes


def hashed_collision_share(num_ids: int, num_buckets: int) -> float:
    """Expected share of n ids hashed to m rows (one hash) that share their row with another id:
    ``1 - (1 - 1/m)**(n - 1)``."""
    if num_buckets < 1 or num_ids < 0:
        raise ValueError(f"need num_buckets >= 1 and num_ids >= 0, got m={num_buckets}, n={num_ids}")
    if num_ids < 2:
        return 0.0
    if num_buckets == 1:
        return 1.0
    return -math.expm1((num_ids - 1) * math.log1p(-1.0 / num_buckets))


def expected_repeat_share(num_buckets: int, num_hashes: int) -> float:
    """Chance that k uniform independent buckets out of m are not all distinct."""
    distinct = 1.0
    for i in range(num_hashes):
        distinct *= max(0.0, 1.0 - i / num_buckets)
    return 1.0 - distinct


def _partitions(k: int, largest: int | None = None) -> Iterator[list[int]]:
    """Integer partitions of k as non-increasing lists of parts."""
    largest = k if largest is None else largest
    if k == 0:
        yield []
        return
    for part in range(min(k, largest), 0, -1):
        for rest in _partitions(k - part, part):
            yield [part, *rest]


def signature_collision_probability(num_buckets: int, num_hashes: int) -> float:
    """Exact probability that two ids, each with k independent uniform buckets out of m, have the same
    multiset of buckets.

    Multisets are not equally likely (one with repeats has fewer orderings), so this sums over the
    multiplicity patterns (partitions ``lam`` of k): ``count(lam) * (k! / prod lam_i!)**2 / m**(2k)``
    with ``count(lam) = m! / ((m - len(lam))! prod_v r_v!)``, ``r_v`` the number of parts equal to v.
    ``1 / C(m + k - 1, k)`` (uniform multisets) is a lower bound. For k = 2 it is ``(2m - 1) / m**3``.
    """
    m, k = num_buckets, num_hashes
    total = 0.0
    log_k_fact = math.lgamma(k + 1)
    for parts in _partitions(k):
        if len(parts) > m:
            continue
        log_count = math.lgamma(m + 1) - math.lgamma(m - len(parts) + 1)
        log_count -= sum(math.lgamma(parts.count(v) + 1) for v in set(parts))
        log_orderings = log_k_fact - sum(math.lgamma(p + 1) for p in parts)
        total += math.exp(log_count + 2 * log_orderings - 2 * k * math.log(m))
    return total


def expected_signature_collision_share(num_ids: int, num_buckets: int, num_hashes: int) -> float:
    """Expected share of n ids whose signature equals another's: ``1 - (1 - q)**(n - 1)``."""
    q = signature_collision_probability(num_buckets, num_hashes)
    if num_ids < 2 or q == 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    return -math.expm1((num_ids - 1) * math.log1p(-q))
