"""Shared fixtures: small configs that keep the suite fast on a 2-core CPU."""

import importlib.util
import os
import shutil
import tempfile

import pytest

# One XLA compilation cache for the whole session, shared by the xdist workers and by the
# subprocesses the tests start (both inherit this environment). Most tests build the same
# few tiny nets, and XLA:CPU spends seconds even on a tiny net's random initialisation (its
# threefry kernels, one per parameter), so without the cache every test and every
# subprocess pays those seconds again. A cache hit loads the executable a fresh compilation
# would build, so no result changes. The size limit switches on jax's file lock, which
# keeps a worker from reading an entry another is still writing (without filelock, which
# the test extra installs, no cache). Set before JAX is imported.
_CACHE_DIR = None
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ and importlib.util.find_spec('filelock'):
  _CACHE_DIR = tempfile.mkdtemp(prefix='alexnet_jax-tests-xla-cache-')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _CACHE_DIR
  os.environ['JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS'] = '0.1'
  os.environ['JAX_COMPILATION_CACHE_MAX_SIZE'] = str(2 << 30)


def pytest_unconfigure(config):
  if _CACHE_DIR is not None:  # the process that made it: the xdist controller, or the only one
    shutil.rmtree(_CACHE_DIR, ignore_errors=True)


from alexnet_jax.config import default  # noqa: E402 (after the cache settings above)
from alexnet_jax.runtime import startup  # noqa: E402

startup.setup()  # the tests run with the settings main runs with

# PyTorch (an optional cross-check) imports its compiler stack, torch._dynamo, lazily, from
# torch.optim and torch.compile; on Python 3.13 with torch 2.13.0+cu130 that import
# segfaults once TensorFlow (loaded by TFDS) is in the process, and succeeds the other way
# round. So it is imported here, before any test module can load TensorFlow.
if importlib.util.find_spec('torch') is not None:
  import torch._dynamo  # noqa: F401


# cuda-convnet's nets less the twins that test_cuda_convnet proves equal to a net of this
# list with model.lrn=False (cc_11pct_no_rnorm, cc_13pct): the per-net tests run on these.
DISTINCT_NETS = ('cc_11pct', 'cc_11pct_r540', 'cc_18pct')


@pytest.fixture
def small_config():
  """The default config (small variant, 28x28x1, 10 classes), unlocked for edits."""
  return default.get_config()


@pytest.fixture
def paper_config():
  return default.get_config('paper')


TINY_CLASSES = 4
TINY_SIZE = 12


def tiny_arrays(count, seed):
  """A learnable toy task: the class is the quadrant of a bright square."""
  import numpy as np
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 40, (count, TINY_SIZE, TINY_SIZE, 3), dtype=np.uint8)
  labels = rng.integers(0, TINY_CLASSES, count)
  half = TINY_SIZE // 2
  for image, label in zip(images, labels):
    top, left = divmod(int(label), 2)
    image[top * half:(top + 1) * half, left * half:(left + 1) * half] += 180
  return images, labels


@pytest.fixture(scope='session')
def tiny_data_dir(tmp_path_factory):
  """A TFDS dataset 'tiny_quadrants' (200 train, 37 test, 12x12x3, 4 classes)."""
  from alexnet_jax.data import importers
  data_dir = tmp_path_factory.mktemp('tfds')
  importers.store('tiny_quadrants', {'train': tiny_arrays(200, 0), 'test': tiny_arrays(37, 1)},
                  data_dir=str(data_dir), num_classes=TINY_CLASSES)
  return str(data_dir)


@pytest.fixture
def tiny_config(tiny_data_dir):
  """The small net, quarter width, on the tiny dataset: seconds per run."""
  return make_tiny_config(tiny_data_dir)


def make_tiny_config(tiny_data_dir):
  config = default.get_config()
  config.data.name = 'tiny_quadrants'
  config.data.data_dir = tiny_data_dir
  config.data.image_size = TINY_SIZE
  config.data.channels = 3
  config.data.crop_padding = 1
  config.data.flip = False  # a flip would swap the left and right quadrant classes
  config.model.num_classes = TINY_CLASSES
  config.model.width_multiplier = 0.25
  config.model.dropout_rate = 0.0
  config.batch_size = 16
  config.eval_batch_size = 10
  config.num_train_steps = 12
  config.log_every_steps = 2
  config.eval_every_steps = 6
  config.checkpoint.every_steps = 3
  config.optimizer.name = 'sgd'  # the paper's rule
  config.optimizer.learning_rate = 0.02
  return config
