"""One-off migration: per-kind trial configs (the architecture change of issue 12).

Before it, every trial config held one ``model`` section for all model kinds (an implicit-factorization
record carried ``representation``, ``hidden``, sequence windows...) and the paper's feed-forward model named
its encoding under ``embedding``. Trial keys hash the resolved config, so every key changed. This script
rewrites each record of ``results/*/trials.jsonl`` in place (atomically): its config restructured for its
kind (the values it used are kept; fields its kind does not use are dropped; the feed-forward model's
``embedding`` section becomes ``encoding``), ``config_hash``, ``trial_key`` and ``selected_from`` recomputed,
and refreshes the ``spec.toml`` copy beside it. Afterwards ``bloombench run``/``reproduce`` resume from the
migrated records (``tests/test_committed_results.py`` checks that nothing is left to run).

Run once, from the checkout::

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
from bloombench.experiments.spec import load_spec
from bloombench.experiments.sweep import _spec_text
from bloombench.files import atomic_write


def migrate_config(old: dict[str, Any]) -> dict[str, Any]:
    """The per-kind config holding the values of an old union config."""
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
        out.append(record)
    for record in out:
        if record.get("selected_from") in keys:
            record["selected_from"] = keys[record["selected_from"]]
    return out


def _spec_of(folder: Path) -> tuple[str, tuple[str, ...]] | None:
    """(spec name, profiles) from the header line of the folder's ``spec.toml`` copy."""
    path = folder / "spec.toml"
    if not path.exists():
        return None
    header = path.read_text(encoding="utf-8").splitlines()[0]  # "# spec <path>[, profiles: a, b]"
    source, _, profiles = header.removeprefix("# spec ").partition(", profiles: ")
    return Path(source).stem, tuple(p.strip() for p in profiles.split(",") if p.strip())


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
        spec = _spec_of(path.parent)
        if spec is not None:
            atomic_write(path.parent / "spec.toml", _spec_text(load_spec(*spec)).encode("utf-8"))
        print(f"{path}: {len(migrated)} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
