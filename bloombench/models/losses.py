"""Loss functions for recommender models (Spotlight's definitions).

The implicit losses (:func:`pointwise_loss`, :func:`bpr_loss`, :func:`hinge_loss`,
:func:`adaptive_hinge_loss`) compare scores of observed (positive) items with
scores of sampled negative items. They all take an optional ``mask`` of the
positives' shape: masked-out entries (e.g. sequence padding) contribute neither
to the sum nor to the count of the mean.

:func:`regression_loss` is the mean squared error used for explicit ratings.

The output losses (:data:`OUTPUT_LOSSES`) train a network whose m outputs encode a set of target
items (:mod:`bloombench.encodings`): each compares ``(n, m)`` outputs with ``(n, m)`` targets row by
row and averages over the rows of an optional ``(n,)`` mask (e.g. rows whose target set is empty).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "IMPLICIT_LOSSES",
    "OUTPUT_LOSSES",
    "adaptive_hinge_loss",
    "bernoulli_cross_entropy",
    "bpr_loss",
    "cosine_loss",
    "get_implicit_loss",
    "get_output_loss",
    "hinge_loss",
    "pointwise_loss",
    "regression_loss",
    "softmax_cross_entropy",
]

ImplicitLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _masked_mean(loss: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``loss`` over entries where ``mask`` is true (all entries without a mask)."""
    if mask is None:
        return loss.mean()
    if mask.shape != loss.shape:
        raise ValueError(f"mask must have the loss's shape {tuple(loss.shape)}, got {tuple(mask.shape)}")
    weights = mask.to(loss.dtype)
    # clamp: a batch with nothing to score gives 0 (no gradient) rather than 0/0 = NaN.
    return (loss * weights).sum() / weights.sum().clamp_min(1.0)


def pointwise_loss(
    positive: torch.Tensor, negative: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Logistic-style pointwise loss ``(1 - sigmoid(pos)) + sigmoid(neg)``, averaged.

    Parameters
    ----------
    positive : torch.Tensor
        Scores of observed items.
    negative : torch.Tensor
        Scores of sampled negatives, same shape as ``positive``.
    mask : torch.Tensor, optional
        Boolean tensor of ``positive``'s shape; false entries are ignored.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    loss = (1.0 - torch.sigmoid(positive)) + torch.sigmoid(negative)
    return _masked_mean(loss, mask)


def bpr_loss(
    positive: torch.Tensor, negative: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Bayesian Personalised Ranking loss ``1 - sigmoid(pos - neg)``, averaged.

    This is Spotlight's form (not ``-log sigmoid``); the ranking it rewards is
    the same. Parameters as :func:`pointwise_loss`.
    """
    loss = 1.0 - torch.sigmoid(positive - negative)
    return _masked_mean(loss, mask)


def hinge_loss(
    positive: torch.Tensor, negative: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Pairwise hinge loss ``max(0, 1 - pos + neg)``, averaged.

    Parameters as :func:`pointwise_loss`.
    """
    loss = torch.clamp(negative - positive + 1.0, min=0.0)
    return _masked_mean(loss, mask)


def adaptive_hinge_loss(
    positive: torch.Tensor, negative: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Hinge loss against the highest-scoring of several negatives (WARP-like).

    Parameters
    ----------
    positive : torch.Tensor
        Scores of observed items, shape ``S``.
    negative : torch.Tensor
        Scores of ``n`` sampled negatives per positive, shape ``(n, *S)``.
    mask : torch.Tensor, optional
        Boolean tensor of shape ``S``.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    if negative.dim() != positive.dim() + 1 or negative.shape[1:] != positive.shape:
        raise ValueError(
            "adaptive_hinge_loss needs negative of shape (n_negatives, *positive.shape); got "
            f"positive {tuple(positive.shape)} and negative {tuple(negative.shape)}"
        )
    hardest = negative.max(dim=0).values
    return hinge_loss(positive, hardest, mask)


def regression_loss(observed: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """Mean squared error between observed and predicted ratings.

    Parameters
    ----------
    observed, predicted : torch.Tensor
        Tensors of the same shape.

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    if observed.shape != predicted.shape:
        raise ValueError(
            f"observed and predicted must have the same shape, got {tuple(observed.shape)} "
            f"and {tuple(predicted.shape)}"
        )
    return ((observed - predicted) ** 2).mean()


IMPLICIT_LOSSES: dict[str, ImplicitLoss] = {
    "pointwise": pointwise_loss,
    "bpr": bpr_loss,
    "hinge": hinge_loss,
    "adaptive_hinge": adaptive_hinge_loss,
}


def get_implicit_loss(name: str) -> ImplicitLoss:
    """Return the implicit loss called ``name`` (one of :data:`IMPLICIT_LOSSES`).

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    """
    try:
        return IMPLICIT_LOSSES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"loss must be one of {sorted(IMPLICIT_LOSSES)}, got {name!r}"
        ) from None


# ----------------------------------------------------------------------------- output losses

OutputLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def _check_output_shapes(outputs: torch.Tensor, target: torch.Tensor) -> None:
    if outputs.dim() != 2 or outputs.shape != target.shape:
        raise ValueError(f"outputs and target must be (n, m) tensors of one shape, got {tuple(outputs.shape)} "
                         f"and {tuple(target.shape)}")


def softmax_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy ``-sum_j t_j log softmax(logits)_j`` of each row against a target distribution.

    The m-way softmax of the paper: ``target`` rows are the normalised k-hot codes of the target
    sets (they sum to 1), so this is the multinomial log-likelihood of the target bits.

    Parameters
    ----------
    logits : torch.Tensor
        ``(n, m)`` raw outputs.
    target : torch.Tensor
        ``(n, m)`` non-negative rows summing to 1.
    mask : torch.Tensor, optional
        ``(n,)`` boolean; false rows are ignored.

    Returns
    -------
    torch.Tensor
        Scalar mean over the (unmasked) rows.
    """
    _check_output_shapes(logits, target)
    return _masked_mean(F.cross_entropy(logits, target, reduction="none"), mask)


def bernoulli_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy of m independent sigmoid outputs, summed over the bits of each row.

    The negative log-likelihood of the target codeword(s) under independent Bernoulli bits
    (error-correcting output codes); ``target`` holds bit probabilities in ``[0, 1]``.
    Arguments and result as :func:`softmax_cross_entropy`.
    """
    _check_output_shapes(logits, target)
    per_row = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
    return _masked_mean(per_row, mask)


def cosine_loss(
    outputs: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``1 - cos(outputs, target)`` per row: fits the direction of a real-valued target code
    (PMI and CCA embeddings, decoded by similarity). Arguments and result as
    :func:`softmax_cross_entropy`.
    """
    _check_output_shapes(outputs, target)
    return _masked_mean(1.0 - F.cosine_similarity(outputs, target, dim=1), mask)


OUTPUT_LOSSES: dict[str, OutputLoss] = {
    "softmax": softmax_cross_entropy,
    "bernoulli": bernoulli_cross_entropy,
    "cosine": cosine_loss,
}


def get_output_loss(name: str) -> OutputLoss:
    """Return the output loss called ``name`` (one of :data:`OUTPUT_LOSSES`).

    Raises
    ------
    ValueError
        If ``name`` is unknown.
    """
    if not isinstance(name, str) or name not in OUTPUT_LOSSES:
        raise ValueError(f"output loss must be one of {sorted(OUTPUT_LOSSES)}, got {name!r}")
    return OUTPUT_LOSSES[name]
