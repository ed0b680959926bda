"""Uniform negative sampling of item ids, on the model's device and seeded."""

from __future__ import annotations

import torch

__all__ = ["sample_items"]


def sample_items(
    num_items: int,
    shape: tuple[int, ...] | torch.Size,
    *,
    generator: torch.Generator,
    padding_idx: int | None = None,
) -> torch.Tensor:
    """Draw item ids uniformly at random, never returning ``padding_idx``.

    Parameters
    ----------
    num_items : int
        Size of the item id space (padding id included, if any).
    shape : tuple of int
        Shape of the returned tensor.
    generator : torch.Generator
        Source of randomness; the result lies on ``generator.device``, so
        sampling for a CUDA model needs no host-device copy.
    padding_idx : int, optional
        Id never to return. With ``padding_idx=0`` (sequences) ids are uniform
        on ``[1, num_items)``; without it on ``[0, num_items)``.

    Returns
    -------
    torch.Tensor
        int64 tensor of the given shape.

    Raises
    ------
    ValueError
        If no id is left to sample or ``padding_idx`` is out of range.
    """
    if padding_idx is None:
        if num_items < 1:
            raise ValueError(f"num_items must be >= 1 to sample items, got {num_items}")
        return torch.randint(0, num_items, tuple(shape), generator=generator, device=generator.device)
    if not 0 <= padding_idx < num_items:
        raise ValueError(f"padding_idx must lie in [0, num_items={num_items}), got {padding_idx}")
    if num_items < 2:
        raise ValueError(f"num_items must be >= 2 to sample around padding, got {num_items}")
    # Draw from the num_items - 1 real ids and skip over the padding id: uniform, one pass.
    ids = torch.randint(0, num_items - 1, tuple(shape), generator=generator, device=generator.device)
    return ids + (ids >= padding_idx).to(ids.dtype)
