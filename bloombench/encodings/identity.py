"""The uncompressed baseline: one-hot input and output, m = d (bit i is item i)."""

from __future__ import annotations

import torch

from bloombench.encodings.codes import KHotEncoding

__all__ = ["IdentityEncoding"]


class IdentityEncoding(KHotEncoding):
    """Item ``i`` is bit ``i`` of ``m = num_items`` bits: the network's input is the multi-hot history
    and its output an ``num_items``-way softmax whose log-probabilities are the item scores.

    Parameters
    ----------
    num_items : int
        d.
    num_bits : int, optional
        Must be ``num_items`` when given (the baseline has no other width).
    """

    name = "identity"

    def __init__(self, num_items: int, num_bits: int | None = None) -> None:
        if num_bits is not None and num_bits != num_items:
            raise ValueError(f"the identity encoding has num_bits = num_items = {num_items}, got num_bits={num_bits!r}")
        super().__init__(num_items, num_items, 1)

    def bits(self, items: torch.Tensor) -> torch.Tensor:
        return items.unsqueeze(1)

    def _method_repr(self) -> list[str]:
        return ["one-hot"]
