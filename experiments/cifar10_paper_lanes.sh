#!/usr/bin/env bash
# The CPU sweeps of experiments/results/cifar10_paper/ (and cifar10_small/) in two
# single-threaded lanes, one per core: Figure 1's rate sweep (eight runs to 25% training
# error), the LRN sweep on the paper's r541 net (lrn_r541: lrn / no_lrn, seeds 0-2), the
# paper's pair's cc_13pct (lrn_paper_pair, seeds 0-2), overlapping pooling on r541
# (pooling_r541: its three non_overlapping runs; the overlapping ones are lrn_r541's `lrn`
# runs), PCA colour noise on r541 (pca_r541: its three `pca` runs; the no_pca ones are
# lrn_r541's `lrn` runs), crops and flips on r541 (augmentation_r541: its three
# `unaugmented` runs; the augmented ones are lrn_r541's `lrn` runs), weight decay on r541
# (weight_decay_r541: its three `no_weight_decay` runs; likewise), dropout, the paper's
# one-GPU net and crops and flips on the small net (dropout_small, columns_small,
# dropout_unaugmented, augmentation_small), depth on the small net (depth_small: conv4,
# then conv3 and conv4, left out; depth_long: the same at 30 epochs), the same LRN pair
# with a 200-epoch first phase (lrn_r541_long, seed 0), Figure 3 on the two-column r541 net
# (columns_r541), lrn_r541_long's seeds 1 and 2, then the committed sweeps on the r540 draft: LRN
# (lrn) and the three non-overlapping pooling runs (the overlapping ones are that LRN
# sweep's `lrn` runs).
#
#   experiments/cifar10_paper_lanes.sh SWEEP_CLONE RUNS_DIR [RUN ...]   # starts both lanes, returns
#   experiments/cifar10_paper_lanes.sh --list   # each run's config, committed runs and overrides
#
# RUN (optional, any number): only these runs, named EXPERIMENT/VARIANT/seedK, e.g.
# lrn_r541/no_lrn/seed2, pooling/non_overlapping/seed0 or rate_sweep/tanh_lr0p002/seed0 (a
# session that can finish two runs starts two); without any, every run not yet finished.
#
# LANE_CORES (environment, default "0 1"): the cores that get a lane, e.g. LANE_CORES=1 to
# start one lane on the core another sweep has just left. Lanes started by several calls
# with the same RUNS_DIR share its claims: a run is taken once, and a run whose lane has
# exited is free again.
#
# SWEEP_CLONE: a clone of this repository at a fixed commit (record it in the results
# README), so that changes on main cannot change a sweep halfway. RUNS_DIR gets the
# workdirs (one per experiment), the lanes' logs and the claims that keep two lanes off one
# run. Rerun it to continue after an interruption: finished runs are skipped, unfinished ones
# resume from their last checkpoint. Runs whose results are committed in the checkout this
# script lives in (experiments/results/cifar10_paper/.../runs) are skipped too, even when the
# sweep clone is older than those results. Where the cpu cgroup (v1) is writable, the lanes run in
# one with three times the default weight, so that they take both cores when nothing else
# runs and foreground work still gets about a third of a core.
set -euo pipefail
sweep() {  # every run, EXPERIMENT/VARIANT/seedK, in the order the lanes take them
  local seed variant
  # Figure 1's rate sweep, the longest runs (lowest tanh rates) first.
  for variant in tanh_lr0p002 tanh_lr0p005 scaled_tanh_lr0p005 scaled_tanh_lr0p01 \
                 tanh_lr0p02 scaled_tanh_lr0p02 relu_lr0p002 relu_lr0p005; do
    echo "rate_sweep/$variant/seed0"
  done
  for seed in 0 1 2; do
    for variant in lrn no_lrn; do echo "lrn_r541/$variant/seed$seed"; done
  done
  # The paper's pair: its cc_11pct side is lrn_r541's `lrn` (the same config), so only
  # cc_13pct runs here.
  for seed in 0 1 2; do echo "lrn_paper_pair/cc_13pct/seed$seed"; done
  # Pooling on the paper's net: its overlapping side is lrn_r541's `lrn` (the same config).
  for seed in 0 1 2; do echo "pooling_r541/non_overlapping/seed$seed"; done
  # PCA colour noise on the paper's net: its no_pca side is lrn_r541's `lrn` (the same
  # config); needs a clone with the preset (ablate_pca.py:cuda_convnet).
  for seed in 0 1 2; do echo "pca_r541/pca/seed$seed"; done
  # Crops and flips on the paper's net: its augmented side is lrn_r541's `lrn` (the same
  # config); needs a clone with the preset's committed runs (ablate_augmentation.py).
  for seed in 0 1 2; do echo "augmentation_r541/unaugmented/seed$seed"; done
  # Weight decay on the paper's net: its weight_decay side is lrn_r541's `lrn` (the same
  # config); needs a clone with the config (configs/ablate_weight_decay.py).
  for seed in 0 1 2; do echo "weight_decay_r541/no_weight_decay/seed$seed"; done
  # Dropout and the two columns on the project's small net (width 0.5, the cifar10 preset's
  # 10 epochs; results in ../cifar10_small/): `two_columns` is dropout_small's `dropout` (the
  # same config), so only `one_column` runs for columns_small. Needs a clone at or after
  # 1747161 (the training-split evaluation; 9ebe4aa: one_column halved at any width).
  for seed in 0 1 2; do
    for variant in dropout no_dropout; do echo "dropout_small/$variant/seed$seed"; done
    echo "columns_small/one_column/seed$seed"
  done
  # Dropout where the small net overfits: no crops or flips, 30 epochs (about 50 min per run).
  for seed in 0 1 2; do
    for variant in dropout no_dropout; do echo "dropout_unaugmented/$variant/seed$seed"; done
  done
  # Crops and flips on the same 30-epoch schedule: `unaugmented` is dropout_unaugmented's
  # `dropout` (the same config), so only `augmented` runs. Needs a clone with the config
  # (configs/ablate_augmentation.py).
  for seed in 0 1 2; do echo "augmentation_small/augmented/seed$seed"; done
  # Depth on the small net at the cifar10 preset's 10 epochs: `full` is dropout_small's
  # `dropout` (the same config), so only the nets without conv4 and without conv3 and conv4
  # run. Needs a clone with the config (configs/ablate_depth.py).
  for seed in 0 1 2; do
    for variant in no_conv4 no_conv3_conv4; do echo "depth_small/$variant/seed$seed"; done
  done
  # The same at 30 epochs (about an hour per run): `full` is augmentation_small's
  # `augmented` (the same config).
  for seed in 0 1 2; do
    for variant in no_conv4 no_conv3_conv4; do echo "depth_long/$variant/seed$seed"; done
  done
  # Run C: the LRN pair on the paper's net with a 200-epoch first phase (7.5-7.9 h per run on
  # one core; needs a clone at or after bb0c4eb, where the preset appeared).
  for variant in lrn no_lrn; do echo "lrn_r541_long/$variant/seed0"; done
  # Figure 3 on the paper's net split into two columns: its one_column side is lrn_r541's
  # `lrn` (the same config), so only two_columns runs; needs a clone with the preset
  # (configs/ablate_columns.py:cuda_convnet).
  for seed in 0 1 2; do echo "columns_r541/two_columns/seed$seed"; done
  # Run C's seeds 1 and 2, after Figure 3 (the seed-0 pair's differences were within what
  # lrn_r541's seed spread could undo; three seeds give the report its spread).
  for seed in 1 2; do
    for variant in lrn no_lrn; do echo "lrn_r541_long/$variant/seed$seed"; done
  done
  for seed in 0 1 2; do
    for variant in lrn no_lrn; do echo "lrn/$variant/seed$seed"; done
  done
  for seed in 0 1 2; do echo "pooling/non_overlapping/seed$seed"; done
}
experiment_of() {  # EXPERIMENT -> "CONFIG WORKDIR_NAME COMMITTED_RUNS [OVERRIDES]"
  # (COMMITTED_RUNS relative to experiments/results/cifar10_paper)
  case "$1" in
    dropout_small) echo "configs/ablate_dropout.py:cifar10 dropout_small ../cifar10_small/dropout/runs --config.model.width_multiplier=0.5" ;;
    dropout_unaugmented) echo "configs/ablate_dropout.py:cifar10_unaugmented dropout_unaugmented ../cifar10_small/dropout_unaugmented/runs" ;;
    augmentation_small) echo "configs/ablate_augmentation.py:cifar10_long augmentation_small ../cifar10_small/augmentation/runs" ;;
    depth_small) echo "configs/ablate_depth.py:cifar10 depth_small ../cifar10_small/depth/runs --config.model.width_multiplier=0.5" ;;
    depth_long) echo "configs/ablate_depth.py:cifar10_long depth_long ../cifar10_small/depth_long/runs" ;;
    columns_small) echo "configs/ablate_columns.py:cifar10 columns_small ../cifar10_small/columns/runs --config.model.width_multiplier=0.5" ;;
    rate_sweep) echo "configs/ablate_activation.py:cuda_convnet_rate_sweep rate_sweep figure1/rate_sweep/runs" ;;
    lrn_r541) echo "configs/ablate_lrn.py:cuda_convnet lrn_r541 lrn_r541/runs" ;;
    lrn_paper_pair) echo "configs/ablate_lrn.py:paper_pair lrn_paper_pair lrn_paper_pair/runs" ;;
    pooling_r541) echo "configs/ablate_pooling.py:cuda_convnet_r541 pooling_r541 pooling_r541/runs" ;;
    pca_r541) echo "configs/ablate_pca.py:cuda_convnet pca_r541 pca_r541/runs" ;;
    augmentation_r541) echo "configs/ablate_augmentation.py:cuda_convnet augmentation_r541 augmentation_r541/runs" ;;
    weight_decay_r541) echo "configs/ablate_weight_decay.py:cuda_convnet weight_decay_r541 weight_decay_r541/runs" ;;
    lrn_r541_long) echo "configs/ablate_lrn.py:cuda_convnet_long lrn_r541_long lrn_r541_long/runs" ;;
    columns_r541) echo "configs/ablate_columns.py:cuda_convnet columns_r541 columns_r541/runs" ;;
    lrn) echo "configs/ablate_lrn.py:cuda_convnet_r540 lrn80 lrn/runs" ;;
    *) echo "configs/ablate_$1.py:cuda_convnet ${1}80 $1/runs" ;;
  esac
}

if [ "${1:-}" = "--list" ]; then  # every run: NAME CONFIG WORKDIR_NAME COMMITTED_RUNS [OVERRIDES]
  sweep | while read -r name; do echo "$name $(experiment_of "${name%%/*}")"; done
  exit 0
fi
if [ "$#" -lt 2 ] || [ ! -d "$1/alexnet_jax" ]; then
  echo "usage: $0 SWEEP_CLONE RUNS_DIR [EXPERIMENT/VARIANT/seedK ...] (SWEEP_CLONE: a clone of alexnet_jax)" >&2
  exit 2
fi
all_runs=" $(sweep | tr '\n' ' ')"
for wanted in "${@:3}"; do
  if [[ "$all_runs" != *" $wanted "* ]]; then
    echo "error: no run $wanted; choose from:$all_runs" >&2
    exit 2
  fi
done
only=" ${*:3} "
clone=$(cd "$1" && pwd)
results=$(cd "$(dirname "$0")" && pwd)/results/cifar10_paper
mkdir -p "$2"
runs=$(cd "$2" && pwd)
mkdir -p "$runs/claims"

claim() {  # claim RUN: true if this lane may take it (unclaimed, or its lane has exited)
  local dir="$runs/claims/${1//\//_}" tmp pid
  tmp=$(mktemp -d "$runs/claims/.new.XXXXXX")
  echo "$BASHPID" > "$tmp/pid"
  if mv -T "$tmp" "$dir" 2>/dev/null; then return 0; fi  # atomic: fails if claimed
  rm -rf "$tmp"
  pid=$(cat "$dir/pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then return 1; fi
  echo "$BASHPID" > "$dir/pid"  # a claim left by a lane that has exited
}

lane() {  # lane CORE: takes each run of the sweep that no other lane has claimed
  local core=$1 name config workdir committed overrides
  while read -r name; do
    if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then continue; fi
    claim "$name" || continue
    read -r config workdir committed overrides < <(experiment_of "${name%%/*}")
    echo "$(date -u +%FT%TZ) lane $core starts $runs/$workdir ${name#*/}"
    (cd "$clone" && PYTHONPATH="$clone" taskset -c "$core" python -m alexnet_jax.main \
       --config="$config" --workdir="$runs/$workdir" \
       --config.ablation.only="${name#*/}" --config.ablation.committed_runs="$results/$committed" \
       $overrides) \
       </dev/null || true
    echo "$(date -u +%FT%TZ) lane $core ends $runs/$workdir ${name#*/}"
  done < <(sweep)
}

cgroup=/sys/fs/cgroup/cpu/alexnet_jax_lanes
if mkdir -p "$cgroup" 2>/dev/null && echo 3072 > "$cgroup/cpu.shares" 2>/dev/null; then
  echo "lanes run in $cgroup (cpu.shares 3072)"
else
  cgroup=""
fi
# Each lane starts 20 s after the one before: clones older than 4d51f82 write a sweep's
# ablation.json through one shared temporary name, and two runs starting in the same second
# made one of them fail.
delay=0
for core in ${LANE_CORES:-0 1}; do
  (
    if [ -n "$cgroup" ]; then echo "$BASHPID" > "$cgroup/cgroup.procs"; fi
    sleep "$delay"
    lane "$core"
  ) > "$runs/lane$core.log" 2>&1 &
  delay=$((delay + 20))
done
echo "lanes started on cores ${LANE_CORES:-0 1}; logs in $runs/lane<core>.log"
