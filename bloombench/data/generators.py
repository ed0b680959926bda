"""Seeded dataset generators by name: what a trial config's ``dataset.name`` may name besides the real
datasets, with its arguments in ``dataset.synthetic``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bloombench.checks import check_choice
from bloombench.data.interactions import Interactions
from bloombench.data.planted import planted
from bloombench.data.synthetic import synthetic

__all__ = ["GENERATORS", "generate"]

#: name -> generator (every argument has a default: MovieLens 100K's shape, or a planted-structure set).
GENERATORS: dict[str, Callable[..., Interactions]] = {"synthetic": synthetic, "planted": planted}


def generate(name: str, **params: Any) -> Interactions:
    """The interactions of the generator ``name`` with ``params``."""
    return GENERATORS[check_choice("dataset.name", name, list(GENERATORS))](**params)
