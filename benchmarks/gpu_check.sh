#!/usr/bin/env bash
# GPU check on a CUDA machine (a GPU node: `srun --gpus=1 -c 8 --mem 48G -t 30 bash
# benchmarks/gpu_check.sh`): trains, resumes and predicts with the real settings and
# writes benchmarks/results/gpu.json. Extra arguments go to benchmarks/gpu_check.py.
#
# Several GPUs (`train --procs N`, DDP on one node): on a node with N GPUs (`srun
# --gpus=4 -c 32 --mem 96G -t 60 bash benchmarks/gpu_check.sh`) it also trains the
# same group on 1 GPU and on all N and reports patches/s per GPU and the scaling from
# 1 to N (`--procs N` picks another N). The multi-GPU figures are NOT MEASURED YET: only
# the CPU fallback has run (`bash benchmarks/gpu_check.sh --device cpu --size 256 256
# --steps 3 --filters-base 8 --out /tmp/gpu-smoke.json`: 2 gloo processes).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python benchmarks/gpu_check.py "$@" 2>&1 | tee /tmp/dstl-gpu-check.log
