"""ReLU vs tanh (paper section 3.1, Figure 1).

    python -m alexnet_jax.main --config=configs/ablate_activation.py --workdir=/tmp/ablate_act
    python -m alexnet_jax.main --config=configs/ablate_activation.py:cifar10 --workdir=/tmp/ablate_act_c10
    python -m alexnet_jax.main --config=configs/ablate_activation.py:cuda_convnet --workdir=/tmp/figure1
    python -m alexnet_jax.main --config=configs/ablate_activation.py:cuda_convnet_lr_search --workdir=/tmp/figure1_lr
    python -m alexnet_jax.main --config=configs/ablate_activation.py:cuda_convnet_rate_sweep --workdir=/tmp/figure1_rates

Default preset (fashion_mnist): 2 variants x 3 seeds, about 12 minutes on a 2-core CPU
(about 2 minutes per run). The paper: a four-layer CNN with ReLUs reached 25% training
error on CIFAR-10 six times faster than with tanh; the report gives epochs to 25%
training error per variant (`epochs to 25%` column) and the curves.

Figure 1's protocol, which this config follows: the paper's training rule (SGD
with momentum 0.9), "No regularization of any kind was employed" (no dropout, no
weight decay, and here no crop or flip augmentation either), and each network's
learning rate chosen to train as fast as possible; in the small-net presets both
use 0.01 (the paper's initial rate), held constant so that late epochs are not
slowed by a decaying schedule. The optimizer matters: with Adam (the small
presets' default) tanh trained as fast as ReLU on CIFAR-10 here.

`cuda_convnet`: Figure 1 on the paper's own four-layer net, cuda-convnet's
`layers-conv-local-13pct.cfg` (`cc_13pct`: two convolutional and two locally-
connected layers, no normalization) trained with cuda-convnet's update rule without
weight decay, on full 32x32 images without crops or flips (the `cifar` provider
of cuda-convnet's convdata.py), at a constant rate until an epoch's mean
training error is at most 25% (`stop_at_train_error`, the paper's criterion), at
most 40 epochs (the paper's tanh net needed about 35). Each activation has its own rate
(`RATES`), chosen by `cuda_convnet_lr_search` (5 rates spanning 100x per
activation, 3 epochs, 1 seed; the criterion is the paper's: fastest to 25%
training error, else the lowest training error after 3 epochs).
"""

from alexnet_jax.config import presets

# Figure 1's learning rates (epsW) per activation on cc_13pct, from the search
# (experiments/results/cifar10_paper/figure1/lr_search/).
RATES = {'relu': 0.003, 'tanh': 0.01}
# 0.03 was added after the first search put tanh's best rate at its top (0.01).
SEARCH_RATES = (0.0003, 0.001, 0.003, 0.01, 0.03)
SCALED_TANH = {'activation': 'tanh', 'tanh_a': 1.7159, 'tanh_b': 2 / 3}  # LeCun et al. 1998
# Epochs to 25% against the rate (the issue's list; the chosen rates are the seeds' runs).
SWEEP_RATES = {'relu': (0.002, 0.005), 'tanh': (0.002, 0.005, 0.02),
               'scaled_tanh': (0.005, 0.01, 0.02)}
NEURONS = {'relu': {'activation': 'relu'}, 'tanh': {'activation': 'tanh'},
           'scaled_tanh': SCALED_TANH}
COMMITTED = 'experiments/results/cifar10_paper/figure1'


def _figure1(config, epochs):
  presets.cuda_convnet_config(config, variant='cc_13pct')
  config.optimizer.layer_weight_decay = False   # no regularization of any kind
  config.data.image_size = 32
  config.data.random_crop = False
  config.data.flip = False
  config.schedule.name = 'constant'
  config.num_epochs = float(epochs)
  config.eval_every_steps = 50000 // 128
  config.ablation.ten_views_eval = False       # no crops: one view is the image
  return config


def _rate_variant(neuron, rate):
  return f'{neuron}_lr{rate:g}'.replace('.', 'p')


def _rate_sweep():
  variants = {_rate_variant(neuron, rate): {'model': dict(NEURONS[neuron]),
                                            'optimizer': {'learning_rate': rate}}
              for neuron, rates in SWEEP_RATES.items() for rate in rates}
  config = presets.ablation_config(
      name='activation', preset='cuda_convnet', variants=variants,
      baseline=next(iter(variants)), seeds=(0,), cuda_convnet_ok=True, paper_claims={})
  config.ablation.committed_runs = f'{COMMITTED}/rate_sweep/runs'
  config = _figure1(config, epochs=40)
  config.stop_at_train_error = 0.25
  return config


def get_config(arg=None):
  if arg == 'cuda_convnet_rate_sweep':
    return _rate_sweep()
  if arg in ('cuda_convnet', 'cuda_convnet_lr_search'):
    search = arg == 'cuda_convnet_lr_search'
    if search:
      variants = {f'{activation}_lr{rate:g}'.replace('.', 'p'): {'model': {'activation': activation},
                                              'optimizer': {'learning_rate': rate}}
                  for activation in ('relu', 'tanh') for rate in SEARCH_RATES}
    else:
      variants = {activation: {'model': {'activation': activation},
                               'optimizer': {'learning_rate': rate}}
                  for activation, rate in RATES.items()}
    config = presets.ablation_config(
        name='activation', preset='cuda_convnet', variants=variants,
        baseline=next(iter(variants)), seeds=(0,) if search else (0, 1, 2), cuda_convnet_ok=True,
        paper_claims={'tanh': '~6x more epochs to 25% train error (CIFAR-10)'} if not search
        else {})
    config.ablation.committed_runs = f"{COMMITTED}/{'lr_search' if search else 'seeds'}/runs"
    config = _figure1(config, epochs=3 if search else 40)
    if not search:  # the paper's criterion ends each run: 25% training error (an epoch's mean)
      config.stop_at_train_error = 0.25
    return config
  config = presets.ablation_config(
      name='activation', preset=arg,
      variants={'relu': {}, 'tanh': {'model': {'activation': 'tanh'}}},
      baseline='relu',
      paper_claims={'tanh': '~6x more epochs to 25% train error (CIFAR-10)'})
  config.model.dropout_rate = 0.0
  config.optimizer.name = 'sgd'
  config.optimizer.learning_rate = 0.01
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 0.0
  config.data.random_crop = False
  config.data.crop_padding = 0
  config.data.flip = False
  config.data.pca_std = 0.0
  config.schedule.name = 'constant'
  return config
