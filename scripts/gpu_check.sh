#!/usr/bin/env bash
# The GPU path: every experiment trained a few hundred steps on the CPU, on one GPU with mixed
# precision and with MirroredStrategy over all GPUs; steps/s side by side and the final loss.
# Exits 1 when a run fails or a loss is not finite. With no GPU, only the CPU runs happen.
#
#   scripts/gpu_check.sh --out DIR [--steps 300] [--experiments image.Digits,speech.Asr]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec .venv/bin/python -m liveri.benchmarks.gpu_check "$@"
