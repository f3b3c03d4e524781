"""Config validation: every bad value is caught here, before any compilation or write.

Each problem raises `ConfigError` with one line that names the config key, the
bad value and what is allowed; `main.py` prints that line and exits non-zero.
"""

import dataclasses
import importlib.util
import os

import jax

from alexnet_jax import errors
from alexnet_jax.data import device_data, input_pipeline
from alexnet_jax.devices import parallel
from alexnet_jax.errors import ConfigError, require, require_one_of
from alexnet_jax.models import alexnet, cuda_convnet, layers
from alexnet_jax.training import optimizers, restore, schedules

# --mode: the library function that runs each mode, 'module:function' in alexnet_jax
# (main.py imports only the module of the mode asked for, once the config is valid).
MODES = {
    'train': 'train:train_and_evaluate',
    'eval': 'evaluate:run',
    'summary': 'summary:run',
    'benchmark': 'benchmark:run',
    'ablate': 'ablation:run',
    'kernels': 'kernel_images:run',
    'export': 'export:run',
}
# Modes that read the dataset: its splits and classes are checked before they start.
DATA_MODES = ('train', 'eval', 'ablate')
# Modes that read a trained run: its checkpoint is found before anything is written, so a
# missing or empty run leaves the filesystem as it was (no workdir, no log.txt).
CHECKPOINT_MODES = ('eval', 'kernels', 'export')
# config.resume: 'auto' resumes a run whose config matches and refuses one that
# differs; 'restart' moves the workdir's previous run aside and starts over (workdir.py).
RESUME = ('auto', 'restart')


def validate_cuda_convnet_model(model_config, image_size: int):
  """cuda-convnet's nets are fixed by their layer files: no dropout, and every other
  knob but `alexnet.CUDA_CONVNET_KNOBS` at its default (no width knobs, their own
  initialization and response-norm constants); one column as in the files, or two
  (cuda_convnet.CudaConvnet says how they are split)."""
  variant = model_config.variant
  require_one_of('model.columns', model_config.get('columns', 1), (1, 2))
  fixed = {field.name: field.default for field in dataclasses.fields(alexnet.ModelSpec)
           if field.name not in alexnet.CUDA_CONVNET_KNOBS}
  fixed.update(dropout_rate=0.0)
  for key, value in fixed.items():
    given = model_config.get(key, value)
    given = tuple(given) if isinstance(given, (list, tuple)) else given
    require(given == value,
            f'config.model.{key}={given!r} does not apply to {variant!r}, whose layer file '
            f'fixes it (set it to {value!r}; response-norm constants and initial weights come '
            'from the file, see alexnet_jax/models/cuda_convnet.py)')
  try:
    cuda_convnet.feature_map_sizes(variant, image_size, model_config.pooling)
  except ValueError as error:
    raise ConfigError(f'config.data.image_size={image_size} is too small: {error}') from None


def validate_model(model_config, image_size: int):
  """Checks `config.model` against the variant's layout and the input size; the
  True/False knobs are the `bool` fields of `alexnet.ModelSpec`."""
  require_one_of('model.variant', model_config.variant,
                 tuple(alexnet.ARCHITECTURES) + tuple(cuda_convnet.NETS))
  for key in ('tanh_a', 'tanh_b'):
    value = model_config.get(key, 1.0)
    require(isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
            f'config.model.{key}={value!r} must be a number > 0 (tanh neuron: a * tanh(b * x))')
  for field in dataclasses.fields(alexnet.ModelSpec):
    if field.type is bool:
      value = model_config.get(field.name, field.default)
      require(isinstance(value, bool),
              f'config.model.{field.name}={value!r} must be True or False')
  if model_config.variant in cuda_convnet.NETS:
    require_one_of('model.activation', model_config.activation, layers.ACTIVATIONS)
    require_one_of('model.pooling', model_config.pooling, tuple(layers.POOLING))
    validate_cuda_convnet_model(model_config, image_size)
    return
  require_one_of('model.activation', model_config.activation, layers.ACTIVATIONS)
  require_one_of('model.pooling', model_config.pooling, tuple(layers.POOLING))
  require_one_of('model.init', model_config.init, layers.INITS)
  require_one_of('model.dtype', model_config.dtype, tuple(layers.DTYPES))
  require_one_of('model.columns', model_config.columns, (1, 2))
  require(isinstance(model_config.num_classes, int) and model_config.num_classes >= 2,
          f'config.model.num_classes={model_config.num_classes!r} must be an integer >= 2')
  require(0.0 <= model_config.dropout_rate < 1.0,
          f'config.model.dropout_rate={model_config.dropout_rate!r} must be in [0, 1)')
  conv_chunk = model_config.get('conv_chunk', 0)
  require(isinstance(conv_chunk, int) and not isinstance(conv_chunk, bool) and conv_chunk >= 0,
          f'config.model.conv_chunk={conv_chunk!r} must be an integer >= 0 (0: whole batch)')
  require(model_config.width_multiplier > 0,
          f'config.model.width_multiplier={model_config.width_multiplier!r} must be > 0')
  require(isinstance(model_config.lrn_n, int) and model_config.lrn_n >= 1,
          f'config.model.lrn_n={model_config.lrn_n!r} must be an integer >= 1')
  require(model_config.lrn_k > 0, f'config.model.lrn_k={model_config.lrn_k!r} must be > 0')
  require(model_config.lrn_alpha >= 0,
          f'config.model.lrn_alpha={model_config.lrn_alpha!r} must be >= 0')
  require(model_config.lrn_beta >= 0,
          f'config.model.lrn_beta={model_config.lrn_beta!r} must be >= 0')
  arch = alexnet.ARCHITECTURES[model_config.variant]
  conv_names = tuple(layer.name for layer in arch.conv)
  for name in model_config.width_exempt:
    require_one_of('model.width_exempt', name, conv_names)
  removed = model_config.get('removed_layers', ())
  require(isinstance(removed, (list, tuple)) and all(isinstance(name, str) for name in removed),
          f'config.model.removed_layers={removed!r} must be a tuple of conv layer names')
  removable = alexnet.removable_layers(arch)
  for name in removed:
    require(name in removable,
            f'config.model.removed_layers: {name!r} cannot be left out of '
            f'{model_config.variant!r}; only the conv layers that neither normalize nor pool '
            f'can, so that every map size stays: {", ".join(removable)}')
  require(len(set(removed)) == len(removed),
          f'config.model.removed_layers={removed!r} names a layer twice')
  spec = alexnet.ModelSpec.from_config(model_config)
  for layer in spec.arch.conv:
    features = spec.conv_kernels(layer)
    require(features >= model_config.columns and features % model_config.columns == 0,
            f'config.model.columns={model_config.columns} does not divide the {features} '
            f'kernels of {layer.name} (config.model.width_multiplier='
            f'{model_config.width_multiplier})')
  for layer in arch.dense:
    require(layer.features % model_config.columns == 0,
            f'config.model.columns={model_config.columns} does not divide the '
            f'{layer.features} neurons of {layer.name}')
  try:
    alexnet.feature_map_sizes(model_config.variant, image_size, model_config.pooling)
  except ValueError as error:
    raise ConfigError(f'config.data.image_size={image_size} is too small: {error}') from None


def validate_data(data):
  """Checks `config.data`'s augmentation fields."""
  require_one_of('data.normalization', data.normalization, input_pipeline.NORMALIZATIONS)
  require(data.normalization not in input_pipeline.RGB_NORMALIZATIONS or data.channels == 3,
          f'config.data.normalization={data.normalization!r} is for RGB images, but '
          f'config.data.channels={data.channels}')
  require(data.pca_std >= 0, f'config.data.pca_std={data.pca_std!r} must be >= 0')
  require(data.pca_std == 0 or data.channels == 3,
          f'config.data.pca_std={data.pca_std} needs RGB images, but config.data.channels='
          f'{data.channels}')
  require(data.crop_padding >= 0,
          f'config.data.crop_padding={data.crop_padding!r} must be >= 0')
  require(data.resize_size == 0 or data.resize_size >= data.image_size,
          f'config.data.resize_size={data.resize_size} is smaller than config.data.image_size='
          f'{data.image_size}')
  require(data.worker_processes >= -1, f'config.data.worker_processes='
          f'{data.worker_processes!r} must be >= 0, or -1 for one per core')
  limit = data.get('in_memory_max_bytes', 0)
  require(isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0,
          f'config.data.in_memory_max_bytes={limit!r} must be an integer >= 0')
  require(data.get('on_device', False) in device_data.ON_DEVICE_CHOICES,
          f'config.data.on_device={data.get("on_device")!r}: choose False, True or \'auto\'')
  limit = data.get('on_device_max_bytes', 0)
  require(isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0,
          f'config.data.on_device_max_bytes={limit!r} must be an integer >= 0')
  sample = data.get('statistics_images', 0)
  require(isinstance(sample, int) and not isinstance(sample, bool) and sample >= 0,
          f'config.data.statistics_images={sample!r} must be an integer >= 0 (0: the whole '
          f'training split)')


def validate_steps_per_dispatch(config):
  """K steps per dispatch end only at multiples of K (and at epoch ends), so every
  cadence the loop acts on must be a multiple of K; on host-fed data each step's batch
  is sent on its own, so K > 1 needs the data on the device."""
  k = config.get('steps_per_dispatch', 1)
  require(isinstance(k, int) and not isinstance(k, bool) and k >= 1,
          f'config.steps_per_dispatch={k!r} must be an integer >= 1')
  if k == 1:
    return
  require(config.data.get('on_device', False) is not False,
          f'config.steps_per_dispatch={k} needs config.data.on_device=True (or \'auto\' on a '
          'GPU/TPU): host-fed batches are sent one step at a time')
  cadences = {'log_every_steps': config.log_every_steps,
              'checkpoint.every_steps': config.checkpoint.every_steps}
  if config.eval_every_steps > 0:
    cadences['eval_every_steps'] = config.eval_every_steps
  for key, every in cadences.items():
    require(every % k == 0, f'config.steps_per_dispatch={k} does not divide config.{key}='
                            f'{every}: the loop logs, evaluates and checkpoints only between '
                            f'dispatches (choose a multiple of {k})')


def check_device_data(config, info):
  """ConfigError (one line) where device-resident data (`config.data.on_device`, as
  this backend resolves it) cannot serve `config`: too large for
  `data.on_device_max_bytes`, several processes, or steps_per_dispatch > 1 on a
  backend where 'auto' keeps the data on the host. It starts JAX's backend, so a
  multi-process run calls it after `jax.distributed.initialize` (main.py: after that,
  before the workdir's log file; train and ablation: before their first write)."""
  validate_steps_per_dispatch(config)  # train_and_evaluate is a library entry too
  k = config.get('steps_per_dispatch', 1)
  if not device_data.wanted(config):
    if k > 1:
      raise ConfigError(f'config.steps_per_dispatch={k} needs device-resident data, and '
                        f"config.data.on_device={config.data.on_device!r} keeps it on the host "
                        f'on this {jax.default_backend()} backend (set it to True, or '
                        'steps_per_dispatch=1)')
    return
  if jax.process_count() > 1:
    raise ConfigError('config.data.on_device holds the whole training split on every '
                      f'device of one process; this run has {jax.process_count()} processes '
                      '(set config.data.on_device=False)')
  device_data.check_fits(config, info['num_train_examples'], info['stored_image_shape'])


def validate_lrn_window(model_config):
  """The LRN window is centred on each channel (paper section 3.3: channels
  i - n/2 .. i + n/2), so n must be odd; Caffe refuses an even local_size too."""
  n = model_config.lrn_n
  require(not isinstance(n, int) or n % 2 == 1,
          f'config.model.lrn_n={n} is even: the LRN window is centred on each channel '
          f'(n//2 neighbours on each side, paper section 3.3), so n must be odd, e.g. '
          f'{n - 1} or {n + 1}')


def validate_dataset(config) -> dict:
  """Checks the config against the prepared dataset's metadata (no pass over the
  data): the split strings name its splits, and the model has enough classes.
  Returns `input_pipeline.dataset_info`. Reads the dataset's metadata, so it runs
  once the config itself is valid."""
  try:
    return input_pipeline.dataset_info(config)
  except errors.DatasetNotFoundError as error:
    raise ConfigError(str(error)) from None
  except ConfigError:
    raise  # e.g. an image size the stored images cannot give (check_image_size)
  except (KeyError, ValueError):
    pass  # a split string the dataset does not have: say which key names it
  import tensorflow_datasets as tfds  # deferred: TFDS loads TensorFlow (seconds)
  builder = tfds.builder(config.data.name, data_dir=config.data.data_dir)
  for key in ('train_split', 'eval_split'):
    split = config.data[key]
    try:
      builder.info.splits[split]
    except (KeyError, ValueError):
      raise ConfigError(
          f'config.data.{key}={split!r} is not a split of {config.data.name}; it has: '
          + ', '.join(sorted(builder.info.splits)) + " (slices like 'train[:90%]' work "
          'too)') from None
  raise ConfigError(f'config.data: the splits of {config.data.name} could not be read')


def check_num_classes(config, info):
  require(info['num_classes'] <= config.model.num_classes,
          f"config.model.num_classes={config.model.num_classes} but {config.data.name} has "
          f"{info['num_classes']} classes")


def flag_error(argv, error: BaseException) -> str:
  """One line for a command line that absl or config_flags could not parse: a missing
  config file, an unknown preset, an unknown `--config.` key, a bad flag value."""
  chain, cause = [], error
  while cause is not None and cause not in chain:
    chain.append(cause)
    cause = cause.__cause__ or cause.__context__
  config_args = [a.split('=', 1)[1] for a in argv if a.startswith('--config=')]
  config_arg = config_args[-1] if config_args else None
  if config_arg is not None:
    path = config_arg.split(':', 1)[0]
    if not os.path.isfile(path):
      return f'--config={config_arg}: no such config file {path!r}'
  overrides = [a[len('--config.'):].split('=', 1)[0] for a in argv
               if a.startswith('--config.')]
  source = config_arg.split(':', 1)[0] if config_arg else 'the config file'
  unknown = _first_unknown_override(config_arg, overrides) if config_arg else ''
  if unknown:
    return f'--config.{unknown}: no such config field (a typo? the fields are in {source})'
  for cause in chain:
    if isinstance(cause, (KeyError, AttributeError)):
      name = str(cause).strip('"\'')
      unknown = [o for o in overrides if name in o.split('.')] or overrides
      if unknown:
        return f'--config.{unknown[0]}: no such config field (a typo? the fields are in {source})'
  first = _first_line(error)
  first = first[len('flag '):] if first.startswith('flag ') else first
  if not first or 'Error whilst parsing config file' in first:
    first = f'--config={config_arg}: {_first_line(chain[-1]) or repr(chain[-1])}'
  return first


def _first_unknown_override(config_arg: str, overrides) -> str:
  """The first `--config.` override that is not a field of the config file's config, or
  '' (none, or the file does not load). absl's error names another flag when an unknown
  override follows a valid one (the valid one, e.g. `config.seed`, is reported as
  unknown), so the overrides are checked against the config itself."""
  path, _, preset = config_arg.partition(':')
  try:
    spec = importlib.util.spec_from_file_location('_checked_config_file', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(preset) if preset else module.get_config()
  except Exception:  # the file's own error is reported by the caller
    return ''
  for override in overrides:
    node = config
    for part in override.split('.'):
      try:
        node = node[part]
      except Exception:  # a missing key, or a key under a value that is not a dict
        return override
  return ''


def _first_line(error) -> str:
  text = str(error).strip()
  return text.splitlines()[0] if text else ''


def validate_config(config, *, num_devices=None):
  """Validates the whole config; `num_devices` (if known) checks the layout too."""
  require_one_of('mode', config.mode, MODES)
  require(config.data.image_size >= 1,
          f'config.data.image_size={config.data.image_size!r} must be >= 1')
  require(config.data.channels >= 1,
          f'config.data.channels={config.data.channels!r} must be >= 1')
  validate_data(config.data)
  if config.get('init_from', ''):
    try:
      restore.locate(config.init_from)
    except ValueError as error:
      raise ConfigError(f'config.init_from={config.init_from!r}: {error}') from None
  validate_model(config.model, config.data.image_size)
  validate_lrn_window(config.model)
  require_one_of('resume', config.get('resume', 'auto'), RESUME)
  sample = (config.get('eval') or {}).get('max_examples', 0)
  require(isinstance(sample, int) and not isinstance(sample, bool) and sample >= 0,
          f'config.eval.max_examples={sample!r} must be an integer >= 0 (0: every example)')
  require(config.batch_size >= 1, f'config.batch_size={config.batch_size!r} must be >= 1')
  require_one_of('optimizer.name', config.optimizer.name, optimizers.OPTIMIZERS)
  require(config.optimizer.name != 'cuda_convnet' or config.model.variant in cuda_convnet.NETS,
          f"config.optimizer.name='cuda_convnet' takes its per-layer rates and weight decay "
          f'from a cuda-convnet layer file; config.model.variant={config.model.variant!r} has '
          f'none (choose one of {", ".join(cuda_convnet.NETS)}, or optimizer sgd/adam)')
  require(config.model.variant not in cuda_convnet.NETS or config.parallel.model_devices == 1,
          f'config.parallel.model_devices={config.parallel.model_devices}: '
          f'{config.model.variant!r} runs its columns on one device (only the AlexNet '
          'variants put one column on each of two devices); set it to 1')
  require_one_of('schedule.name', config.schedule.name, schedules.SCHEDULES)
  require(0 < config.schedule.factor < 1,
          f'config.schedule.factor={config.schedule.factor!r} must be in (0, 1)')
  require(config.num_epochs > 0 or config.num_train_steps > 0,
          'config.num_epochs or config.num_train_steps must be > 0')
  require(0 <= config.get('stop_at_train_error', 0.0) < 1,
          f'config.stop_at_train_error={config.get("stop_at_train_error")!r} must be in [0, 1)')
  require(config.log_every_steps >= 1,
          f'config.log_every_steps={config.log_every_steps!r} must be >= 1')
  require(config.checkpoint.every_steps >= 1,
          f'config.checkpoint.every_steps={config.checkpoint.every_steps!r} must be >= 1')
  validate_steps_per_dispatch(config)
  require(config.checkpoint.keep >= 1,
          f'config.checkpoint.keep={config.checkpoint.keep!r} must be >= 1')
  require(config.eval_batch_size >= 1,
          f'config.eval_batch_size={config.eval_batch_size!r} must be >= 1')
  require(config.optimizer.learning_rate > 0,
          f'config.optimizer.learning_rate={config.optimizer.learning_rate!r} must be > 0')
  for key in ('layer_weight_decay', 'bias_rate_drops'):
    value = config.optimizer.get(key, False)
    require(isinstance(value, bool), f'config.optimizer.{key}={value!r} must be True or False')
  require(config.benchmark.batch_size >= 1,
          f'config.benchmark.batch_size={config.benchmark.batch_size!r} must be >= 1')
  require(config.benchmark.steps >= 2,
          f'config.benchmark.steps={config.benchmark.steps!r} must be >= 2 (for a std)')
  require(config.benchmark.warmup_steps >= 1,
          f'config.benchmark.warmup_steps={config.benchmark.warmup_steps!r} must be >= 1 '
          '(the first step compiles)')
  parallel.validate_layout(config, num_devices)
