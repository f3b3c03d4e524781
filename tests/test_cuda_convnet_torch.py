"""The PyTorch cuda-convnet nets of experiments.cuda_convnet_torch compute what
alexnet_jax.models.cuda_convnet computes: the speed comparison is like for like."""

import jax
import numpy as np
import pytest

torch = pytest.importorskip('torch')

from alexnet_jax.config import presets  # noqa: E402
from alexnet_jax.models import alexnet
from alexnet_jax.training import optimizers, step_functions  # noqa: E402
from experiments import cuda_convnet_torch  # noqa: E402
from tests.conftest import DISTINCT_NETS  # noqa: E402

BATCH = 4


def _jax_net(variant):
  config = presets.base_config('cuda_convnet')
  config.model.variant = variant
  model = alexnet.create_model(config.model)
  params = alexnet.init_params(model, jax.random.key(0), (24, 24, 3))
  # The files' initW make conv1's outputs tiny; larger weights exercise every layer.
  params = jax.tree.map(lambda p: p + 0.05 * jax.random.normal(jax.random.key(p.size), p.shape),
                        params)
  return config, model, params


def _torch_net(variant, params):
  net = cuda_convnet_torch.CudaConvnet(variant)
  cuda_convnet_torch.load_jax_params(net, params)
  return net


def _images(seed=1):
  return np.asarray(np.random.default_rng(seed).normal(0, 50, (BATCH, 24, 24, 3)), np.float32)


def _close(got, expected, what, scale=None):
  """float32 agreement; `scale`: the magnitude the values were computed from (an
  update is a difference of weights, exact only to the weights' last bits, and a
  gradient through five layers is summed in another order by each framework)."""
  expected = np.asarray(expected)
  if scale is None:
    atol = 1e-5 * np.max(np.abs(expected))
  else:
    atol = max(1e-6 * scale, 1e-4 * np.max(np.abs(expected)))
  np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=atol, err_msg=what)


@pytest.mark.parametrize('variant', DISTINCT_NETS)
def test_equal_logits(variant):
  _, model, params = _jax_net(variant)
  images = _images()
  expected = model.apply({'params': params}, images)
  net = _torch_net(variant, params)
  with torch.no_grad():
    got = net(torch.from_numpy(images).permute(0, 3, 1, 2))
  assert float(np.std(np.asarray(expected))) > 1e-2  # not a trivially small output
  _close(got.numpy(), expected, f'{variant} logits')


@pytest.mark.parametrize('variant', DISTINCT_NETS)
def test_one_training_step_gives_equal_parameters(variant):
  config, model, params = _jax_net(variant)
  images, labels = _images(2), np.arange(BATCH, dtype=np.int32) % 10
  optimizer = optimizers.create_optimizer(config.optimizer, model_variant=variant)
  step = jax.jit(step_functions.make_train_step(model, optimizer))
  state, _ = step(optimizers.create_train_state(params, optimizer),
                  {'image': images, 'label': labels}, jax.random.key(0))
  net = _torch_net(variant, params)
  before = {name: value.clone() for name, value in net.state_dict().items()}
  torch_optimizer = cuda_convnet_torch.create_optimizer(net, config.optimizer.learning_rate,
                                                        config.optimizer.momentum)
  loss = torch.nn.functional.cross_entropy(
      net(torch.from_numpy(images).permute(0, 3, 1, 2)), torch.from_numpy(labels).long())
  loss.backward()
  torch_optimizer.step()
  stepped = _torch_net(variant, state.params).state_dict()
  for name, value in net.state_dict().items():  # the updates, not the barely moved weights
    _close((value - before[name]).numpy(), (stepped[name] - before[name]).numpy(),
           f'{variant} {name} update', scale=float(before[name].abs().max()))
