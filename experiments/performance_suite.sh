#!/usr/bin/env bash
# Every measurement behind README's Performance section, in one go, so that a day's figures
# come from one quiet window on one machine (this VM's speed changes between days by up to
# 2x; figures from different windows do not compare).
#
#   experiments/performance_suite.sh OUT_DIR [PYTHON ...]      # default PYTHON: python
#
# For each PYTHON (an interpreter with this project and torch installed, e.g. a Python 3.11
# and a Python 3.13 environment: one row per JAX version in README), in this order:
#   OUT_DIR/jax-<v>-py<v>/vs_torch_b32/, vs_torch_b128/ experiments.benchmark_vs_torch
#   OUT_DIR/jax-<v>-py<v>/<net>/results.json             experiments.benchmark_cuda_convnet_vs_torch, one process per net
# and once, with the first PYTHON (it times NumPy and Pillow work, not JAX):
#   OUT_DIR/pipeline_throughput.json                      experiments.pipeline_throughput
# The same tools run one by one took about 40 minutes for two PYTHONs and the pipeline on the
# 2-core VM (2026-12-01). Each records the versions it ran with; run it with nothing else
# running (it warns when the load average says otherwise).
set -euo pipefail
if [ "$#" -lt 1 ]; then
  echo "usage: $0 OUT_DIR [PYTHON ...]" >&2
  exit 2
fi
out=$1
shift
pythons=("$@")
[ "${#pythons[@]}" -gt 0 ] || pythons=(python)
cd "$(dirname "$0")/.."
for py in "${pythons[@]}"; do  # check every interpreter before measuring anything
  if ! "$py" -c 'import alexnet_jax, jax, torch' 2>/dev/null; then
    echo "error: $py cannot import alexnet_jax, jax and torch (pip install -e . torch==2.13.0)" >&2
    exit 2
  fi
done
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
  echo "warning: load average $load: something else is running, and the figures will show it" >&2
fi
mkdir -p "$out"
for py in "${pythons[@]}"; do
  version=$("$py" -c 'import sys, jax; print(f"jax-{jax.__version__}-py{sys.version_info[0]}.{sys.version_info[1]}")')
  dir="$out/$version"
  echo "== $py ($version) -> $dir"
  "$py" -m experiments.benchmark_vs_torch --batch_sizes=32 --rounds=2 --steps=5 --warmup=3 --out="$dir/vs_torch_b32"
  "$py" -m experiments.benchmark_vs_torch --batch_sizes=128 --rounds=2 --steps=3 --warmup=3 --out="$dir/vs_torch_b128"
  for net in cc_11pct cc_11pct_r540 cc_13pct cc_18pct; do
    "$py" -m experiments.benchmark_cuda_convnet_vs_torch --variants="$net" --rounds=5 --calls=3 --out="$dir/$net"
  done
done
echo "== input pipeline (${pythons[0]})"
"${pythons[0]}" -m experiments.pipeline_throughput --out="$out/pipeline_throughput.json"
echo "wrote $out"
