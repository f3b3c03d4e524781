"""Two kernel columns vs one column (paper section 3.2; Figure 3 on cuda-convnet's net).

    python -m alexnet_jax.main --config=configs/ablate_columns.py --workdir=/tmp/ablate_columns
    python -m alexnet_jax.main --config=configs/ablate_columns.py:cifar10 \
        --config.model.width_multiplier=0.5 --workdir=/tmp/columns_small
    python -m alexnet_jax.main --config=configs/ablate_columns.py:cuda_convnet \
        --workdir=/tmp/columns_r541

The paper's one-GPU net had half the kernels in each convolutional layer except
the last (conv5), and the same fully-connected layers, so that both nets have
about the same number of parameters; `one_column` does the same here
(`model.halve_kernels_but_last`, relative to the base config's width, so that
`--config.model.width_multiplier=0.5` halves both nets). Default preset
(fashion_mnist): about 12 minutes on a 2-core CPU. The paper: the two
columns lower top-1/top-5 error by 1.7/1.2 points on ImageNet.

`cifar10` at width 0.5: the small net on CIFAR-10 for 10 epochs; `two_columns` is then
`ablate_dropout.py:cifar10`'s `dropout` run (the same config), so the lanes
(`experiments/cifar10_paper_lanes.sh`, `columns_small`) run only `one_column`; results in
experiments/results/cifar10_small/.

`cuda_convnet`: Figure 3's question on the paper's CIFAR-10 net trained its own way (conv1
drawn with std 1e-4, cuda-convnet's SGD; the small net's He draw and Adam left its conv1
kernels near their draw). `one_column` is r541's file (`cc_11pct`), which has one column,
and so lrn_r541's `lrn` run (the same config; a test checks every key); `two_columns` splits
it as the paper split its net (`model.columns=2`, cuda_convnet.CudaConvnet): 32 conv1
kernels per column, each seeing the image, local3 and fc10 reading both columns. Only
`two_columns` runs in the lanes (`columns_r541`; a step costs about what the one-column
net's does, so a run takes about as long as an lrn_r541 run: docs/performance_log.md);
results in experiments/results/cifar10_paper/columns_r541/, its conv1 kernels by
`--mode=kernels` on a run's directory. Not section 3.2's comparison: the split leaves conv2
and local4 half their connections (1.73 M weights against the file's 2.11 M), where the
paper's one-GPU net halved the kernels instead.
"""

from alexnet_jax.config import presets

COMMITTED = presets.CIFAR10_PAPER_RESULTS


def get_config(arg=None):
  if arg == 'cuda_convnet':
    config = presets.ablation_config(
        name='columns', preset=arg, cuda_convnet_ok=True,
        variants={'one_column': {}, 'two_columns': {'model': {'columns': 2}}},
        baseline='one_column',
        paper_claims={'two_columns': 'columns specialize: one colour-agnostic, one '
                                     'colour-specific (Figure 3, ImageNet)'})
    # Finished runs committed by earlier sessions are skipped.
    config.ablation.committed_runs = f'{COMMITTED}/columns_r541/runs'
    return config
  return presets.ablation_config(
      name='columns', preset=arg,
      variants={'two_columns': {},
                'one_column': {'model': {'columns': 1, 'halve_kernels_but_last': True}}},
      baseline='two_columns',
      paper_claims={'one_column': '+1.7 top-1, +1.2 top-5 (ImageNet)'})
