"""Conversion and range checks of id inputs shared by the models' fit/predict methods."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["as_id_tensor", "check_id_range", "check_training_data"]


def check_training_data(data: object, kind: type, name: str) -> None:
    """Raise ``TypeError`` unless ``data`` is a ``kind``, ``ValueError`` if it holds nothing to fit."""
    if not isinstance(data, kind):
        raise TypeError(f"{name} must be an instance of {kind.__name__}, got {type(data).__name__}")
    if len(data) == 0:  # type: ignore[arg-type]
        raise ValueError(f"{name} is empty; nothing to fit")


def check_id_range(ids: np.ndarray | torch.Tensor, upper: int, name: str) -> None:
    """Raise ``ValueError`` unless every id lies in ``[0, upper)``.

    Embedding layers that hash ids would silently accept out-of-range ids, so
    the models check them up front.
    """
    if ids.numel() if isinstance(ids, torch.Tensor) else ids.size:
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= upper:
            raise ValueError(f"{name} must lie in [0, {upper}), got range [{low}, {high}]")


def as_id_tensor(ids: object, upper: int, device: torch.device, name: str) -> torch.Tensor:
    """Return ``ids`` as an int64 tensor on ``device`` after checking ``[0, upper)``.

    Accepts tensors, numpy arrays and sequences of ints.
    """
    if isinstance(ids, torch.Tensor):
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise TypeError(f"{name} must be an integer tensor, got dtype {ids.dtype}")
        tensor = ids.to(device=device, dtype=torch.int64)
    else:
        array = np.asarray(ids)
        if array.size and not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"{name} must contain integers, got dtype {array.dtype}")
        tensor = torch.as_tensor(array.astype(np.int64, copy=False), device=device)
    check_id_range(tensor, upper, name)
    return tensor
