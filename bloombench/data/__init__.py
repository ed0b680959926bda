"""Interaction data: containers, filters, splits, dataset loaders and synthetic data."""

from bloombench.data.datasets import (
    ChecksumError,
    DatasetNotFoundError,
    available_datasets,
    default_data_dir,
    load_dataset,
)
from bloombench.data.filters import filter_min_interactions
from bloombench.data.generators import GENERATORS, STREAMS, generate, make_stream
from bloombench.data.interactions import Interactions, SequenceInteractions, remap_ids
from bloombench.data.parsing import MalformedDataError, RatingsFormat, parse_ratings
from bloombench.data.planted import planted
from bloombench.data.stream import InteractionStream, StreamPart, StreamWindow
from bloombench.data.splits import leave_last_out, random_split, temporal_split, user_split
from bloombench.data.statistics import dataset_statistics
from bloombench.data.synthetic import synthetic, zipf_rank_probabilities

__all__ = [
    "ChecksumError",
    "DatasetNotFoundError",
    "GENERATORS",
    "InteractionStream",
    "Interactions",
    "MalformedDataError",
    "RatingsFormat",
    "STREAMS",
    "SequenceInteractions",
    "StreamPart",
    "StreamWindow",
    "available_datasets",
    "dataset_statistics",
    "default_data_dir",
    "filter_min_interactions",
    "generate",
    "leave_last_out",
    "load_dataset",
    "make_stream",
    "parse_ratings",
    "planted",
    "random_split",
    "remap_ids",
    "synthetic",
    "temporal_split",
    "user_split",
    "zipf_rank_probabilities",
]
