"""Embedding layers: a full table and compressed drop-ins for ``torch.nn.Embedding``.

Every layer maps an integer tensor of any shape to ``(*ids.shape, embedding_dim)``, reports its true
footprint with ``memory_bytes()`` (index tables included) and starts at the same output scale as a full
table (see :mod:`bloombench.layers.base`). Build them by name with :func:`make_embedding`, or at equal
memory with :func:`make_embedding_for_budget`.
"""

from bloombench.layers.base import CompressedEmbedding
from bloombench.layers.bloom import BLOOM_MODES, SPOTLIGHT_SEEDS, BloomEmbedding
from bloombench.layers.cce import CCEmbedding
from bloombench.layers.dhe import DHE_ENCODINGS, DeepHashEmbedding
from bloombench.layers.diagnostics import (
    CollisionDiagnostics,
    collision_diagnostics,
    expected_repeat_share,
    expected_signature_collision_share,
    signature_collision_probability,
)
from bloombench.layers.double_hash import DoubleHashEmbedding
from bloombench.layers.frequency import count_ids
from bloombench.layers.full import FullEmbedding
from bloombench.layers.hash_embedding import HashEmbedding
from bloombench.layers.hash_index import HashIndex
from bloombench.layers.hashcofi import HashCoFiEmbedding
from bloombench.layers.hashing_trick import HashingTrickEmbedding
from bloombench.layers.int8 import Int8Embedding
from bloombench.layers.lowdim import LowDimEmbedding
from bloombench.layers.mixed_dim import MixedDimEmbedding
from bloombench.layers.id_map import IdMap
from bloombench.layers.lru import GrowingEmbedding, LRUEmbedding
from bloombench.layers.qr import QR_COMBINES, QREmbedding
from bloombench.layers.robe import RobeEmbedding
from bloombench.layers.tt import TTEmbedding
from bloombench.layers.registry import (
    available_methods,
    embedding_factory,
    get_method,
    make_embedding,
    make_embedding_for_budget,
    size_for_budget,
)

__all__ = [
    "BLOOM_MODES",
    "BloomEmbedding",
    "CCEmbedding",
    "CollisionDiagnostics",
    "CompressedEmbedding",
    "DoubleHashEmbedding",
    "DHE_ENCODINGS",
    "DeepHashEmbedding",
    "FullEmbedding",
    "GrowingEmbedding",
    "HashCoFiEmbedding",
    "HashEmbedding",
    "HashIndex",
    "HashingTrickEmbedding",
    "Int8Embedding",
    "LowDimEmbedding",
    "MixedDimEmbedding",
    "IdMap",
    "LRUEmbedding",
    "QR_COMBINES",
    "QREmbedding",
    "RobeEmbedding",
    "SPOTLIGHT_SEEDS",
    "TTEmbedding",
    "available_methods",
    "collision_diagnostics",
    "count_ids",
    "embedding_factory",
    "expected_repeat_share",
    "expected_signature_collision_share",
    "get_method",
    "make_embedding",
    "make_embedding_for_budget",
    "signature_collision_probability",
    "size_for_budget",
]
