"""Build any encoding by name, with m given directly or as a share of the catalogue.

A new encoding is one file in ``bloombench/encodings/`` plus one line in ``_ENCODINGS``.
"""

from __future__ import annotations

import inspect

from bloombench.checks import check_exclusive, check_fraction, check_int
from bloombench.encodings.base import Encoding
from bloombench.encodings.bloom import BloomEncoding
from bloombench.encodings.cbe import CBEEncoding
from bloombench.encodings.cca import CCAEncoding
from bloombench.encodings.ecoc import ECOCEncoding
from bloombench.encodings.hashing_trick import HashingTrickEncoding
from bloombench.encodings.identity import IdentityEncoding
from bloombench.encodings.pmi import PMIEncoding
from bloombench.layers.base import ratio_count

__all__ = ["available_encodings", "get_encoding", "make_encoding", "num_bits_for"]

_ENCODINGS: dict[str, type[Encoding]] = {
    "identity": IdentityEncoding,
    "bloom": BloomEncoding,
    "hashing_trick": HashingTrickEncoding,
    "cbe": CBEEncoding,
    "ecoc": ECOCEncoding,
    "pmi": PMIEncoding,
    "cca": CCAEncoding,
}


def available_encodings() -> list[str]:
    """Names accepted by :func:`make_encoding`, in registry order."""
    return list(_ENCODINGS)


def get_encoding(name: str) -> type[Encoding]:
    """The encoding class registered as ``name``; unknown names list the available ones."""
    try:
        return _ENCODINGS[name]
    except (KeyError, TypeError):
        raise ValueError(f"encoding must be one of {available_encodings()}, got {name!r}") from None


def num_bits_for(num_items: int, ratio: float) -> int:
    """``m = int(ratio * num_items)`` (floored, as the layers size ``compression_ratio``), refusing m = 0."""
    return ratio_count(check_fraction("compression_ratio", ratio, high_open=False), check_int("num_items", num_items),
                       "num_bits")


def make_encoding(name: str, num_items: int, m: int | None = None, *, compression_ratio: float | None = None,
                  **params: object) -> Encoding:
    """Build the encoding ``name`` for ``num_items`` items with ``m`` bits (or ``compression_ratio = m / d``,
    named as the layers' argument, so experiments and reports treat both alike).

    Parameters
    ----------
    name : str
        One of :func:`available_encodings`.
    num_items : int
        d.
    m : int, optional
        Number of bits. The identity encoding takes neither ``m`` nor ``compression_ratio`` (m = d).
    compression_ratio : float, optional
        ``m / d`` in (0, 1]; ``m = int(compression_ratio * d)``.
    **params
        The encoding's own arguments (e.g. ``num_hashes``, ``hash``, ``seed``); unknown names raise a
        ``TypeError`` listing the accepted ones.

    Examples
    --------
    >>> make_encoding("bloom", 1000, compression_ratio=0.2, num_hashes=3).num_bits
    200
    """
    cls = get_encoding(name)
    check_exclusive(m=m, compression_ratio=compression_ratio)
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "num_items", "num_bits")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"{cls.__name__} got unknown argument(s) {unknown}; accepted: {accepted}")
    if compression_ratio is not None:
        m = num_bits_for(num_items, compression_ratio)
    if m is None and cls is not IdentityEncoding:
        raise ValueError(f"encoding {name!r} needs m (number of bits) or compression_ratio (m / num_items)")
    return cls(num_items, m, **params)
