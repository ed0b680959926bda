"""The README's Python examples run as written and its byte figure is what the layer reports."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    assert tuple(namespace["vectors"].shape) == (2, 2, 32)
    assert namespace["layer"].memory_bytes() == 4_160_000
    assert namespace["qr"].memory_bytes() <= namespace["layer"].memory_bytes()


def test_readme_spec_example_is_a_valid_spec() -> None:
    from bloombench.experiments.spec import parse_spec

    (block,) = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    spec = parse_spec(block, profiles=("quick",))
    assert spec.experiment == "factorization-quick" and spec.search.trials == 4
    assert [v.label for v in spec.variants] == ["full", "bloom k=4", "cce", "full (low dim)", "popularity"]
    cce = spec.variants[2]
    assert cce.grid == {"embedding.params.bytes_ratio": [0.1, 0.2, 0.5]}  # grid_min 0.1 keeps all three
    assert spec.search.scope == "per-variant" and not spec.variants[-1].tuned
