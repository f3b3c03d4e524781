"""Known AlexNet weights as ordinary run directories: torchvision's and Caffe's.

    python -m alexnet_jax.weights import-torchvision SRC.pth DEST_DIR
    python -m alexnet_jax.weights import-caffe-npy SRC.npy DEST_DIR

* `import-torchvision`: a `torch.save`d `state_dict` of `torchvision.models.alexnet`
  (keys `features.0.weight` ... `classifier.6.bias`) into the `owt` variant with one
  column (torchvision's conv2/4/5 see every map of the layer before).
  torchvision's `AdaptiveAvgPool2d((6, 6))` is the identity at 224x224 input, the
  only size the imported run accepts.
* `import-caffe-npy`: the NumPy export of Caffe's bvlc_alexnet that the
  TensorFlow/Keras ports load (a pickled dict `{'conv1': [W, b], ..., 'fc8': [W, b]}`,
  conv kernels (h, w, in, out), fc6's rows in (h, w, channel) order; conv2, conv4
  and conv5 are Caffe's `group: 2` layers, whose kernels have half the input
  depth) into the `paper` variant: the two groups are the two columns.
  Its LRN differs from the paper's two-column net in one respect: Caffe
  normalizes the whole 96- (256-) map blob, so the windows of the two maps on
  each side of the column boundary reach into the other column, where the
  paper's two GPUs each normalized their own maps. The imported run's config
  therefore sets `model.lrn_across_columns` (configs/pretrained.py:caffe).
  The file is a pickle: import only files you trust.

Each import writes DEST_DIR as a training run at step 0 would leave it:
`config.json` (configs/pretrained.py:torchvision or :caffe, resolved, with the
source's input convention and LRN constants), `import.json` (the source file and
its SHA-256) and an orbax checkpoint `checkpoints/0` in checkpoints.py's layout
(params, the optimizer's initial state, meta). It is written to a temporary
directory beside DEST_DIR and renamed when complete. Files that do not match
(another model's state_dict, missing or extra keys, wrong shapes) are refused
with one line before anything is written.

Column mapping (alexnet.py): a layer that sees the whole previous layer (conv1,
conv3, fc6, fc7, and every layer of a one-column net) gives each column its share
of the output kernels, column 0 first; a grouped layer gives group g to column g;
fc6's input is the columns' flattened (h, w, channel) maps, column 0 first.
"""

import hashlib
import math
import os
import shutil
import sys
import tempfile

import jax
import numpy as np
from absl import flags

from alexnet_jax.config import pretrained
from alexnet_jax.errors import WeightsError
from alexnet_jax.models import alexnet
from alexnet_jax.runtime import cli, console, results_io
from alexnet_jax.training import checkpoints, optimizers, run_files

TORCHVISION_CONV = ('features.0', 'features.3', 'features.6', 'features.8', 'features.10')
TORCHVISION_DENSE = ('classifier.1', 'classifier.4', 'classifier.6')
CAFFE_LAYERS = ('conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8')
# Caffe's bvlc_alexnet deploy.prototxt: `group: 2` in conv2, conv4 and conv5.
CAFFE_GROUPS = {'conv1': 1, 'conv2': 2, 'conv3': 1, 'conv4': 2, 'conv5': 2}


def _shape(array) -> tuple:
  return tuple(int(d) for d in np.shape(array))


def _check_shape(src, name, array, expected):
  if _shape(array) != tuple(expected):
    raise WeightsError(f'{src}: {name} has shape {_shape(array)}, the AlexNet layout '
                       f'expects {tuple(expected)}')


def _key_difference(missing, extra, wanted: int) -> str:
  parts = []
  if missing:
    parts.append(f'missing {len(missing)} of its {wanted} entries: {", ".join(missing[:3])}'
                 + (', ...' if len(missing) > 3 else ''))
  if extra:
    parts.append(f'{len(extra)} unexpected: {", ".join(extra[:3])}'
                 + (', ...' if len(extra) > 3 else ''))
  return '; '.join(parts)


def _config(source: str):
  return pretrained.get_config(source)


def _fc6_rows(order: str, channels: int, side: int, columns: int) -> np.ndarray:
  """For each fc6 input row of the columns (column 0 first, each flattened
  (h, w, channel)), its row in a source flattened `order` ('chw': torch's NCHW
  flatten; 'hwc': NHWC, the TensorFlow ports)."""
  if order == 'chw':
    index = np.arange(channels * side * side).reshape(channels, side, side).transpose(1, 2, 0)
  else:
    index = np.arange(side * side * channels).reshape(side, side, channels)
  per_column = channels // columns
  return np.concatenate([index[:, :, c * per_column:(c + 1) * per_column].reshape(-1)
                         for c in range(columns)])


def to_columns(config, layers: dict, fc6_order: str) -> dict:
  """The model's parameter tree from whole layers {name: (kernel, bias)}: conv
  kernels (h, w, in per group, out), dense kernels (in, out) with fc6's rows in
  `fc6_order`. A grouped layer must have as many groups as the model has columns."""
  arch = alexnet.ARCHITECTURES[config.model.variant]
  columns = config.model.columns
  params = {f'column{c}': {} for c in range(columns)}
  for layer in arch.conv + arch.dense:
    kernel, bias = (np.asarray(a, np.float32) for a in layers[layer.name])
    out = kernel.shape[-1] // columns
    if layer.name == 'fc6':
      channels = arch.conv[-1].features
      side = math.isqrt(kernel.shape[0] // channels)
      kernel = kernel[_fc6_rows(fc6_order, channels, side, columns)]
    for c in range(columns):
      params[f'column{c}'][layer.name] = {'kernel': kernel[..., c * out:(c + 1) * out],
                                          'bias': bias[c * out:(c + 1) * out]}
  kernel, bias = (np.asarray(a, np.float32) for a in layers['fc8'])
  params['fc8'] = {'kernel': kernel, 'bias': bias}
  return params


def _expected_layers(config, groups: dict) -> dict:
  """{name: (kernel shape, bias shape)} of whole layers in (h, w, in/group, out) /
  (in, out) form for the config's architecture, fc8 excluded."""
  arch = alexnet.ARCHITECTURES[config.model.variant]
  shapes, depth = {}, config.data.channels
  for layer in arch.conv:
    shapes[layer.name] = ((layer.kernel, layer.kernel, depth // groups.get(layer.name, 1),
                           layer.features), (layer.features,))
    depth = layer.features
  sizes = alexnet.feature_map_sizes(config.model.variant, config.data.image_size,
                                    config.model.pooling)
  side = list(sizes.values())[-1]  # after the last conv layer's pooling
  width = side * side * depth
  for layer in arch.dense:
    shapes[layer.name] = ((width, layer.features), (layer.features,))
    width = layer.features
  return shapes


# ---------------------------------------------------------------------------
# torchvision
# ---------------------------------------------------------------------------


def read_torchvision(src: str) -> dict:
  """The state_dict in `src` as {key: float32 array}; WeightsError if it is not one."""
  try:
    import torch  # deferred: an optional package, only this importer needs it
  except ImportError:
    raise WeightsError('reading a .pth file needs PyTorch (pip install torch)') from None
  try:
    state = torch.load(src, map_location='cpu', weights_only=True)
  except FileNotFoundError:
    raise WeightsError(f'{src}: no such file') from None
  except Exception as error:
    first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ''
    raise WeightsError(f'{src}: not a PyTorch state_dict that loads with weights_only=True '
                       f'(save model.state_dict(), not the model; {error.__class__.__name__}: '
                       f'{first})') from None
  if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
    raise WeightsError(f'{src}: holds a {type(state).__name__} that is not a state_dict '
                       '(a dict of tensors, as model.state_dict() returns)')
  return {key: value.detach().to(torch.float32).numpy() for key, value in state.items()}


def torchvision_layers(state: dict, src: str, config) -> dict:
  """{layer: (kernel, bias)} in to_columns' form from torchvision's keys, checked."""
  arch = alexnet.ARCHITECTURES[config.model.variant]
  names = [layer.name for layer in arch.conv + arch.dense] + ['fc8']
  prefixes = dict(zip(names, TORCHVISION_CONV + TORCHVISION_DENSE))
  wanted = [f'{prefix}.{kind}' for prefix in prefixes.values() for kind in ('weight', 'bias')]
  missing = [key for key in wanted if key not in state]
  extra = sorted(set(state) - set(wanted))
  if missing or extra:
    raise WeightsError(f"{src}: not torchvision's AlexNet state_dict "
                       f'({_key_difference(missing, extra, len(wanted))})')
  expected = _expected_layers(config, {})
  layers = {}
  for name, prefix in prefixes.items():
    weight, bias = state[f'{prefix}.weight'], state[f'{prefix}.bias']
    if name == 'fc8':
      _check_shape(src, f'{prefix}.weight', weight, (weight.shape[0], expected['fc7'][0][1]))
      _check_shape(src, f'{prefix}.bias', bias, (weight.shape[0],))
      layers[name] = (weight.T, bias)
      continue
    kernel_shape, bias_shape = expected[name]
    if weight.ndim == 4:  # torch (out, in, h, w) -> (h, w, in, out)
      _check_shape(src, f'{prefix}.weight', weight,
                   (kernel_shape[3], kernel_shape[2], kernel_shape[0], kernel_shape[1]))
      kernel = weight.transpose(2, 3, 1, 0)
    else:
      _check_shape(src, f'{prefix}.weight', weight, kernel_shape[::-1])
      kernel = weight.T
    _check_shape(src, f'{prefix}.bias', bias, bias_shape)
    layers[name] = (kernel, bias)
  return layers


# ---------------------------------------------------------------------------
# Caffe (the NumPy export)
# ---------------------------------------------------------------------------


def read_caffe_npy(src: str) -> dict:
  """The pickled {layer: [W, b]} dict in `src`; WeightsError if it is not one."""
  try:
    loaded = np.load(src, allow_pickle=True, encoding='latin1')
  except FileNotFoundError:
    raise WeightsError(f'{src}: no such file') from None
  except Exception as error:
    raise WeightsError(f'{src}: not a NumPy .npy file ({error.__class__.__name__})') from None
  if isinstance(loaded, np.ndarray) and loaded.dtype == object and loaded.shape == ():
    loaded = loaded.item()
  if not isinstance(loaded, dict):
    raise WeightsError(f"{src}: holds a {type(loaded).__name__}, not the dict "
                       "{'conv1': [W, b], ..., 'fc8': [W, b]} of the bvlc_alexnet export")
  return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in loaded.items()}


def caffe_layers(layers: dict, src: str, config) -> dict:
  """{layer: (kernel, bias)} in to_columns' form from the export's entries, checked."""
  missing = [name for name in CAFFE_LAYERS if name not in layers]
  extra = sorted(set(layers) - set(CAFFE_LAYERS))
  if missing or extra:
    raise WeightsError(f'{src}: not the bvlc_alexnet export '
                       f'({_key_difference(missing, extra, len(CAFFE_LAYERS))})')
  expected = _expected_layers(config, CAFFE_GROUPS)
  result = {}
  for name in CAFFE_LAYERS:
    entry = layers[name]
    if not isinstance(entry, (list, tuple)) or len(entry) != 2:
      raise WeightsError(f'{src}: {name} is not a [W, b] pair')
    kernel, bias = (np.asarray(a) for a in entry)
    if name == 'fc8':
      kernel_shape = (expected['fc7'][0][1], kernel.shape[-1] if kernel.ndim == 2 else -1)
      bias_shape = (kernel_shape[1],)
    else:
      kernel_shape, bias_shape = expected[name]
    _check_shape(src, f'{name} W', kernel, kernel_shape)
    _check_shape(src, f'{name} b', bias, bias_shape)
    result[name] = (kernel, bias)
  return result


# ---------------------------------------------------------------------------
# Run directories
# ---------------------------------------------------------------------------


def _sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def _check_dest(dest: str):
  if os.path.exists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
    raise WeightsError(f'{dest} exists and is not an empty directory; choose a new DEST_DIR')


def write_run(config, params, dest: str, source: dict) -> str:
  """Writes the run directory `dest` (config.json, import.json, checkpoints/0) via a
  temporary directory beside it, renamed when complete."""

  _check_dest(dest)
  model = alexnet.create_model(config.model)
  image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  abstract = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), image_shape))
  got = {jax.tree_util.keystr(p): _shape(v)
         for p, v in jax.tree_util.tree_flatten_with_path(params)[0]}
  want = {jax.tree_util.keystr(p): _shape(v)
          for p, v in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  if got != want:  # a mapping bug, not a user's file: the checks above passed
    raise AssertionError(f'imported tree differs from the model: {sorted(set(got) ^ set(want))}')
  parent = os.path.dirname(os.path.abspath(dest))
  os.makedirs(parent, exist_ok=True)
  temporary = tempfile.mkdtemp(prefix=f'.{os.path.basename(os.path.abspath(dest))}.importing-',
                               dir=parent)
  try:
    config_json = checkpoints.config_json(config)
    results_io.write_json_atomic(os.path.join(temporary, run_files.CONFIG), config_json)
    results_io.write_json_atomic(os.path.join(temporary, 'import.json'), source)
    optimizer = optimizers.create_optimizer(config.optimizer, model_variant=config.model.variant)
    state = optimizers.create_train_state(jax.tree.map(np.asarray, params), optimizer)
    meta = {'step': 0, 'seed': config.seed,
            'schedule': {'reductions': 0, 'best_error': None, 'evals_since_best': 0},
            'config': config_json, 'imported_from': source,
            'versions': checkpoints.package_versions()}
    checkpointer = checkpoints.Checkpointer(temporary, keep=1, async_save=False)
    try:
      checkpointer.save(state, meta)
    finally:
      checkpointer.close()
    if os.path.isdir(dest):
      os.rmdir(dest)  # empty (checked above)
    os.rename(temporary, dest)
  except BaseException:
    shutil.rmtree(temporary, ignore_errors=True)
    raise
  return dest


def _import(src: str, dest: str, source: str, read, to_layers, fc6_order: str,
            file_format: str) -> str:
  """`src` read by `read`, mapped by `to_layers`, written as the run directory `dest`
  with `configs/pretrained.py:<source>`'s conventions."""
  _check_dest(dest)
  config = _config(source)
  layers = to_layers(read(src), src, config)
  config.model.num_classes = int(layers['fc8'][0].shape[1])
  params = to_columns(config, layers, fc6_order=fc6_order)
  return write_run(config, params, dest, {'format': file_format, 'path': os.path.abspath(src),
                                          'sha256': _sha256(src)})


@console.quiet_library_logs
def import_torchvision(src: str, dest: str) -> str:
  """torchvision's AlexNet state_dict in `src` -> the run directory `dest` (fc6's
  inputs flattened as torch does: channel, row, column)."""
  return _import(src, dest, 'torchvision', read_torchvision, torchvision_layers, 'chw',
                 'torchvision')


@console.quiet_library_logs
def import_caffe_npy(src: str, dest: str) -> str:
  """The bvlc_alexnet NumPy export in `src` -> the run directory `dest` (fc6's inputs
  flattened row, column, channel, as the TensorFlow ports store it)."""
  return _import(src, dest, 'caffe', read_caffe_npy, caffe_layers, 'hwc', 'caffe-npy')


COMMANDS = {'import-torchvision': import_torchvision, 'import-caffe-npy': import_caffe_npy}
USAGE = ('usage: python -m alexnet_jax.weights import-torchvision SRC.pth DEST_DIR\n'
         '       python -m alexnet_jax.weights import-caffe-npy SRC.npy DEST_DIR')
FLAGS = flags.FlagValues()  # no flags: `--help` and a stray flag are handled as elsewhere


def main(argv) -> int:
  """`argv`: the arguments after the program name; returns the exit code."""
  args = cli.parse(FLAGS, argv, USAGE)
  if len(args) != 3 or args[0] not in COMMANDS:
    return cli.usage_error(f'expected COMMAND SRC DEST_DIR with COMMAND one of '
                           f'{", ".join(COMMANDS)}; got {" ".join(args) or "nothing"}')
  command, src, dest = args
  try:
    path = COMMANDS[command](src, dest)
  except WeightsError as error:
    return cli.fail(error)
  print(f'wrote {path} (config.json, checkpoints/0); next: python -m alexnet_jax.main '
        f'--config=configs/pretrained.py:{"torchvision" if "torch" in command else "caffe"} '
        f'--workdir={path} --mode=eval')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
