"""The popularity floor seen through an output code: what an encoded model can fall back to.

The paper's feed-forward model (:mod:`~bloombench.models.feedforward`) predicts m code outputs and
recovers item scores by decoding them. A network that ignores its input learns one constant output: the
one that minimises its loss over the training targets. This floor computes that output in closed form
from the training counts and decodes it, so it is popularity as far as the code can express it:

* ``softmax`` codes (identity, Bloom, hashing trick, CBE): the mean target ``q`` (each item's normalised
  k-hot code weighted by its count) and the output ``log q``;
* ``bernoulli`` codes (ECOC): the mean codeword ``q`` per bit and the output ``logit q``;
* ``cosine`` codes (PMI, CCA): the mean target direction, the sum of the count-weighted output codes.

With the identity encoding it ranks exactly as :class:`~bloombench.models.popularity.PopularityModel`.
With the hashing trick (k = 1) every item in a bucket gets the bucket's summed count, so items tie and
the floor drops below plain popularity: a trained model below popularity but at or above this floor
lost nothing to training that the code did not lose first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from bloombench.data.interactions import Interactions
from bloombench.encodings import Encoding, make_encoding
from bloombench.models.inputs import check_training_data
from bloombench.models.popularity import PopularityModel
from bloombench.models.training import EpochCallback, FitHistory, FitOptions

__all__ = ["CONSTANT_OUTPUTS", "CodedPopularityModel"]

_EPS = 1e-12
_CHUNK = 4096  # item codes are built this many items at a time (an (n, m) target block each)

#: The loss-minimising constant output for a mean target ``q``, by the encoding's output loss.
CONSTANT_OUTPUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "softmax": lambda q: torch.log(q.clamp_min(_EPS)),
    "bernoulli": lambda q: torch.logit(q.clamp(_EPS, 1.0 - _EPS)),
    "cosine": lambda q: q,
}


class CodedPopularityModel(PopularityModel):
    """Item scores decoded from the best input-independent output of an encoding (see the module notes).

    Parameters
    ----------
    encoding : str
        A name from :func:`bloombench.encodings.available_encodings` (built at :meth:`fit` time).
    encoding_params : mapping, optional
        Arguments of :func:`~bloombench.encodings.make_encoding`, as for the feed-forward model.
    """

    config_section = "encoding"
    components = ("encoding", "encoding_params")

    def __init__(self, encoding: str = "identity", *, encoding_params: Mapping[str, object] | None = None) -> None:
        super().__init__()
        if not isinstance(encoding, str):
            raise TypeError(f"encoding must be an encoding name, got {type(encoding).__name__}")
        self.encoding_name = encoding
        self.encoding_params = dict(encoding_params or {})
        self.encoding: Encoding | None = None

    def _fit(self, data: Any, options: FitOptions, callback: EpochCallback | None) -> FitHistory:
        """Build the encoding (fitting the data-dependent codes, PMI and CCA, on ``data``), then count."""
        check_training_data(data, Interactions, "interactions")
        encoding = make_encoding(self.encoding_name, int(data.num_items), **self.encoding_params)
        if encoding.loss not in CONSTANT_OUTPUTS:
            raise ValueError(f"no constant output is defined for the {encoding.loss!r} loss of "
                             f"{encoding.name!r}; known: {sorted(CONSTANT_OUTPUTS)}")
        self.encoding = encoding.to(options.device).fit(data)
        return super()._fit(data, options, callback)

    def _prepare(self, items: np.ndarray, seed: int) -> None:
        encoding = self.encoding
        counts = torch.as_tensor(np.bincount(items, minlength=self.num_items).astype(np.float32),
                                 device=self.device)
        mean = torch.zeros(encoding.num_bits, device=self.device)
        with torch.no_grad():
            for lo in range(0, self.num_items, _CHUNK):
                ids = torch.arange(lo, min(lo + _CHUNK, self.num_items), device=self.device)
                mean += counts[ids] @ encoding.target(ids)  # a 1-d tensor: one single-item set per row
            mean /= counts.sum().clamp_min(1.0)
            output = CONSTANT_OUTPUTS[encoding.loss](mean)
            self.counts = encoding.decode(output.unsqueeze(0)).reshape(-1)

    def _stored_bytes(self) -> int:
        return super()._stored_bytes() + (self.encoding.memory_bytes() if self.encoding is not None else 0)
