"""Embedding layers: forward and forward+backward of every method, CPU and CUDA.

Compressed methods run at compression 0.2 (Bloom with k = 4). The bandwidth benchmark compares the bytes
a Bloom lookup must move with a copy bandwidth measured in the same process (the physical limit).
"""

from __future__ import annotations

import torch

from bloombench.layers import make_embedding

from .common import DEVICES, best_seconds, require_device, synchronize

DIM = 32
BATCH = 4096

# label -> (registry method, parameters)
VARIANTS: dict[str, tuple[str, dict[str, object]]] = {
    "full": ("full", {}),
    "full_sparse": ("full", {"sparse": True}),
    "bloom_table": ("bloom", {"compression_ratio": 0.2, "num_hashes": 4}),
    "bloom_on_the_fly": ("bloom", {"compression_ratio": 0.2, "num_hashes": 4, "index": "on_the_fly"}),
    "hashing_trick": ("hashing_trick", {"compression_ratio": 0.2}),
    "hashcofi": ("hashcofi", {"compression_ratio": 0.2}),
    "hash_embedding": ("hash_embedding", {"compression_ratio": 0.2}),
    "qr": ("qr", {"compression_ratio": 0.2}),
}


def build(label: str, rows: int, device: torch.device) -> torch.nn.Module:
    method, params = VARIANTS[label]
    return make_embedding(method, rows, DIM, init_seed=0, **params).to(device)


class LayerPass:
    """Forward, and forward+backward, of one batch of ids."""

    params = (list(VARIANTS), [10_000, 1_000_000, 10_000_000], DEVICES)
    param_names = ["method", "rows", "device"]
    timeout = 180

    def setup(self, label: str, rows: int, device: str) -> None:
        self.device = require_device(device)
        self.layer = build(label, rows, self.device)
        generator = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, rows, (BATCH,), generator=generator).to(self.device)
        self.forward_backward()  # warm-up: first-call allocation, CUDA context, lazy init
        synchronize(self.device)

    def forward_backward(self) -> None:
        self.layer.zero_grad(set_to_none=True)
        self.layer(self.ids).sum().backward()

    def time_forward(self, label: str, rows: int, device: str) -> None:
        with torch.no_grad():
            self.layer(self.ids)
        synchronize(self.device)

    def time_forward_backward(self, label: str, rows: int, device: str) -> None:
        self.forward_backward()
        synchronize(self.device)

    def peakmem_forward_backward(self, label: str, rows: int, device: str) -> None:
        self.forward_backward()

    def track_memory_bytes(self, label: str, rows: int, device: str) -> int:
        return int(self.layer.memory_bytes())

    track_memory_bytes.unit = "bytes"


def copy_bandwidth(device: torch.device, nbytes: int = 256 * 2**20) -> float:
    """Bytes per second of a large device-to-device copy (read + write counted)."""
    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    dst = torch.empty_like(src)
    seconds = best_seconds(lambda: dst.copy_(src), device=str(device.type), repeat=5)
    return 2 * nbytes / seconds


class BloomBandwidth:
    """Achieved bytes/s of Bloom forward+backward on a table far larger than the caches.

    Bytes a lookup must move: forward reads k rows and the index entries of each id and writes one
    output row; backward reads the output gradient row and read-modify-writes k rows of the dense
    weight gradient, which itself must be zero-filled (m * dim * 4 bytes) every step.
    """

    params = ([10_000_000], DEVICES)
    param_names = ["rows", "device"]
    timeout = 300

    def setup(self, rows: int, device: str) -> None:
        self.device = require_device(device)
        self.layer = build("bloom_table", rows, self.device)
        self.ids = torch.randint(0, rows, (BATCH * 16,), generator=torch.Generator().manual_seed(0)).to(self.device)
        k, row = 4, DIM * 4
        n = self.ids.numel()
        weight_bytes = self.layer.num_buckets * row
        self.bytes_moved = n * (k * row + k * 4 + row) + n * (row + 2 * k * row) + weight_bytes
        self.bandwidth = copy_bandwidth(self.device)

    def _step(self) -> None:
        self.layer.zero_grad(set_to_none=True)
        self.layer(self.ids).sum().backward()

    def track_achieved_gb_per_s(self, rows: int, device: str) -> float:
        return self.bytes_moved / best_seconds(self._step, device=device, repeat=3) / 1e9

    track_achieved_gb_per_s.unit = "GB/s"

    def track_ratio_to_copy_bandwidth(self, rows: int, device: str) -> float:
        achieved = self.bytes_moved / best_seconds(self._step, device=device, repeat=3)
        return achieved / self.bandwidth

    track_ratio_to_copy_bandwidth.unit = "ratio"

    def track_copy_gb_per_s(self, rows: int, device: str) -> float:
        return self.bandwidth / 1e9

    track_copy_gb_per_s.unit = "GB/s"
