"""Embedding layers: forward and forward+backward of every method, memory, and Bloom against the hardware.

The per-method benchmarks (``LayerPass``, ``LayerMemory``) are generated over every layer variant of
``common.VARIANTS``: each ``examples`` entry of each registered method (today: compression 0.2 for every
compressed method, Bloom with k = 4 and murmur3 with a stored index table and on the fly) plus the full
table with sparse gradients; dim 32, on CPU and CUDA. A method added to the registry with its
``examples`` is benchmarked here without an edit.

Targets (issue 5): Bloom on the fly forward+backward <= 1.3x the index-table path, with 0 index bytes
(``BloomIndexModes``); Bloom forward+backward on a table much larger than the caches at >= 50% of the
copy bandwidth measured in the same process (``BloomBandwidth``).
"""

from __future__ import annotations

import torch

from bloombench.layers import CompressedEmbedding, make_embedding

from .common import (
    BLOOM,
    DEVICES,
    DIM,
    VARIANTS,
    best_seconds,
    by_profile,
    memoised,
    random_ids,
    require_device,
    synchronize,
)

ROWS = by_profile([10_000, 1_000_000, 10_000_000])
# Both batches in both profiles: the memory benchmarks' pass uses the larger one, and at the quick
# profile's 1e4 rows either costs microseconds.
BATCHES = [256, 4096]


@memoised
def build(label: str, rows: int, device: str, sparse: bool = False) -> CompressedEmbedding:
    """The layer ``label`` of ``rows`` ids on ``device``, with sparse gradients if asked (fixed init seed;
    memoised per process)."""
    method, params = VARIANTS[label]
    if sparse:
        params = {**params, "sparse": True}
    return make_embedding(method, rows, DIM, init_seed=0, **params).to(device)


def forward_backward(layer: torch.nn.Module, ids: torch.Tensor) -> None:
    """One training pass of a lookup: fresh gradients, forward, backward of the sum."""
    layer.zero_grad(set_to_none=True)
    layer(ids).sum().backward()


def index_bytes(layer: CompressedEmbedding) -> int:
    """Persistent bytes that are not trainable weights (index and sign tables): the persistent buffers.

    Not ``memory_bytes()`` minus the parameters: int8's stored form (codes, scales) is not its float32
    training master, so that difference is negative there.
    """
    return sum(b.numel() * b.element_size() for module in layer.modules()
               for name, b in module.named_buffers(recurse=False)
               if name not in module._non_persistent_buffers_set)


class _Lookup:
    """Mixin of the lookup benchmarks generated over every layer variant (``params`` start with
    ``list(VARIANTS)``): the layer (memoised) and a batch of uniform ids, warmed up.

    Not collected by asv itself (a leading underscore); the set-up's source is kept as it was, since asv
    hashes it into the benchmarks' version and ``asv compare`` only compares results of equal versions.
    """

    def setup(self, label: str, rows: int, batch: int, device: str) -> None:
        self.device = require_device(device)
        self.layer = build(label, rows, device)
        self.ids = random_ids(batch, rows, self.device)
        forward_backward(self.layer, self.ids)  # first-call allocation, CUDA context, lazy init
        synchronize(self.device)


class LayerPass(_Lookup):
    """Forward, and forward+backward, of one batch of ids."""

    params = (list(VARIANTS), ROWS, BATCHES, DEVICES)
    param_names = ["method", "rows", "batch", "device"]
    timeout = 240

    def time_forward(self, label: str, rows: int, batch: int, device: str) -> None:
        with torch.no_grad():
            self.layer(self.ids)
        synchronize(self.device)

    def time_forward_backward(self, label: str, rows: int, batch: int, device: str) -> None:
        forward_backward(self.layer, self.ids)
        synchronize(self.device)


class LayerMemory:
    """Bytes a layer keeps (weights + index tables), and peak process memory of a training pass."""

    params = (list(VARIANTS), ROWS, DEVICES)
    param_names = ["method", "rows", "device"]
    timeout = 240

    def setup(self, label: str, rows: int, device: str) -> None:
        # No warm-up pass: byte counts do not need one, and peak memory is the process's maximum anyway.
        self.device = require_device(device)
        self.layer = build(label, rows, device)
        self.ids = random_ids(BATCHES[-1], rows, self.device)

    def peakmem_forward_backward(self, label: str, rows: int, device: str) -> None:
        forward_backward(self.layer, self.ids)

    def track_memory_bytes(self, label: str, rows: int, device: str) -> int:
        return int(self.layer.memory_bytes())

    track_memory_bytes.unit = "bytes"

    def track_index_bytes(self, label: str, rows: int, device: str) -> int:
        return index_bytes(self.layer)

    track_index_bytes.unit = "bytes"


class BloomIndexModes:
    """Bloom forward+backward hashing on the fly over the same with the stored index table.

    Both layers are timed back to back in one process (best of 7), so the ratio is robust to the load
    of other processes; the on-the-fly layer stores no index bytes (``LayerMemory.track_index_bytes``).
    """

    params = (ROWS, BATCHES, DEVICES)
    param_names = ["rows", "batch", "device"]
    timeout = 240

    def setup(self, rows: int, batch: int, device: str) -> None:
        self.device = require_device(device)
        self.ids = random_ids(batch, rows, self.device)
        self.layers = {label: make_embedding("bloom", rows, DIM, init_seed=0, **params).to(self.device)
                       for label, (_, params) in VARIANTS.items() if label.startswith("bloom_")}

    def track_on_the_fly_over_table(self, rows: int, batch: int, device: str) -> float:
        seconds = {label: best_seconds(lambda layer=layer: forward_backward(layer, self.ids),
                                       device=self.device, repeat=7)
                   for label, layer in self.layers.items()}
        return seconds["bloom_on_the_fly"] / seconds["bloom_table"]

    track_on_the_fly_over_table.unit = "ratio"


def copy_bandwidth(device: torch.device, nbytes: int = 256 * 2**20) -> float:
    """Bytes per second of a large device-to-device copy (read + write counted)."""
    src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    return 2 * nbytes / best_seconds(lambda: dst.copy_(src), device=device, repeat=5)


def gather_bandwidth(weight: torch.Tensor, rows: torch.Tensor) -> float:
    """Bytes per second of gathering ``rows`` of ``weight`` into a preallocated buffer (read + write):
    the bandwidth random row access gets, which latency rather than the bus limits on a CPU core."""
    out = torch.empty(len(rows), weight.shape[1], dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        seconds = best_seconds(lambda: torch.index_select(weight, 0, rows, out=out), device=weight.device,
                               repeat=5)
    return 2 * out.numel() * out.element_size() / seconds


class BloomBandwidth:
    """Achieved bytes/s of Bloom forward+backward on a table far larger than the caches (1e7 ids,
    2e6 rows of 128 bytes = 256 MB), against the copy and the random-gather bandwidth of the same process.

    Bytes a lookup must move (n ids, k = 4, rows of ``4 * dim`` bytes): forward reads the k int32 index
    entries and k rows of each id and writes its output row; backward reads the output-gradient row and
    read-modify-writes k rows of the dense weight gradient, which itself must be zero-filled
    (m rows) every step.
    """

    params = ([10_000_000], DEVICES)
    param_names = ["rows", "device"]
    timeout = 300
    batch = 65_536

    def setup(self, rows: int, device: str) -> None:
        self.device = require_device(device)
        self.layer = build("bloom_table", rows, device)
        self.ids = random_ids(self.batch, rows, self.device)
        k, row = BLOOM["num_hashes"], DIM * 4
        forward = self.batch * (k * 4 + k * row + row)
        backward = self.batch * (row + 2 * k * row) + self.layer.num_rows * row
        self.bytes_moved = forward + backward
        self._seconds: float | None = None

    def _achieved(self) -> float:
        if self._seconds is None:
            self._seconds = best_seconds(lambda: forward_backward(self.layer, self.ids), device=self.device,
                                         repeat=5)
        return self.bytes_moved / self._seconds

    def track_achieved_gb_per_s(self, rows: int, device: str) -> float:
        return self._achieved() / 1e9

    track_achieved_gb_per_s.unit = "GB/s"

    def track_copy_gb_per_s(self, rows: int, device: str) -> float:
        return copy_bandwidth(self.device) / 1e9

    track_copy_gb_per_s.unit = "GB/s"

    def track_ratio_to_copy_bandwidth(self, rows: int, device: str) -> float:
        return self._achieved() / copy_bandwidth(self.device)

    track_ratio_to_copy_bandwidth.unit = "ratio"

    def track_gather_gb_per_s(self, rows: int, device: str) -> float:
        bags = random_ids(self.batch * BLOOM["num_hashes"], self.layer.num_rows, self.device, seed=1)
        return gather_bandwidth(self.layer.weight.detach(), bags) / 1e9

    track_gather_gb_per_s.unit = "GB/s"
