"""Seeded dataset generators by name: what a trial config's ``dataset.name`` may name besides the real
datasets, with its arguments in ``dataset.synthetic``; and the seeded streams a model that takes a stream
(``inputs = "stream"``) may name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bloombench.checks import check_choice
from bloombench.data.interactions import Interactions
from bloombench.data.planted import planted
from bloombench.data.stream import InteractionStream
from bloombench.data.synthetic import synthetic

__all__ = ["GENERATORS", "STREAMS", "generate", "make_stream"]

#: name -> generator (every argument has a default: MovieLens 100K's shape, or a planted-structure set).
GENERATORS: dict[str, Callable[..., Interactions]] = {"synthetic": synthetic, "planted": planted}


def generate(name: str, **params: Any) -> Interactions:
    """The interactions of the generator ``name`` with ``params``."""
    return GENERATORS[check_choice("dataset.name", name, list(GENERATORS))](**params)


#: name -> stream class (lazy: windows are generated as they are read).
STREAMS: dict[str, Callable[..., InteractionStream]] = {"stream": InteractionStream}


def make_stream(name: str, **params: Any) -> InteractionStream:
    """The stream ``name`` with ``params`` (nothing is generated until it is iterated)."""
    return STREAMS[check_choice("dataset.name", name, list(STREAMS))](**params)
