"""Ranking and rating metrics over the full item catalogue.

Every test item is ranked against *all* items, batched on the model's device:
a block of users (or sequences) is scored against the whole catalogue at once,
excluded items are scattered into the block, and ranks come from one sort per
row plus a binary search per test item. There is no per-user Python loop.

Rank definition
---------------
The rank of a test item with score ``s`` in a row of scores is::

    rank = 1 + #(competitors scoring > s) + #(competitors scoring == s) / 2

so ties are *averaged*, as :func:`scipy.stats.rankdata` does (a test item tied
with 3 others on top gets rank 2.5). All metrics are functions of these ranks;
an item counts as "in the top k" when ``rank <= k``.

Two modes decide who the competitors are:

``legacy=None`` (clean, the default)
    * Items in ``train`` (when ``exclude_train``) and in every ``exclude``
      interaction set are removed from the ranking: they compete with no test
      item. A test item that is itself excluded (e.g. also in train) is still
      ranked with its own score; it is removed only as a competitor of the
      user's *other* test items. The user's other test items do compete.
    * Sequences: the padding id 0 is never ranked; ``exclude_preceding``
      removes the items of the input sequence except the target itself.
    * Test items must have finite scores (``-inf`` marks removed items
      internally); no score may be NaN in either mode.

``legacy="spotlight"``
    Reproduces Spotlight's ``mrr_score`` / ``sequence_mrr_score`` exactly:
    excluded items are not removed but pushed to the bottom by giving them the
    lowest float32 (Spotlight sets the negated prediction to ``FLOAT_MAX``).
    They are still ranked, tied with each other, and a test item that is
    excluded itself (a test item in train, a target that occurs earlier in its
    sequence) lands at the bottom too. Sequences rank the padding id 0 like
    any item, and ``exclude_preceding`` also pushes down padding when the
    sequence contains some. Like Spotlight, items are only excluded when
    ``train`` (or ``exclude``) is passed: call with ``train=None`` (or
    ``exclude_train=False``) to reproduce ``mrr_score(model, test)``.

Per-user metrics (a "user" is a query row: a user with test items, or one test
sequence) with ``n`` distinct test items of ranks ``r_i``:

* MRR: ``mean_i 1 / r_i`` -- Spotlight's ``mrr_score`` per-user value.
* precision@k: ``#{r_i <= k} / k``; recall@k: ``#{r_i <= k} / n``;
  hit rate@k: ``1`` if any ``r_i <= k``.
* NDCG@k: ``sum_{r_i <= k} 1 / log2(1 + r_i)`` divided by the ideal
  ``sum_{j=1}^{min(n, k)} 1 / log2(1 + j)`` (binary relevance).

Reported means are plain averages over users with at least one test item
(over test sequences for sequence models). Duplicate test (user, item) pairs
count once.

Modules: :mod:`~bloombench.evaluation.ranks` (the ranking core), :mod:`~bloombench.evaluation.metrics`
(metrics from ranks), :mod:`~bloombench.evaluation.ratings` (RMSE), :mod:`~bloombench.evaluation.results`
(the returned records), :mod:`~bloombench.evaluation.prequential` (test-then-train metrics of a stream, per
window, new vs returning users).
"""

from bloombench.evaluation._checks import LEGACY_MODES
from bloombench.evaluation.metrics import (
    DEFAULT_KS,
    evaluate_ranking,
    evaluate_sequence_ranking,
    metrics_from_ranks,
    mrr_score,
    sequence_mrr_score,
)
from bloombench.evaluation.prequential import PrequentialLog, reciprocal_ranks
from bloombench.evaluation.ranks import PADDING_ID, rank_test_items, sequence_ranks
from bloombench.evaluation.ratings import rmse_score
from bloombench.evaluation.results import PairRanks, PerUserMetrics, RankingMetrics

__all__ = [
    "DEFAULT_KS",
    "LEGACY_MODES",
    "PADDING_ID",
    "PairRanks",
    "PerUserMetrics",
    "PrequentialLog",
    "RankingMetrics",
    "evaluate_ranking",
    "evaluate_sequence_ranking",
    "metrics_from_ranks",
    "mrr_score",
    "rank_test_items",
    "reciprocal_ranks",
    "rmse_score",
    "sequence_mrr_score",
    "sequence_ranks",
]
