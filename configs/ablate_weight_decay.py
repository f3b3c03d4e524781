"""Weight decay on vs off (paper section 5).

    python -m alexnet_jax.main --config=configs/ablate_weight_decay.py --workdir=/tmp/wd541

The paper trained with weight decay 0.0005 and found "this small amount of weight decay was
important for the model to learn. In other words, weight decay here is not merely a
regularizer: it reduces the model's training error." So the claim is about training error:
the report's "final train top-1 err" (the last epoch's mean, logged alike for both variants)
and, where both sides have it, its overfitting table (10,000 training images evaluated as the
test split is). `no_weight_decay` sets the decay to zero and
changes nothing else.

The claim is about SGD's coupled decay (v <- 0.9 v - 0.0005 lr w - lr dL/dw), so the
presets here are the SGD ones. `cuda_convnet` (the default): the paper's r541 net
(`cc_11pct`) on the schedule of `ablate_lrn.py:cuda_convnet` (80 epochs, 3 seeds; about 2
hours per run on one core), where the decay is the layer file's own (wc: 0 on the conv
layers, 0.004 on local3 and local4, 0.01 on fc10) and `no_weight_decay` turns all of it off.
`weight_decay` is then lrn_r541's `lrn` run (the same config; a test checks every key), so
only `no_weight_decay` runs in the lanes (`weight_decay_r541`); results in
experiments/results/cifar10_paper/weight_decay_r541/. `imagenette` and `imagenet`: the
paper's net and update rule, decay 0.0005 against 0.
`fashion_mnist` and `cifar10` are refused: they train the small net with AdamW, whose
decoupled decay at their learning rate (1e-3) shrinks each weight by 5e-7 of itself per step
(0.2% over 10 epochs), too little to ablate.
"""

from alexnet_jax.config import presets

COMMITTED = presets.CIFAR10_PAPER_RESULTS
ADAMW_PRESETS = ('fashion_mnist', 'cifar10')


def get_config(arg=None):
  preset = arg or 'cuda_convnet'
  if preset in ADAMW_PRESETS:
    raise ValueError(f'ablate_weight_decay needs an SGD preset (cuda_convnet, imagenette, '
                     f'imagenet); {preset!r} trains with AdamW, whose decay at its learning '
                     'rate is too small to ablate')
  # cuda-convnet's update rule takes each layer's decay from the layer file; the paper's SGD
  # takes one decay for every layer.
  off = ({'layer_weight_decay': False} if preset == 'cuda_convnet'
         else {'weight_decay': 0.0})
  config = presets.ablation_config(
      name='weight_decay', preset=preset,
      variants={'weight_decay': {}, 'no_weight_decay': {'optimizer': off}},
      cuda_convnet_ok=True,
      baseline='weight_decay',
      paper_claims={'no_weight_decay': 'higher training error (ImageNet)'})
  if preset == 'cuda_convnet':
    # Finished runs committed by earlier sessions are skipped.
    config.ablation.committed_runs = f'{COMMITTED}/weight_decay_r541/runs'
  return config
