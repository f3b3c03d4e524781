"""Imported weights reproduce PyTorch's logits: torchvision's AlexNet layout, and
Caffe's grouped bvlc_alexnet layout in its NumPy export, both with random weights
(no download). The full-size nets, one forward each, at batch 2."""

import os
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from alexnet_jax import errors, weights
from alexnet_jax.config import pretrained
from alexnet_jax.models import alexnet
from alexnet_jax.training import restore

torch = pytest.importorskip('torch')
nn = torch.nn


class TorchvisionAlexNet(nn.Module):
  """torchvision.models.alexnet's module layout (torchvision/models/alexnet.py),
  so that state_dict keys and shapes are torchvision's."""

  def __init__(self, num_classes=1000):
    super().__init__()
    self.features = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
    self.classifier = nn.Sequential(
        nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes))

  def forward(self, x):
    return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class CaffeAlexNet(nn.Module):
  """bvlc_alexnet's deploy.prototxt in torch: grouped conv2/4/5 (group 2), LRN
  local_size 5, alpha 1e-4 (divided by the size), k 1, fc6 reading the pooled maps
  flattened (h, w, channel) as the NumPy export's TensorFlow ports do.
  `lrn_per_group`: LRN over each group's maps separately (the paper's two GPUs)
  instead of Caffe's whole blob."""

  def __init__(self, num_classes=1000, lrn_per_group=False):
    super().__init__()
    self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
    self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
    self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
    self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
    self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
    self.fc6 = nn.Linear(9216, 4096)
    self.fc7 = nn.Linear(4096, 4096)
    self.fc8 = nn.Linear(4096, num_classes)
    self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
    self.lrn_per_group = lrn_per_group

  def norm(self, x):
    if not self.lrn_per_group:
      return self.lrn(x)
    return torch.cat([self.lrn(half) for half in x.chunk(2, dim=1)], dim=1)

  def forward(self, x):
    pool = lambda y: nn.functional.max_pool2d(y, 3, 2)
    relu = torch.relu
    x = pool(self.norm(relu(self.conv1(x))))
    x = pool(self.norm(relu(self.conv2(x))))
    x = relu(self.conv4(relu(self.conv3(x))))
    x = pool(relu(self.conv5(x)))
    x = x.permute(0, 2, 3, 1).flatten(1)
    return self.fc8(relu(self.fc7(relu(self.fc6(x)))))

  def export(self) -> dict:
    """The NumPy export: {layer: [W, b]}, conv W (h, w, in, out), fc W (in, out)."""
    layers = {}
    for name in weights.CAFFE_LAYERS:
      module = getattr(self, name)
      w = module.weight.detach().numpy()
      w = w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T
      layers[name] = [np.ascontiguousarray(w), module.bias.detach().numpy()]
    return layers


def _random_torch(cls, seed):
  torch.manual_seed(seed)
  model = cls().eval()
  with torch.no_grad():  # biases away from 0 so that a swapped bias shows
    for module in model.modules():
      if isinstance(module, (nn.Conv2d, nn.Linear)):
        module.bias.uniform_(-0.1, 0.1)
  return model


def _logits_jax(config, workdir, images_nhwc):
  params, meta, _ = restore.restore_params(config, workdir)
  model = alexnet.create_model(config.model)
  return np.asarray(jax.jit(lambda p, x: model.apply({'params': p}, x))(params, images_nhwc)), meta


def _images(size, seed):
  return np.random.default_rng(seed).normal(0.0, 1.0, (2, size, size, 3)).astype(np.float32)


def _assert_logits_close(ours, reference):
  scale = np.abs(reference).max()
  np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * scale)


@pytest.fixture(scope='module')
def torchvision_run(tmp_path_factory):
  root = tmp_path_factory.mktemp('torchvision')
  model = _random_torch(TorchvisionAlexNet, 0)
  src = str(root / 'alexnet.pth')
  torch.save(model.state_dict(), src)
  dest = weights.import_torchvision(src, str(root / 'run'))
  return model, dest


def import_caffe(root):
  """(torch CaffeAlexNet, run directory of its imported NumPy export) in `root`."""
  model = _random_torch(CaffeAlexNet, 1)
  src = str(root / 'bvlc_alexnet.npy')
  np.save(src, model.export(), allow_pickle=True)
  dest = weights.import_caffe_npy(src, str(root / 'run'))
  return model, dest


@pytest.fixture(scope='module')
def caffe_run(tmp_path_factory):
  return import_caffe(tmp_path_factory.mktemp('caffe'))


def test_torchvision_import_reproduces_torch_logits(torchvision_run):
  model, dest = torchvision_run
  images = _images(224, 2)
  with torch.no_grad():
    reference = model(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
  ours, meta = _logits_jax(pretrained.get_config('torchvision'), dest, images)
  _assert_logits_close(ours, reference)
  assert meta['step'] == 0 and meta['imported_from']['format'] == 'torchvision'
  assert sorted(os.listdir(dest)) == ['checkpoints', 'checkpoints_best', 'config.json',
                                      'import.json']


@pytest.mark.parametrize('lrn_across_columns', [True, False])
def test_caffe_import_reproduces_grouped_torch_logits(caffe_run, lrn_across_columns):
  """The imported config's LRN over the whole blob reproduces Caffe's; switched off,
  the net normalizes per column (the paper's two GPUs) as torch does per group.
  Images at the scale of Caffe's inputs (pixels 0-255 minus the mean), where LRN
  changes the activations: the two references differ by over ten times the
  tolerance, so each comparison tells the two LRNs apart."""
  model, dest = caffe_run
  images = _images(227, 3) * 60.0
  config = pretrained.get_config('caffe')
  assert config.model.lrn_across_columns
  with torch.no_grad():
    x = torch.from_numpy(images.transpose(0, 3, 1, 2))
    whole_blob = model(x).numpy()
    model.lrn_per_group = True
    per_group = model(x).numpy()
    model.lrn_per_group = False
  assert np.abs(whole_blob - per_group).max() > 10 * 1e-4 * np.abs(whole_blob).max()
  reference = whole_blob if lrn_across_columns else per_group
  config.model.lrn_across_columns = lrn_across_columns
  params, _, _ = restore.restore_params(pretrained.get_config('caffe'), dest)
  jax_model = alexnet.create_model(config.model)
  ours = np.asarray(jax.jit(lambda p, x: jax_model.apply({'params': p}, x))(params, images))
  _assert_logits_close(ours, reference)


def test_imported_config_carries_the_source_conventions(caffe_run, torchvision_run):
  import json
  caffe = json.load(open(os.path.join(caffe_run[1], 'config.json')))
  assert caffe['model']['variant'] == 'paper' and caffe['model']['columns'] == 2
  assert (caffe['model']['lrn_k'], caffe['model']['lrn_n']) == (1.0, 5)
  assert caffe['model']['lrn_alpha'] == pytest.approx(2e-5)
  assert (caffe['data']['image_size'], caffe['data']['normalization']) == (227, 'caffe')
  tv = json.load(open(os.path.join(torchvision_run[1], 'config.json')))
  assert (tv['model']['variant'], tv['model']['columns'], tv['model']['lrn']) == ('owt', 1, False)
  assert (tv['data']['image_size'], tv['data']['normalization']) == (224, 'torchvision')


def _bad_state_dicts():
  good = TorchvisionAlexNet(num_classes=10).state_dict()
  wrong_shape = dict(good)
  wrong_shape['features.3.weight'] = torch.zeros(192, 32, 5, 5)
  extra = dict(good)
  extra['features.1.running_mean'] = torch.zeros(64)
  return {
      'another model': (nn.Sequential(nn.Linear(4, 2)).state_dict(), "not torchvision's AlexNet"),
      'wrong shape': (wrong_shape, 'features.3.weight has shape (192, 32, 5, 5)'),
      'extra key': (extra, '1 unexpected: features.1.running_mean'),
      'not a dict': ([torch.zeros(3)], 'not a state_dict'),
  }


@pytest.mark.parametrize('case', ['another model', 'wrong shape', 'extra key', 'not a dict'])
def test_mismatched_state_dicts_are_refused_before_writing(case, tmp_path):
  state, message = _bad_state_dicts()[case]
  src = str(tmp_path / 'bad.pth')
  torch.save(state, src)
  with pytest.raises(errors.WeightsError, match=re.escape(message)):
    weights.import_torchvision(src, str(tmp_path / 'run'))
  assert sorted(os.listdir(tmp_path)) == ['bad.pth']


def _bad_exports():
  good = {name: [np.zeros(shape[0], np.float32), np.zeros(shape[1], np.float32)]
          for name, shape in weights._expected_layers(pretrained.get_config('caffe'),
                                                      weights.CAFFE_GROUPS).items()}
  good['fc8'] = [np.zeros((4096, 10), np.float32), np.zeros(10, np.float32)]
  ungrouped = dict(good)
  ungrouped['conv2'] = [np.zeros((5, 5, 96, 256), np.float32), np.zeros(256, np.float32)]
  missing = {k: v for k, v in good.items() if k != 'fc7'}
  return {
      'ungrouped conv2': (ungrouped, 'conv2 W has shape (5, 5, 96, 256)'),
      'missing layer': (missing, 'missing 1 of its 8 entries: fc7'),
      'not a dict': (np.zeros(3), 'not the dict'),
  }


@pytest.mark.parametrize('case', ['ungrouped conv2', 'missing layer', 'not a dict'])
def test_mismatched_caffe_exports_are_refused_before_writing(case, tmp_path):
  layers, message = _bad_exports()[case]
  src = str(tmp_path / 'bad.npy')
  np.save(src, layers, allow_pickle=True)
  with pytest.raises(errors.WeightsError, match=re.escape(message)):
    weights.import_caffe_npy(src, str(tmp_path / 'run'))
  assert sorted(os.listdir(tmp_path)) == ['bad.npy']


def test_command_line_reports_one_line_and_writes_nothing(tmp_path):
  src = str(tmp_path / 'resnet.pth')
  torch.save(nn.Sequential(nn.Conv2d(3, 8, 3)).state_dict(), src)
  dest = str(tmp_path / 'run')
  done = subprocess.run([sys.executable, '-m', 'alexnet_jax.weights', 'import-torchvision',
                         src, dest], capture_output=True, text=True,
                        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  assert done.returncode == 2
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ') and "not torchvision's AlexNet state_dict (missing 16 of" in lines[0]
  assert not os.path.exists(dest)
