"""Recommender models: losses, negative sampling, networks and one shared training loop."""

from bloombench.models.factorization import ExplicitFactorizationModel, ImplicitFactorizationModel
from bloombench.models.losses import (
    IMPLICIT_LOSSES,
    adaptive_hinge_loss,
    bpr_loss,
    get_implicit_loss,
    hinge_loss,
    pointwise_loss,
    regression_loss,
)
from bloombench.models.representations import (
    PADDING_IDX,
    BilinearNet,
    CNNNet,
    EmbeddingFactory,
    LSTMNet,
    PoolNet,
    SequenceNet,
    default_embedding_factory,
    make_sequence_net,
)
from bloombench.models.sampling import sample_items
from bloombench.models.sequence import ImplicitSequenceModel
from bloombench.models.training import OPTIMIZERS, FitHistory, FitOptions, resolve_device, train

__all__ = [
    "IMPLICIT_LOSSES",
    "OPTIMIZERS",
    "PADDING_IDX",
    "BilinearNet",
    "CNNNet",
    "EmbeddingFactory",
    "ExplicitFactorizationModel",
    "FitHistory",
    "FitOptions",
    "ImplicitFactorizationModel",
    "ImplicitSequenceModel",
    "LSTMNet",
    "PoolNet",
    "SequenceNet",
    "adaptive_hinge_loss",
    "bpr_loss",
    "default_embedding_factory",
    "get_implicit_loss",
    "hinge_loss",
    "make_sequence_net",
    "pointwise_loss",
    "regression_loss",
    "resolve_device",
    "sample_items",
    "train",
]
