"""The configs of imported weights (alexnet_jax/weights.py): `:torchvision` and `:caffe`;
the commands that import and evaluate them are in configs/pretrained.py.

The sources report 56.522% / 79.066% (torchvision) and 57.1% / 80.2% (Caffe)
top-1 / top-5 accuracy on ILSVRC-2012 validation; neither is measured here (no
ImageNet on this machine). The import writes this
config, resolved, as the run's config.json. Each field that differs from the
paper's recipe (configs/default.py:paper) says why.
"""

from alexnet_jax.config import default

SOURCES = ('torchvision', 'caffe')


def get_config(arg=None):
  """`arg`: torchvision (owt variant) | caffe (paper variant)."""
  if arg not in SOURCES:
    raise ValueError(f'configs/pretrained.py: unknown preset {arg!r}; allowed: '
                     f'{", ".join(SOURCES)}')
  config = default.get_config('paper')
  model, data = config.model, config.data
  data.resize_size = 256             # both: shorter side to 256, central crop (eval)
  config.optimizer.learning_rate = 0.001  # fine-tuning (--config.init_from): a tenth of the paper's
  if arg == 'torchvision':
    model.variant = 'owt'            # torchvision.models.alexnet: 64-192-384-256-256, no LRN
    model.columns = 1                # its conv2/4/5 see all maps of the layer before (no groups)
    model.lrn = False
    data.image_size = 224            # torchvision's AdaptiveAvgPool2d((6, 6)) is the identity
                                     # at 224 only; the import refuses other sizes
    data.normalization = 'torchvision'  # RGB, pixels in [0, 1], minus mean (0.485, 0.456,
                                     # 0.406), divided by std (0.229, 0.224, 0.225)
  else:
    model.variant = 'paper'          # Caffe's bvlc_alexnet: 96-256-384-384-256
    model.columns = 2                # its groups of conv2/4/5 (group: 2) are the two columns
    data.image_size = 227            # Caffe's crop size: 55x55 conv1 maps without padding
    data.normalization = 'caffe'     # BGR channel order, pixels 0-255, minus the mean pixel
                                     # (B, G, R) = (103.939, 116.779, 123.68)
    model.lrn_k = 1.0                # Caffe's LRN leaves k at its default 1 (paper: 2)
    model.lrn_n = 5                  # local_size: 5
    model.lrn_alpha = 1e-4 / 5       # Caffe's alpha 1e-4 is divided by local_size (lrn.from_torch)
    model.lrn_beta = 0.75
    model.lrn_across_columns = True  # Caffe normalizes the whole 96- (256-) map blob: windows
                                     # of maps 46-49 (126-129) reach into the other column
  return config
