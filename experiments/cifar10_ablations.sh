#!/bin/bash
# The committed CIFAR-10 ablations (experiments/results/cifar10_ablations/) on a 2-core CPU:
# the small net at width 0.5, 3 seeds, one single-threaded run per core at a time.
#   LRN on/off and overlapping/non-overlapping pooling: 3 epochs (the cifar10 preset's recipe:
#   dropout 0.5, weight decay 5e-4, crops and flips, Adam 1e-3, cosine).
#   ReLU vs tanh: 4 epochs, Figure 1's protocol (configs/ablate_activation.py: SGD 0.01,
#   momentum 0.9, no regularization or augmentation), plus seed 0 with Adam 1e-3.
# The pooling sweep's baseline (overlapping) is the LRN sweep's baseline (lrn), same config
# and seeds: its finished runs are copied rather than rerun.
# Usage: experiments/cifar10_ablations.sh SWEEP_DIR   (about 2 hours; rerun to resume)
set -euo pipefail
SWEEPS=${1:?usage: experiments/cifar10_ablations.sh SWEEP_DIR}
cd "$(dirname "$0")/.."
export XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SMALL="--config.model.width_multiplier=0.5"

run() {  # run CORE CONFIG SWEEP EPOCHS VARIANT/SEED [overrides...]
  local core=$1 config=$2 sweep=$3 epochs=$4 only=$5; shift 5
  taskset -c "$core" python -m alexnet_jax.main --config="$config" --workdir="$SWEEPS/$sweep" \
    $SMALL --config.num_epochs="$epochs" --config.ablation.only="$only" "$@"
}

lane0() {
  for seed in 0 1 2; do for v in relu tanh; do
    run 0 configs/ablate_activation.py:cifar10 activation 4 $v/seed$seed
  done; done
  for v in relu tanh; do
    run 0 configs/ablate_activation.py:cifar10 activation_adam 5 $v/seed0 \
      --config.optimizer.name=adam --config.optimizer.learning_rate=1e-3
  done
}

lane1() {
  for seed in 0 1 2; do
    for v in lrn no_lrn; do run 1 configs/ablate_lrn.py:cifar10 lrn 3 $v/seed$seed; done
    mkdir -p "$SWEEPS/pooling/overlapping"
    [ -d "$SWEEPS/pooling/overlapping/seed$seed" ] ||
      cp -r "$SWEEPS/lrn/lrn/seed$seed" "$SWEEPS/pooling/overlapping/seed$seed"
    run 1 configs/ablate_pooling.py:cifar10 pooling 3 non_overlapping/seed$seed
  done
  taskset -c 1 python -m alexnet_jax.main --config=configs/ablate_lrn.py:cifar10 \
    --workdir="$SWEEPS/lrn/lrn/seed0" --mode=kernels $SMALL --config.num_epochs=3
}

lane0 & lane1 & wait

OUT=experiments/results/cifar10_ablations
for name in lrn pooling activation activation_adam; do
  python -m alexnet_jax.report "$SWEEPS/$name" --out=$OUT/$name > /dev/null
done
python -m alexnet_jax.report "$SWEEPS/activation" --out=$OUT/activation_target50 \
  --target_train_error=0.5 > /dev/null
python -m alexnet_jax.report "$SWEEPS/activation_adam" --out=$OUT/activation_adam_target30 \
  --target_train_error=0.3 > /dev/null
cp "$SWEEPS/lrn/lrn/seed0/conv1_kernels."{png,json} $OUT/lrn/
