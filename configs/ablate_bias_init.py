"""The paper's initial biases of 1 vs biases of 0 (paper section 5).

    python -m alexnet_jax.main --config=configs/ablate_bias_init.py --workdir=/tmp/bias_init

The paper: "We initialized the weights in each layer from a zero-mean Gaussian distribution
with standard deviation 0.01. We initialized the neuron biases in the second, fourth, and
fifth convolutional layers, as well as in the fully-connected hidden layers, with the
constant 1. This initialization accelerates the early stages of learning by providing the
ReLUs with positive inputs." So the claim is about early training: the report's training
error every k-th epoch (each seed and their mean) and epochs to 25% training error.
`bias_one` is the paper's initialization (`model.init='paper'`); `zero_bias` keeps its
N(0, 0.01) weights and sets every bias to 0 (`model.init='paper_zero_bias'`), nothing else.

The claim is about the paper's net, fed as cuda-convnet fed it (0-255 pixels minus the mean
image, which its N(0, 0.01) weights are sized for), and trained by its SGD rule: the presets
here are `imagenette` (the default; a GPU job) and `imagenet`. The others are refused. The
small net's fan-ins are 3-10 times smaller than the paper net's, so N(0, 0.01) weights
shrink its signal several times more per layer, and at that scale neither initialization
leaves chance early on (measured on CIFAR-10: experiments/README.md); cuda-convnet's nets
take their initial weights from their layer files, with biases 0.
"""

from alexnet_jax.config import presets

PAPER_NET_PRESETS = ('imagenette', 'imagenet')


def get_config(arg=None):
  preset = arg or 'imagenette'
  if preset not in PAPER_NET_PRESETS:
    if preset not in presets.PRESETS:
      raise ValueError(f'unknown preset {preset!r}; choose one of '
                       f'{", ".join(presets.PRESETS)}')
    why = ("cuda-convnet's nets, which take their initial weights from their layer files "
           '(biases 0)' if preset == 'cuda_convnet' else
           "the small net, which stayed at chance early on with the paper's N(0, 0.01) "
           'weights')
    raise ValueError(f'ablate_bias_init needs the paper net and its initialization '
                     f'({", ".join(PAPER_NET_PRESETS)}); preset {preset!r} trains {why} (see '
                     'configs/ablate_bias_init.py)')
  config = presets.ablation_config(
      name='bias_init', preset=preset,
      variants={'bias_one': {}, 'zero_bias': {'model': {'init': 'paper_zero_bias'}}},
      baseline='bias_one',
      paper_claims={'zero_bias': 'slower early learning (ImageNet)'})
  config.model.init = 'paper'
  return config
