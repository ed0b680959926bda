"""Recommender models: a registry of model kinds, losses, negative sampling, networks and one shared training
loop."""

from bloombench.models.base import Model
from bloombench.models.early_stopping import EarlyStopping
from bloombench.models.factorization import ExplicitFactorizationModel, ImplicitFactorizationModel
from bloombench.models.feedforward import ACTIVATIONS, FeedForwardModel, FeedForwardNet
from bloombench.models.losses import (
    IMPLICIT_LOSSES,
    OUTPUT_LOSSES,
    adaptive_hinge_loss,
    bernoulli_cross_entropy,
    bpr_loss,
    cosine_loss,
    get_implicit_loss,
    get_output_loss,
    hinge_loss,
    pointwise_loss,
    regression_loss,
    softmax_cross_entropy,
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
from bloombench.models.floors import FloorModel
from bloombench.models.popularity import PopularityModel, SequencePopularityModel
from bloombench.models.random_ranking import RandomModel, SequenceRandomModel
from bloombench.models.registry import DEFAULT_KIND, available_models, get_model, make_model, model_defaults
from bloombench.models.sampling import sample_items
from bloombench.models.sequence import ImplicitSequenceModel, NextItemModel
from bloombench.models.training import OPTIMIZERS, FitHistory, FitOptions, LazyAdam, resolve_device, train

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_KIND",
    "IMPLICIT_LOSSES",
    "OPTIMIZERS",
    "OUTPUT_LOSSES",
    "PADDING_IDX",
    "BilinearNet",
    "CNNNet",
    "EarlyStopping",
    "EmbeddingFactory",
    "ExplicitFactorizationModel",
    "FeedForwardModel",
    "FeedForwardNet",
    "FitHistory",
    "FitOptions",
    "FloorModel",
    "ImplicitFactorizationModel",
    "ImplicitSequenceModel",
    "LSTMNet",
    "LazyAdam",
    "Model",
    "NextItemModel",
    "PoolNet",
    "PopularityModel",
    "RandomModel",
    "SequenceNet",
    "SequencePopularityModel",
    "SequenceRandomModel",
    "adaptive_hinge_loss",
    "available_models",
    "bernoulli_cross_entropy",
    "bpr_loss",
    "cosine_loss",
    "default_embedding_factory",
    "get_implicit_loss",
    "get_model",
    "get_output_loss",
    "hinge_loss",
    "make_model",
    "make_sequence_net",
    "model_defaults",
    "pointwise_loss",
    "regression_loss",
    "resolve_device",
    "sample_items",
    "softmax_cross_entropy",
    "train",
]
