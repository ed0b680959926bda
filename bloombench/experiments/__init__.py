"""Experiments: per-kind trial configs, specs and search, the sweep driver, executors, the trial runner."""

from bloombench.experiments.config import config_hash, default_config, resolve_config
from bloombench.experiments.store import ResultStore, environment, load_results
from bloombench.experiments.trial import run_trial

__all__ = ["ResultStore", "config_hash", "default_config", "environment", "load_results", "resolve_config",
           "run_trial"]
