"""bloombench: benchmark suite and reproducibility package for Bloom embeddings."""

__version__ = "0.1.0"
