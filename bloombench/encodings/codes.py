"""The two code shapes the encodings share: k-hot bit codes and dense real-valued codes.

:class:`KHotEncoding` (identity, Bloom, hashing trick, CBE)
    Item ``i`` sets the bits ``h_1(i), ..., h_k(i)`` of m. A set of items is the OR of its items'
    bits (a Bloom filter): the input is that binary vector as a bag of its set bits, the target is it
    normalised to sum 1 (a distribution for the m-way softmax), and an item's score is recovered
    from the output probabilities as ``score(i) = sum_j log p[h_j(i)]`` (Serrà & Karatzoglou 2017).
    A bit repeated among an item's k (``h_1(i) == h_2(i)``) is set once but counts k times in the
    recovery, as in the paper's formula.
:class:`DenseCodeEncoding` (ECOC, PMI, CCA)
    Item ``i`` has a real input code (a row of m numbers); the input of a set is the sum of its
    items' codes, passed as one dense bag of m weighted entries.
:class:`SimilarityEncoding` (PMI, CCA)
    Dense codes on the output side too: the target of a set is the sum of its items' output codes,
    trained with the cosine loss, and items are scored by their similarity with the output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
import torch.nn.functional as F

from bloombench.checks import check_choice, check_int
from bloombench.encodings.base import Bags, Encoding

__all__ = ["SIMILARITIES", "DenseCodeEncoding", "KHotEncoding", "SimilarityEncoding"]

SIMILARITIES = ("dot", "cosine")


class KHotEncoding(Encoding):
    """Items as k-hot codes over m bits; subclasses implement :meth:`bits` (see the module notes)."""

    loss: ClassVar[str] = "softmax"

    def __init__(self, num_items: int, num_bits: int, num_hashes: int) -> None:
        super().__init__(num_items, num_bits)
        self.num_hashes = check_int("num_hashes", num_hashes)
        if self.num_hashes > self.num_bits:
            raise ValueError(f"num_hashes must be in [1, num_bits={self.num_bits}], got {self.num_hashes}")
        # Empty and non-persistent: it only tells which device the encoding was moved to.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    def bits(self, items: torch.Tensor) -> torch.Tensor:
        """int64 ``(len(items), k)``: the bits of each item id (ids already checked, on this device)."""
        raise NotImplementedError

    def all_bits(self, device: torch.device | str | None = None) -> torch.Tensor:
        """int64 ``(num_items, k)``: the bits of every item, moved to ``device`` (default: the encoding's)."""
        self._require_fitted()
        bits = self.bits(torch.arange(self.num_items, device=self._anchor.device))
        return bits if device is None else bits.to(device)

    def _bit_mask(self, items: Bags | torch.Tensor) -> torch.Tensor:
        """``(n, m)`` bool: the bits each bag sets (OR: a bit set by several items, or twice, is set once).

        A scatter into an ``(n, m)`` mask dedupes without sorting (``torch.unique`` sorts, and costs
        more than the rest of a small batch); the mask is no larger than the ``(n, m)`` outputs.
        """
        self._require_fitted()
        bags = self._bags(items)
        bits = self.bits(bags.indices.to(self._anchor.device)).to(bags.device)
        mask = torch.zeros(bags.num_bags, self.num_bits, dtype=torch.bool, device=bits.device)
        mask[bags.rows().unsqueeze(1).expand_as(bits), bits] = True
        return mask

    def encode_input(self, items: Bags | torch.Tensor) -> Bags:
        """The set bits of each bag, in increasing order, weight 1 (the binary Bloom filter)."""
        mask = self._bit_mask(items)
        rows, bits = mask.nonzero(as_tuple=True)
        return Bags.from_rows(bits, rows, mask.shape[0])

    def target(self, items: Bags | torch.Tensor) -> torch.Tensor:
        """The OR of the items' k-hot codes, normalised to sum 1 (an all-zero row for an empty set)."""
        target = self._bit_mask(items).float()
        return target / target.sum(1, keepdim=True).clamp_min(1.0)

    def recover(self, log_probs: torch.Tensor) -> torch.Tensor:
        """``(n, num_items)`` scores ``score(i) = sum_j log_probs[:, h_j(i)]`` from ``(n, m)`` log-probabilities."""
        log_probs = self._check_outputs(log_probs)
        bits = self.all_bits(log_probs.device)
        scores = log_probs.index_select(1, bits[:, 0])
        for j in range(1, bits.shape[1]):  # k gathers of (n, d): never an (n, d, k) temporary
            scores += log_probs.index_select(1, bits[:, j])
        return scores

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        """:meth:`recover` of the softmax of the logits ``outputs``."""
        return self.recover(torch.log_softmax(self._check_outputs(outputs), dim=1))

    def _method_repr(self) -> list[str]:
        return [f"k={self.num_hashes}"]


class DenseCodeEncoding(Encoding):
    """Items as dense input codes; subclasses implement :meth:`input_codes`."""

    sparse_input: ClassVar[bool] = False

    def input_codes(self, items: torch.Tensor) -> torch.Tensor:
        """float ``(len(items), num_bits)``: the input code of each item id (ids already checked)."""
        raise NotImplementedError

    def _sum_codes(self, items: Bags | torch.Tensor,
                   codes_of: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n, m)`` sum of ``codes_of(ids)`` over each bag, and the ``(n,)`` bag sizes."""
        self._require_fitted()
        bags = self._bags(items)
        codes = codes_of(bags.indices)
        total = torch.zeros(bags.num_bags, self.num_bits, dtype=codes.dtype, device=codes.device)
        return total.index_add_(0, bags.rows(), codes), bags.lengths()

    def encode_input(self, items: Bags | torch.Tensor) -> Bags:
        """One dense bag per set: the sum of its items' input codes as m weighted entries."""
        return Bags.dense(self._sum_codes(items, self.input_codes)[0])


class SimilarityEncoding(DenseCodeEncoding):
    """Dense codes on both sides, decoded by similarity (PMI and CCA embeddings).

    Subclasses fill the ``(num_items, m)`` float32 buffer ``codes`` (the input codes, and the output
    codes too when ``shared``) and, unless shared, ``output_codes``, in ``_fit``. ``similarity="dot"``
    scores ``o . c_i`` (an item's code norm, e.g. its weight in an SVD embedding, counts);
    ``"cosine"`` scores ``o . c_i / |c_i|``. The output's own norm never changes the ranking, which
    is why the cosine loss trains it.
    """

    loss: ClassVar[str] = "cosine"

    def __init__(self, num_items: int, num_bits: int, similarity: str, *, shared: bool) -> None:
        super().__init__(num_items, num_bits)
        self.similarity = check_choice("similarity", similarity, SIMILARITIES)
        self.shared = shared
        self.register_buffer("codes", torch.zeros(num_items, num_bits))
        if not shared:
            self.register_buffer("output_codes", torch.zeros(num_items, num_bits))

    def _store(self, name: str, table: object) -> None:
        """Copy learnt codes into buffer ``name`` (float32, the buffer's device and shape)."""
        getattr(self, name).copy_(torch.as_tensor(table, dtype=torch.float32))

    def _output_table(self) -> torch.Tensor:
        return self.codes if self.shared else self.output_codes

    def input_codes(self, items: torch.Tensor) -> torch.Tensor:
        return self.codes.index_select(0, items.to(self.codes.device)).to(items.device)

    def target(self, items: Bags | torch.Tensor) -> torch.Tensor:
        """The sum of the items' output codes (its direction is what the cosine loss fits)."""
        table = self._output_table()
        return self._sum_codes(items, lambda ids: table.index_select(0, ids.to(table.device)).to(ids.device))[0]

    def decode(self, outputs: torch.Tensor) -> torch.Tensor:
        self._require_fitted()
        outputs = F.normalize(self._check_outputs(outputs), dim=1)
        table = self._output_table().to(outputs.device)
        if self.similarity == "cosine":
            table = F.normalize(table, dim=1)
        return outputs @ table.T

    def _method_repr(self) -> list[str]:
        return [f"similarity={self.similarity!r}"]
