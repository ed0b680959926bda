"""Experiments: trial configs, the trial runner, the result store and the reproduce profiles."""

from bloombench.experiments.store import ResultStore, environment, load_results
from bloombench.experiments.trial import DEFAULTS, config_hash, resolve_config, run_trial

__all__ = ["DEFAULTS", "ResultStore", "config_hash", "environment", "load_results", "resolve_config", "run_trial"]
