#!/usr/bin/env bash
# Issue 17's GPU check: one call on a lent GPU machine, meant to finish in under 8 minutes. Prepare here:
#     bash tools/gpu-wheels.sh                 # the packages the device image lacks, as wheels in .whl/
# then, with the device tool, from the repository root (.git travels so asv can name the commit):
#     run(command="bash tools/gpu-check.sh", carry=[".whl", ".git"], timeout_s=600)
# It writes five files to $OUT (the device tool's folder; results/gpu/ when OUT is unset), to commit:
#     device.json        the GPU, torch and CUDA versions, the device's copy bandwidth (bytes read + written / s)
#     cuda-tests.txt     pytest -k cuda: every CUDA test and CUDA parameter of the suite
#     asv-cuda.json      asv run --quick over the CUDA parameters of the suite (BLOOMBENCH_ASV_DEVICES=cuda),
#                        in the machine's own Python (asv --python=same: nothing is installed or built)
#     speed-cuda.jsonl   the speed experiment's cuda profile (bloombench run speed --profile cuda)
#     gpu-check.log      each step, its exit status and its seconds
# Each step has its own time limit and a failing step does not stop the others. GPU_CHECK_ALLOW_CPU=1 runs the
# same steps without a GPU (a dry run of the plumbing: the CUDA parameters then skip).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
: > "$LOG"

step() {  # step NAME SECONDS COMMAND...: run COMMAND under a time limit, log its status and duration
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    echo "== $name (limit ${limit} s)" >> "$LOG"
    timeout "$limit" "$@"
    rc=$?
    echo "== $name: exit $rc after $((SECONDS - start)) s" >> "$LOG"
}

if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl >> "$LOG" 2>&1 || { echo "gpu-check: installing .whl/ failed (see $LOG)"; exit 1; }
    export PYTHONPATH="/tmp/site:$PWD" PATH="/tmp/site/bin:$PATH"
else
    export PYTHONPATH="$PWD"
fi
export PYTHONUNBUFFERED=1

python3 - "$OUT/device.json" <<'PY'
import json, platform, sys, time
import torch

info = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available()}
if torch.cuda.is_available():
    props = torch.cuda.get_device_properties(0)
    info.update(gpu=props.name, memory_bytes=props.total_memory, multiprocessors=props.multi_processor_count,
                capability=f"{props.major}.{props.minor}")
    # Copy bandwidth the suite's bandwidth targets are read against: 1 GiB device-to-device, read + written.
    src = torch.empty(2**28, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        dst.copy_(src)
    torch.cuda.synchronize()
    info["copy_bytes_per_second"] = 2 * 10 * src.numel() * 4 / (time.perf_counter() - start)
json.dump(info, open(sys.argv[1], "w"), indent=1)
print(json.dumps(info))
PY
if ! python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    if [ "${GPU_CHECK_ALLOW_CPU:-0}" != 1 ]; then
        echo "gpu-check: torch.cuda.is_available() is False here; set GPU_CHECK_ALLOW_CPU=1 for a dry run" | tee -a "$LOG"
        exit 2
    fi
    echo "gpu-check: no CUDA device: a dry run (CUDA tests and parameters skip)" | tee -a "$LOG"
fi

# 1. Every CUDA test and parameter (a module whose imports fail here is reported, not fatal: the others still run).
step cuda-tests 150 python3 -m pytest -q -p no:cacheprovider -k cuda --continue-on-collection-errors tests \
    > "$OUT/cuda-tests.txt" 2>&1

# 2. asv over the CUDA parameters, in this Python (asv needs the commit: .git must have travelled).
if commit=$(git rev-parse HEAD 2> /dev/null); then
    python3 -m asv machine --yes --machine bloombench-gpu >> "$LOG" 2>&1
    step asv 240 env BLOOMBENCH_ASV_DEVICES=cuda BLOOMBENCH_ASV_PROFILE=quick python3 -m asv run --quick \
        --python=same --set-commit-hash "$commit" --machine bloombench-gpu --show-stderr \
        --bench 'layers\.|optim\.|training\.|hashing\.HashIdsTorch|evaluation\.' >> "$LOG" 2>&1
    result=$(ls -t results/asv/bloombench-gpu/"${commit:0:8}"-*.json 2> /dev/null | head -1)
    [ -n "$result" ] && cp "$result" "$OUT/asv-cuda.json"
else
    echo "== asv: skipped, no git repository here (carry .git)" >> "$LOG"
fi

# 3. The speed experiment's cuda profile: every timed variant on the device, 1e4..1e6 rows, 3 seeds.
step speed 240 python3 -m bloombench.cli run speed --profile cuda --results-dir results --no-progress >> "$LOG" 2>&1
[ -f results/speed-cuda/trials.jsonl ] && cp results/speed-cuda/trials.jsonl "$OUT/speed-cuda.jsonl"
cat "$LOG"
