"""The ranking core: every test item ranked against the whole catalogue, a block of rows at a time.

See :mod:`bloombench.evaluation` for the rank definition and the clean / Spotlight (``legacy``) modes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from bloombench.evaluation._checks import (
    check_batch_size,
    check_legacy,
    id_space,
    model_device,
    read_pairs,
    require_method,
)
from bloombench.evaluation.results import PairRanks

__all__ = ["PADDING_ID", "rank_test_items", "sequence_ranks"]

# Spotlight's push-to-bottom value, in score space (it negates predictions).
_FLOAT32_LOWEST = -float(np.finfo(np.float32).max)
PADDING_ID = 0  # padding id of SequenceInteractions


def _exclusion_sets(
    train: Any, exclude: Any, exclude_train: bool
) -> list[tuple[str, Any]]:
    sets: list[tuple[str, Any]] = []
    if train is not None and exclude_train:
        sets.append(("train", train))
    if exclude is not None:
        extra = [exclude] if hasattr(exclude, "user_ids") else list(exclude)
        sets.extend((f"exclude[{i}]", inter) for i, inter in enumerate(extra))
    return sets


def _exclusion_csr(sets: list[tuple[str, Any]], num_users: int, num_items: int) -> sp.csr_matrix | None:
    """All excluded (user, item) pairs as one boolean-like CSR matrix (None if none)."""
    if not sets:
        return None
    users, items = [], []
    for name, inter in sets:
        u, i = read_pairs(inter, name)
        other_items = id_space(inter, "num_items", i)
        if other_items != num_items:
            raise ValueError(f"{name}.num_items={other_items} does not match test.num_items={num_items}")
        users.append(u)
        items.append(i)
    u, i = np.concatenate(users), np.concatenate(items)
    n_users = max(num_users, int(u.max()) + 1 if u.size else 0)
    return sp.csr_matrix((np.ones(len(u), dtype=np.int8), (u, i)), shape=(n_users, num_items))


def _sort_rows(scores: torch.Tensor) -> torch.Tensor:
    """Ascending sort of every row; numpy's SIMD sort is several times faster on CPU."""
    if scores.device.type == "cpu":
        return torch.from_numpy(np.sort(scores.numpy(), axis=1))
    return torch.sort(scores, dim=1).values


def _rank_block(
    scores: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    slots: torch.Tensor,
    row_counts: np.ndarray,
    excluded_rows: torch.Tensor | None,
    excluded_cols: torch.Tensor | None,
    legacy: bool,
) -> np.ndarray:
    """Ranks of the test cells ``(rows, cols)`` of a score block.

    ``slots[p]`` is the position of pair ``p`` among its row's test items and
    ``row_counts`` (non-increasing) the number of test items per row, so the
    rows holding a slot ``j`` are a prefix of the block. ``scores`` is
    modified in place.
    """
    if legacy:
        if excluded_rows is not None:
            scores[excluded_rows, excluded_cols] = _FLOAT32_LOWEST
        own = scores[rows, cols]  # after exclusion: an excluded test item sinks too
        not_self = torch.ones_like(rows)
    else:
        own = scores[rows, cols]  # before exclusion: the test item keeps its own score
        if not torch.isfinite(own).all():
            raise ValueError("model returned a non-finite score for a test item; clean evaluation needs finite ones")
        # -inf removes a competitor: it is neither above nor tied with a finite score
        # (a competitor the model itself scores -inf is thus correctly never above).
        if excluded_rows is not None:
            scores[excluded_rows, excluded_cols] = float("-inf")
        # 1 where the test item is still in its row (then it is one of the ties).
        not_self = (scores[rows, cols] == own).long()

    ascending = _sort_rows(scores)
    # Sorting puts NaN last; a NaN competitor would silently count as below everything.
    if torch.isnan(ascending[:, -1]).any():
        raise ValueError("model returned NaN scores")
    n_items = scores.shape[1]
    greater = torch.empty_like(rows)
    equal = torch.empty_like(rows)
    # searchsorted needs a dense (rows, values) matrix: fill it in slot ranges of
    # doubling width; rows are ordered by decreasing count so each range uses a
    # prefix of the block and padding stays below the number of pairs.
    start = 0
    max_slots = int(row_counts[0]) if len(row_counts) else 0
    while start < max_slots:
        stop = min(max(2 * start, 1), max_slots)
        n_rows = int(np.count_nonzero(row_counts > start))
        sel = torch.nonzero((slots >= start) & (slots < stop)).squeeze(1)
        values = torch.zeros(n_rows, stop - start, dtype=scores.dtype, device=scores.device)
        values[rows[sel], slots[sel] - start] = own[sel]
        seq = ascending[:n_rows]
        below = torch.searchsorted(seq, values)  # # scores < s
        at_most = torch.searchsorted(seq, values, right=True)  # # scores <= s
        greater[sel] = n_items - at_most[rows[sel], slots[sel] - start]
        equal[sel] = (at_most - below)[rows[sel], slots[sel] - start]
        start = stop
    ties = (equal - not_self).cpu().numpy()
    return 1.0 + greater.cpu().numpy() + 0.5 * ties


def rank_test_items(
    model: Any,
    test: Any,
    train: Any = None,
    *,
    exclude: Any = None,
    exclude_train: bool = True,
    legacy: str | None = None,
    batch_size: int | None = None,
) -> PairRanks:
    """Rank every distinct test (user, item) pair among all items.

    Parameters
    ----------
    model : object
        Has ``predict_scores(user_ids: LongTensor) -> (n, num_items)`` scores
        and optionally ``device`` (default CPU).
    test : Interactions
        Test pairs (``user_ids``, ``item_ids``, ``num_items``); duplicates count once.
    train : Interactions, optional
        Training pairs, excluded when ``exclude_train`` is true.
    exclude : Interactions or sequence of Interactions, optional
        Further pairs to exclude (e.g. validation), regardless of ``exclude_train``.
    exclude_train : bool
        Exclude ``train`` (default). ``False`` ranks train items like any other.
    legacy : {None, "spotlight"}
        Clean semantics or Spotlight's; see :mod:`bloombench.evaluation`.
    batch_size : int, optional
        Users per scored block; default ``2**25 // num_items``.

    Returns
    -------
    PairRanks

    Raises
    ------
    TypeError
        If ``model`` has no ``predict_scores``.
    ValueError
        On empty ``test``, mismatching item spaces, a bad ``legacy``/``batch_size``,
        a score block of the wrong shape, or NaN (clean mode: non-finite) scores.
    """
    is_legacy = check_legacy(legacy)
    require_method(model, "predict_scores")
    users, items = read_pairs(test, "test")
    if users.size == 0:
        raise ValueError("test has no interactions to rank")
    num_items = id_space(test, "num_items", items)
    num_users = id_space(test, "num_users", users)
    block = check_batch_size(batch_size, num_items)
    excluded = _exclusion_csr(_exclusion_sets(train, exclude, exclude_train), num_users, num_items)

    keys = np.unique(users * num_items + items)  # dedupe; sorted by user, then item
    pair_users, pair_items = keys // num_items, keys % num_items
    row_users, first, counts = np.unique(pair_users, return_index=True, return_counts=True)
    # Heaviest users first (see _rank_block); ``perm`` lists pairs in that order.
    order = np.argsort(-counts, kind="stable")
    ordered_counts = counts[order]
    offsets = np.concatenate(([0], np.cumsum(ordered_counts)))
    pair_row = np.repeat(np.arange(len(order)), ordered_counts)
    slot = np.arange(len(keys)) - offsets[pair_row]
    perm = first[order][pair_row] + slot

    device = model_device(model)
    ranks = np.empty(len(keys), dtype=np.float64)
    with torch.no_grad():
        for lo in range(0, len(order), block):
            hi = min(lo + block, len(order))
            block_users = row_users[order[lo:hi]]
            scores = model.predict_scores(torch.as_tensor(block_users, device=device)).detach()
            if scores.shape != (hi - lo, num_items):
                raise ValueError(
                    f"model.predict_scores returned shape {tuple(scores.shape)}, expected "
                    f"({hi - lo}, test.num_items={num_items})"
                )
            if scores.dtype in (torch.float16, torch.bfloat16):
                scores = scores.float()  # exact, and float32 holds the legacy sentinel
            on = scores.device
            p_lo, p_hi = offsets[lo], offsets[hi]
            ex_rows = ex_cols = None
            if excluded is not None:
                sub = excluded[block_users]
                ex_rows = torch.as_tensor(np.repeat(np.arange(hi - lo), np.diff(sub.indptr)), device=on)
                ex_cols = torch.as_tensor(sub.indices.astype(np.int64), device=on)
            ranks[perm[p_lo:p_hi]] = _rank_block(
                scores,
                torch.as_tensor(pair_row[p_lo:p_hi] - lo, device=on),
                torch.as_tensor(pair_items[perm[p_lo:p_hi]], device=on),
                torch.as_tensor(slot[p_lo:p_hi], device=on),
                ordered_counts[lo:hi],
                ex_rows,
                ex_cols,
                is_legacy,
            )
    return PairRanks(user_ids=pair_users, item_ids=pair_items, ranks=ranks)


def sequence_ranks(
    model: Any,
    test: Any,
    *,
    exclude_preceding: bool = False,
    legacy: str | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Rank the last item of every test sequence given the items before it.

    Parameters
    ----------
    model : object
        Has ``predict_sequence_scores(sequences: LongTensor (n, L-1)) -> (n, num_items)``
        and optionally ``device``.
    test : SequenceInteractions
        ``sequences`` ``(n_seq, L)`` with ``L >= 2``, left-padded with id 0, and
        ``num_items`` (including the padding id).
    exclude_preceding : bool
        Exclude the items of the input part of each sequence (Spotlight's option).
    legacy : {None, "spotlight"}
        Clean semantics (padding never ranked) or Spotlight's; see :mod:`bloombench.evaluation`.
    batch_size : int, optional
        Sequences per scored block; default ``2**25 // num_items``.

    Returns
    -------
    np.ndarray
        float64 ``(n_seq,)`` ranks, ties averaged.

    Raises
    ------
    TypeError
        If ``model`` has no ``predict_sequence_scores``.
    ValueError
        On empty ``test``, sequences shorter than 2, a padding target in clean
        mode, a bad ``legacy``/``batch_size``, wrongly shaped or NaN scores.
    """
    is_legacy = check_legacy(legacy)
    require_method(model, "predict_sequence_scores")
    sequences = np.asarray(test.sequences, dtype=np.int64)
    if sequences.ndim != 2 or sequences.shape[1] < 2:
        raise ValueError(f"test.sequences must have shape (n, L) with L >= 2, got {sequences.shape}")
    if len(sequences) == 0:
        raise ValueError("test has no sequences to rank")
    num_items = int(test.num_items)
    targets = sequences[:, -1]
    if not is_legacy and np.any(targets == PADDING_ID):
        bad = int(np.flatnonzero(targets == PADDING_ID)[0])
        raise ValueError(
            f"test.sequences[{bad}] ends with the padding id {PADDING_ID}; clean evaluation needs a real "
            "target item in the last column (legacy='spotlight' ranks it anyway)"
        )
    block = check_batch_size(batch_size, num_items)
    device = model_device(model)
    ranks = np.empty(len(sequences), dtype=np.float64)
    with torch.no_grad():
        for lo in range(0, len(sequences), block):
            hi = min(lo + block, len(sequences))
            prefix = torch.as_tensor(sequences[lo:hi, :-1], device=device)
            scores = model.predict_sequence_scores(prefix).detach()
            if scores.shape != (hi - lo, num_items):
                raise ValueError(
                    f"model.predict_sequence_scores returned shape {tuple(scores.shape)}, expected "
                    f"({hi - lo}, test.num_items={num_items})"
                )
            if scores.dtype in (torch.float16, torch.bfloat16):
                scores = scores.float()
            on = scores.device
            n = hi - lo
            ex_rows, ex_cols = [], []
            if exclude_preceding:
                width = prefix.shape[1]
                ex_rows.append(torch.arange(n, device=on).repeat_interleave(width))
                ex_cols.append(prefix.to(on).reshape(-1))
            if not is_legacy:  # the padding id is not an item
                ex_rows.append(torch.arange(n, device=on))
                ex_cols.append(torch.full((n,), PADDING_ID, dtype=torch.long, device=on))
            ranks[lo:hi] = _rank_block(
                scores,
                torch.arange(n, device=on),
                torch.as_tensor(targets[lo:hi], device=on),
                torch.zeros(n, dtype=torch.long, device=on),
                np.ones(n, dtype=np.int64),
                torch.cat(ex_rows) if ex_rows else None,
                torch.cat(ex_cols) if ex_cols else None,
                is_legacy,
            )
    return ranks
