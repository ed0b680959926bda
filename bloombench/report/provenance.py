"""Where and how the trials ran: machine description, environment and config tables, spec files.

Everything comes from the records (their ``environment`` and ``config`` fields) and from files next to
them under ``results/<experiment>/``; nothing is read from the machine that builds the report.
"""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import pandas as pd

from bloombench.report.prepare import FLOOR_KINDS, value_text

__all__ = ["SPEC_PATTERNS", "config_table", "context_description", "environment_table", "machine_description",
           "spec_description", "spec_explanations", "spec_files", "wrap"]

#: Files under ``results/<experiment>/`` shown verbatim as the experiment's spec.
SPEC_PATTERNS = ("*.toml", "*.yaml", "*.yml", "spec*.json")
_ENVIRONMENT = ("environment.cpu", "environment.cpu_count", "environment.gpu", "device", "environment.platform",
                "environment.python", "environment.torch", "environment.numpy", "environment.bloombench",
                "environment.git_commit")
# Where a trial's data lives is not what it is: left out of the config table.
_NOT_CONFIG = ("config.dataset.data_dir",)


def _distinct(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return []
    return sorted({t for t in frame[column].map(value_text) if t})


def machine_description(frame: pd.DataFrame) -> str:
    """One line naming the machines, devices, torch versions and commits the trials of ``frame`` ran on."""
    if frame.empty or not any(c in frame.columns for c in _ENVIRONMENT):
        return "Machine: not recorded."
    machines = set()
    for _, row in frame.iterrows():
        cpu = value_text(row.get("environment.cpu")) or "unknown CPU"
        cores = value_text(row.get("environment.cpu_count"))
        gpu = value_text(row.get("environment.gpu"))
        machines.add(cpu + (f" ({cores} cores)" if cores else "") + (f" + GPU {gpu}" if gpu else ""))
    parts = ["Machine: " + "; ".join(sorted(machines))]
    devices = _distinct(frame, "device") or _distinct(frame, "config.training.device")
    if devices:
        parts.append("device " + ", ".join(devices))
    torch_versions = _distinct(frame, "environment.torch")
    if torch_versions:
        parts.append("torch " + ", ".join(torch_versions))
    commits = [c[:10] for c in _distinct(frame, "environment.git_commit")]
    if commits:
        parts.append("commit " + ", ".join(commits) if len(commits) <= 3 else f"{len(commits)} commits")
    return " · ".join(parts) + "."


def context_description(frame: pd.DataFrame) -> str:
    """Dataset, model, epochs and number of seeds and trials of ``frame``, in one line."""
    parts = []
    datasets = _distinct(frame, "config.dataset.name")
    if datasets:
        parts.append("data " + ", ".join(datasets))
    kinds = _distinct(frame, "config.model.kind")
    floors = [k for k in kinds if k in FLOOR_KINDS]
    kinds = [k for k in kinds if k not in FLOOR_KINDS]
    if kinds:
        model = "/".join(kinds)
        losses = _distinct(frame, "config.model.loss")
        if losses and kinds != ["explicit"]:
            model += " (" + ", ".join(losses) + " loss)"
        if "sequence" in kinds:
            model += " " + ", ".join(_distinct(frame, "config.model.representation"))
        dims = _distinct(frame, "config.model.embedding_dim")
        parts.append(f"{model} model" + (", dim " + ", ".join(dims) if dims else ""))
    if floors:
        parts.append(" and ".join(floors) + " floor" + ("s" if len(floors) > 1 else ""))
    epochs = _distinct(frame, "config.training.epochs")
    if epochs:
        parts.append(", ".join(epochs) + (" epoch" if epochs == ["1"] else " epochs"))
    seeds = _distinct(frame, "config.training.seed")
    if seeds:
        parts.append(f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}")
    parts.append(f"{len(frame)} trial{'s' if len(frame) != 1 else ''}")
    return " · ".join(parts)


def wrap(text: str, width: int = 160) -> str:
    """``text`` broken into lines of at most ``width`` characters (figure footnotes)."""
    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False))


def environment_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Each distinct recorded environment (machine, device, versions, commit) with its trial count."""
    columns = [c for c in _ENVIRONMENT if c in frame.columns]
    if frame.empty or not columns:
        return pd.DataFrame(columns=["trials"])
    keys = ["experiment", *columns] if "experiment" in frame.columns else columns
    texts = frame[keys].map(value_text)
    table = texts.groupby(keys, sort=True).size().rename("trials").reset_index()
    return table.rename(columns=lambda c: c.removeprefix("environment."))


def config_table(frame: pd.DataFrame, max_values: int = 8) -> pd.DataFrame:
    """Every config setting of the trials: its value when all trials share it, else the values it takes.

    Returns
    -------
    DataFrame
        Columns ``setting`` (dotted, without the ``config.`` prefix), ``value`` and ``varies`` (bool).
    """
    rows = []
    for column in sorted(c for c in frame.columns if c.startswith("config.") and c not in _NOT_CONFIG):
        values = sorted({value_text(v) for v in frame[column]} - {""})
        if not values:
            continue
        shown = ", ".join(values[:max_values]) + (f", … ({len(values)} values)" if len(values) > max_values else "")
        rows.append({"setting": column.removeprefix("config."), "value": shown, "varies": len(values) > 1})
    return pd.DataFrame(rows, columns=["setting", "value", "varies"])


def spec_files(results_dir: str | Path, experiment: str) -> list[Path]:
    """Spec files (:data:`SPEC_PATTERNS`) stored in ``<results_dir>/<experiment>/``, sorted by name."""
    folder = Path(results_dir) / experiment
    found = {p for pattern in SPEC_PATTERNS for p in folder.glob(pattern) if p.is_file()}
    return sorted(found)


def _specs(paths: list[Path]) -> list[dict]:
    """The TOML specs among ``paths`` that parse, in order."""
    parsed = []
    for path in paths:
        if path.suffix != ".toml":
            continue
        try:
            parsed.append(tomllib.loads(path.read_text(encoding="utf-8")))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):  # unreadable: shown as it is, or not
            continue
    return parsed


def spec_explanations(paths: list[Path]) -> dict[str, str]:
    """The ``[explanations]`` of the first TOML spec among ``paths`` that has them (``{}`` when none does):
    the text a flagged finding is explained by, whitespace collapsed."""
    for spec in _specs(paths):
        table = spec.get("explanations")
        if isinstance(table, dict) and table:
            return {str(k): " ".join(str(v).split()) for k, v in table.items()}
    return {}


def spec_description(paths: list[Path]) -> str:
    """The ``description`` of the first TOML spec among ``paths`` that has one ('' when none does).

    Looked up at the top level and in an ``[experiment]`` table; a spec that does not parse is skipped
    (it is still shown verbatim in the report).
    """
    for spec in _specs(paths):
        section = spec.get("experiment")
        for text in (spec.get("description"), section.get("description") if isinstance(section, dict) else None):
            if isinstance(text, str) and text.strip():
                return " ".join(text.split())
    return ""
