"""Argument checks and input readers shared by the ranking and rating evaluations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from bloombench.checks import check_int

LEGACY_MODES: tuple[str, ...] = ("spotlight",)

# Scores per block (users x items): ~32M floats = 128 MiB in float32.
_BLOCK_FLOATS = 2**25


def check_legacy(legacy: str | None) -> bool:
    """True for Spotlight's semantics, False for the clean ones (``legacy=None``)."""
    if legacy is None:
        return False
    if legacy in LEGACY_MODES:
        return True
    raise ValueError(f"legacy must be None or one of {LEGACY_MODES}, got {legacy!r}")


def check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    """The distinct cut-offs, sorted; each a positive int."""
    values = [ks] if isinstance(ks, (int, np.integer)) else list(ks)
    if not values:
        raise ValueError("ks must contain at least one cut-off, got an empty sequence")
    return tuple(sorted({check_int("ks", k) for k in values}))


def check_batch_size(batch_size: int | None, row_width: int) -> int:
    """Rows per scored block: ``batch_size``, or as many rows of ``row_width`` scores as fit the block."""
    if batch_size is None:
        return max(1, _BLOCK_FLOATS // max(row_width, 1))
    return check_int("batch_size", batch_size)


def require_method(model: Any, name: str) -> None:
    """Refuse a model without the method ``name``."""
    if not callable(getattr(model, name, None)):
        raise TypeError(f"model must have a {name}() method, got {type(model).__name__}")


def model_device(model: Any) -> torch.device:
    """Where the model scores (its ``device`` attribute; the CPU without one)."""
    return torch.device(getattr(model, "device", "cpu"))


def id_space(interactions: Any, attr: str, ids: np.ndarray) -> int:
    """``num_users``/``num_items``, inferred as ``max + 1`` when unset (duck-typed inputs)."""
    value = getattr(interactions, attr, None)
    if value is None:
        return int(ids.max()) + 1 if ids.size else 0
    return int(value)


def read_pairs(interactions: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The flat int64 ``(user_ids, item_ids)`` of duck-typed interactions, refused if they differ in length."""
    users = np.asarray(interactions.user_ids, dtype=np.int64).reshape(-1)
    items = np.asarray(interactions.item_ids, dtype=np.int64).reshape(-1)
    if users.shape != items.shape:
        raise ValueError(f"{name}.user_ids and {name}.item_ids differ in length: {len(users)} vs {len(items)}")
    return users, items
