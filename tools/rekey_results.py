"""Rekey committed results: restructure every record to the current trial-config schema, recompute its keys.

A trial's key hashes its resolved config, so a change of the config schema re-keys every trial: a new field
(``training.patience`` for early stopping), a field a kind stops using, or the per-kind configs of issue 12
(before them every config held one ``model`` section for all kinds, and the paper's feed-forward model
named its encoding under ``embedding``). This script rewrites each record of ``results/*/trials.jsonl`` in
place (atomically): its config restructured for its kind with the values it used (fields its kind does not
use are dropped; fields it lacks take their defaults, which is what the trial ran with: ``patience`` None
is no early stopping; the feed-forward model's ``embedding`` section becomes ``encoding``), and
``config_hash``, ``trial_key`` and ``selected_from`` recomputed; measured fields added since take what
such a run records (``best_epoch``: the last epoch; ``validation_per_epoch``: empty, no early stopping).
Nothing is rerun and no measurement changes.

The ``spec.toml`` copy beside the records is left as it is: it is the spec the records were produced with
(a run of the shipped spec rewrites it). ``tests/test_committed_results.py`` checks that each copy, parsed
by the current code, plans exactly trials recorded ``ok`` under their new keys (a run of it resumes with
nothing left to run), and that experiments whose shipped spec is unchanged resume likewise.

Run from the checkout after a schema change::

    python tools/rekey_results.py results/

Running it again changes nothing (a migrated record converts to itself).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from bloombench.experiments.config import config_hash, default_config, identity_config
from bloombench.files import atomic_write


def migrate_config(old: dict[str, Any]) -> dict[str, Any]:
    """The current config of an old record's kind holding the values the old config names."""
    kind = old.get("model", {}).get("kind", "implicit")
    new = default_config(kind)
    for section, values in new.items():
        source = old.get(section, {})
        if section == "encoding" and "encoding" not in old:  # the paper's model named it "embedding"
            source = old.get("embedding", {})
        for key in values:
            if key in source:
                values[key] = copy.deepcopy(source[key])
    return new


def trial_key(config: dict[str, Any], phase: str) -> str:
    """The key a spec gives this trial (:func:`bloombench.experiments.spec._trial_key`)."""
    return config_hash({"phase": phase, "config": identity_config(config)})


def migrate_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with migrated configs and keys; ``selected_from`` follows its search trial's new key."""
    keys: dict[str, str] = {}
    out = []
    for record in records:
        record = dict(record)
        try:
            config = migrate_config(record["config"])
            key = trial_key(config, record.get("phase", "final"))
        except (KeyError, TypeError, ValueError) as error:  # a failed trial whose config never resolved
            print(f"  kept as is ({error}): {record.get('trial_key')}", file=sys.stderr)
            out.append(record)
            continue
        keys[record["trial_key"]] = key
        record.update(config=config, config_hash=config_hash(config), trial_key=key)
        if "seconds_per_epoch" in record:  # measured fields added since: what such a run would record
            record.setdefault("best_epoch", len(record["seconds_per_epoch"]) or None)
            record.setdefault("validation_per_epoch", [])
        out.append(record)
    for record in out:
        if record.get("selected_from") in keys:
            record["selected_from"] = keys[record["selected_from"]]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    args = parser.parse_args(argv)
    for path in sorted(args.results_dir.glob("*/trials.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
        migrated = migrate_records(records)
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in migrated)
        atomic_write(path, text.encode("utf-8"))
        print(f"{path}: {len(migrated)} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
