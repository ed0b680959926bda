"""Experiments: per-kind trial configs, specs and search, the sweep driver, executors, the trial runner and its
environment probe, the reproduce profiles.

The result store and the record schema are :mod:`bloombench.results` (torch-free, shared with the report).
"""

from bloombench.experiments.config import config_hash, default_config, resolve_config
from bloombench.experiments.environment import environment
from bloombench.experiments.trial import run_trial

__all__ = ["config_hash", "default_config", "environment", "resolve_config", "run_trial"]
