#!/usr/bin/env bash
# Fetch the wheels of tools/gpu-wheels.txt, at the versions constraints.txt pins, for the GPU machine
# (CPython 3.12, x86-64 Linux) into .whl/ (git-ignored), through pip from the package registry. Run here,
# before the device tool carries .whl/ there (tools/gpu-check.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1 manylinux_2_5; do
    platforms+=(--platform "${tag}_x86_64")
done
grep -v '^\s*#' tools/gpu-wheels.txt | grep -v '^\s*$' | while read -r name; do
    pin=$(grep -i -m1 "^${name}==" constraints.txt) || { echo "gpu-wheels: $name is not pinned in constraints.txt" >&2; exit 1; }
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${platforms[@]}" -d .whl "$pin"
done
ls .whl
