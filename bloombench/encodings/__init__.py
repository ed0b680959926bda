"""Encodings of item sets into m network inputs/outputs and back: the paper's Bloom embeddings and
the alternatives it is compared with (hashing trick, ECOC, PMI, CCA, co-occurrence-based Bloom).

Build them by name with :func:`make_encoding`; see :mod:`bloombench.encodings.base` for the interface
the feed-forward model (:class:`bloombench.models.FeedForwardModel`) relies on.
"""

from bloombench.encodings.base import Bags, Encoding
from bloombench.encodings.bloom import BloomEncoding
from bloombench.encodings.cbe import CBEEncoding
from bloombench.encodings.cca import CCAEncoding
from bloombench.encodings.codes import SIMILARITIES, DenseCodeEncoding, KHotEncoding, SimilarityEncoding
from bloombench.encodings.ecoc import ECOCEncoding
from bloombench.encodings.hashing_trick import HashingTrickEncoding
from bloombench.encodings.histories import cooccurrence, history_matrix, split_histories
from bloombench.encodings.identity import IdentityEncoding
from bloombench.encodings.pmi import PMIEncoding, ppmi_matrix
from bloombench.encodings.registry import available_encodings, get_encoding, make_encoding, num_bits_for

__all__ = [
    "SIMILARITIES",
    "Bags",
    "BloomEncoding",
    "CBEEncoding",
    "CCAEncoding",
    "DenseCodeEncoding",
    "ECOCEncoding",
    "Encoding",
    "HashingTrickEncoding",
    "IdentityEncoding",
    "KHotEncoding",
    "PMIEncoding",
    "SimilarityEncoding",
    "available_encodings",
    "cooccurrence",
    "get_encoding",
    "history_matrix",
    "make_encoding",
    "num_bits_for",
    "ppmi_matrix",
    "split_histories",
]
