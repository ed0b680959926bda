"""Experiments: trial configs, the trial runner, its environment probe and the reproduce profiles.

The result store and the record schema are :mod:`bloombench.results` (torch-free, shared with the report).
"""

from bloombench.experiments.environment import environment
from bloombench.experiments.trial import DEFAULTS, config_hash, resolve_config, run_trial

__all__ = ["DEFAULTS", "config_hash", "environment", "resolve_config", "run_trial"]
