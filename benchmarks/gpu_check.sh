#!/usr/bin/env bash
# GPU check on a CUDA machine (a GPU node: `srun --gpus=1 -c 8 --mem 48G -t 30 bash
# benchmarks/gpu_check.sh`): trains, resumes and predicts with the real settings and
# writes benchmarks/results/gpu.json. Extra arguments go to benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python benchmarks/gpu_check.py "$@" 2>&1 | tee /tmp/dstl-gpu-check.log
