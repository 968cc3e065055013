#!/usr/bin/env bash
# The CUDA path, checked in one device call by a session that is lent a GPU machine:
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=540)
# That machine's python3 has torch (CUDA), pandas, scikit-learn, torchmetrics, matplotlib, safetensors and
# pyarrow; this checkout goes on PYTHONPATH (nothing to install). Results land in $OUT.
set -uo pipefail
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
# 1. The hand-derived backward pass against autograd, and fit with it, on CUDA (the same tests CI runs on CPU).
TORCHCLASSIFY_TEST_DEVICE=cuda timeout 180 python3 -m pytest -q -p no:cacheprovider tests/test_manual_backward.py \
    2>&1 | tee "$OUT/pytest_cuda.log"
# 2. train / reload / predict on CUDA with and without AMP against the CPU, and the wide workload's speed.
timeout 300 python3 benchmarks/gpu_check.py --out "$OUT" 2>&1 | tee "$OUT/gpu_check.log"
