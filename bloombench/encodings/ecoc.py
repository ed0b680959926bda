"""Error-correcting output codes (Dietterich & Bakiri 1995) at the same m: random binary codewords.

Choices (the paper's exact variant is not known here):

* Codewords: each item gets m seeded random bits, each 1 with probability ``density`` (0.5, the
  classic dense ECOC, maximises the expected Hamming distance between codewords); duplicate codewords
  are redrawn, so every item is decodable.
* Output: m independent Bernoulli bits (sigmoid outputs), trained with the binary cross-entropy
  against the target set's mean codeword (for one item, its codeword).
* Decoding by likelihood: ``score(i) = sum_j c_ij log s(o_j) + (1 - c_ij) log s(-o_j)``, which equals
  ``o . c_i + sum_j log s(-o_j)`` (one matmul, batched on the device).
* Input: the sum of the history's codewords in the centred ``±1`` form (``2c - 1``), so that items
  are not all pushed the same way by their 1 bits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from bloombench.checks import check_fraction, check_int
from bloombench.encodings.base import Bags
from bloombench.encodings.codes import DenseCodeEncoding
from bloombench.hashing import MAX_SEED

__all__ = ["ECOCEncoding"]

_MAX_REDRAWS = 100


def random_codewords(num_items: int, num_bits: int, density: float, seed: int) -> np.ndarray:
    """``(num_items, num_bits)`` bool matrix of distinct seeded random codewords (bits 1 w.p. ``density``)."""
    rng = np.random.default_rng([seed, 0xEC0C])
    codes = rng.random((num_items, num_bits)) < density
    for _ in range(_MAX_REDRAWS):
        _, first = np.unique(np.packbits(codes, axis=1), axis=0, return_index=True)
        repeated = np.setdiff1d(np.arange(num_items), first)
        if not repeated.size:
            return codes
        codes[repeated] = rng.random((repeated.size, num_bits)) < density
    raise ValueError(f"could not draw {num_items} distinct codewords of {num_bits} bits at density {density}; "
                     "increase num_bits or move density towards 0.5")


class ECOCEncoding(DenseCodeEncoding):
    """Random binary codewords, Bernoulli outputs, likelihood decoding (see the module notes).

    Parameters
    ----------
    num_items : int
        d.
    num_bits : int
        m, with ``2**m >= d`` (distinct codewords must exist).
    density : float
        Probability of a 1 bit, in (0, 1).
    seed : int
        Seed of the codewords.
    """

    name = "ecoc"
    loss = "bernoulli"

    def __init__(self, num_items: int, num_bits: int, *, density: float = 0.5, seed: int = 0) -> None:
        super().__init__(num_items, num_bits)
        if self.num_bits < 63 and 2 ** self.num_bits < self.num_items:
            raise ValueError(f"num_bits={self.num_bits} gives only {2 ** self.num_bits} codewords for "
                             f"num_items={self.num_items}; need 2**num_bits >= num_items")
        self.density = check_fraction("density", density)
        self.seed = check_int("seed", seed, 0, MAX_SEED)
        codes = random_codewords(self.num_items, self.num_bits, self.density, self.seed)
        # bool: one byte per (item, bit); decoding converts blocks to float on the device.
        self.register_buffer("codes", torch.from_numpy(codes))

    def _codewords(self, items: torch.Tensor) -> torch.Tensor:
        return self.codes.index_select(0, items.to(self.codes.device)).to(items.device, torch.float32)

    def input_codes(self, items: torch.Tensor) -> torch.Tensor:
        return 2.0 * self._codewords(items) - 1.0

    def target(self, items: Bags | torch.Tensor) -> torch.Tensor:
        """The mean codeword of each set (bit-wise target probabilities; zeros for an empty set)."""
        total, lengths = self._sum_codes(items, self._codewords)
        return total / lengths.clamp_min(1).unsqueeze(1)

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        outputs = self._check_outputs(outputs)
        codes = self.codes.to(outputs.device, torch.float32)
        return outputs @ codes.T + F.logsigmoid(-outputs).sum(1, keepdim=True)

    def _method_repr(self) -> list[str]:
        return [f"density={self.density}", f"seed={self.seed}"]
