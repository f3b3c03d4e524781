"""Device layouts: data parallelism on top of the paper's two-column model parallelism.

A layout is `data x model` devices (`config.parallel`). Device `i` of the
layout (in `jax.devices()` order, so a host's devices are contiguous) is data
replica `i // model` and column `i % model`:

* `model = 2` (paper section 3.2): device (d, m) holds column m's kernels of
  conv1-conv5 and its half of the fc6/fc7 neurons, about half the model. fc8
  is small next to fc6/fc7 (4096x1000 of the paper's 61M parameters) and is
  replicated on both column devices, which both compute the full logits from
  the gathered fc7 outputs; its gradient is summed over the model axis so the
  two copies stay identical. Activations cross between the columns only at
  the inputs of conv3, fc6, fc7 and fc8 (an all_gather over the model axis).
* Gradients and metric sums are summed over the data axis.

The per-device step (`step_functions.make_train_step(..., collectives=...)`) is written
once against the `Collectives` below and wrapped by one of two backends:

* `pmap` (the default): one pmap axis over all data x model devices; the data
  and model "axes" are index groups of it (`axis_index_groups`). Nested pmap
  would give real named axes but is broken in jax 0.10 (pmap is now
  `jit(shard_map)` and refuses a second mapped axis).
* `shard_map`: a `Mesh` with named axes ('data', 'model'), which JAX
  recommends now that pmap is in maintenance mode. Tested equal to pmap.

Both keep device arrays in one form: every leaf has a leading axis of length
`data * model` (one row per device), sharded over the devices. Checkpoints
and everything on the host use the full single-device tree (`params['column0']`,
`['column1']`, `['fc8']`), so a checkpoint restores under any layout.

What stays identical across layouts: the parameters' math (tested to float32
tolerance), the dropout masks (keyed by the step and the global example index,
not by the device), the data order (the global batch is the same; each data
replica takes a contiguous slice of it). What does not: the order of floating
point sums (per-device partial sums, then a psum), so results agree to
rounding, not bit for bit.
"""

import dataclasses
from typing import Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from alexnet_jax import errors

DATA_AXIS = 'data'
MODEL_AXIS = 'model'
DEVICE_AXIS = 'devices'  # pmap's single axis over data x model devices
BACKENDS = ('pmap', 'shard_map')  # config.parallel.backend


@dataclasses.dataclass(frozen=True)
class Layout:
  data: int
  model: int
  backend: str = 'pmap'

  @property
  def num_devices(self) -> int:
    return self.data * self.model

  def describe(self) -> str:
    return f'{self.data}x{self.model} (data x model, {self.backend})'

  def as_dict(self) -> dict:
    return {'data': self.data, 'model': self.model, 'backend': self.backend}


def validate_layout(config, num_devices=None):
  """Checks the device layout: data x model devices over the available devices."""
  parallel = config.parallel
  errors.require_one_of('parallel.model_devices', parallel.model_devices, (1, 2))
  errors.require_one_of('parallel.backend', parallel.backend, BACKENDS)
  if parallel.model_devices == 2:
    errors.require(config.model.columns == 2,
                   'config.parallel.model_devices=2 puts one kernel column on each device '
                   f'and needs config.model.columns=2 (got {config.model.columns})')
  if num_devices is None:
    return
  errors.require(num_devices % parallel.model_devices == 0,
                 f'config.parallel.model_devices={parallel.model_devices} does not divide the '
                 f'{num_devices} available devices')
  data_devices = parallel.data_devices
  if data_devices == -1:
    data_devices = num_devices // parallel.model_devices
  errors.require(data_devices >= 1 and data_devices * parallel.model_devices <= num_devices,
                 f'config.parallel.data_devices={parallel.data_devices} x model_devices='
                 f'{parallel.model_devices} needs more than the {num_devices} available devices')
  for key in ('batch_size', 'eval_batch_size', 'benchmark.batch_size'):
    value = config.benchmark.batch_size if key == 'benchmark.batch_size' else config[key]
    errors.require(value % data_devices == 0,
                   f'config.{key}={value} is not divisible by the {data_devices} data devices')


def layout_from_config(config, num_devices: Optional[int] = None) -> Layout:
  """The layout `config.parallel` asks for on `num_devices` (default: all devices).

  Raises errors.ConfigError naming the key when it does not fit.
  """
  if num_devices is None:
    num_devices = jax.device_count()
  validate_layout(config, num_devices)
  parallel = config.parallel
  data = parallel.data_devices
  if data == -1:
    data = num_devices // parallel.model_devices
  layout = Layout(data=data, model=parallel.model_devices, backend=parallel.backend)
  if jax.process_count() > 1:
    local = jax.local_device_count()
    errors.require(layout.num_devices == num_devices,
                   f'multi-host runs use every device: config.parallel.data_devices='
                   f'{parallel.data_devices} x model_devices={layout.model} is '
                   f'{layout.num_devices}, not the {num_devices} devices of all hosts')
    errors.require(local % layout.model == 0,
                   f'config.parallel.model_devices={layout.model} does not divide the '
                   f'{local} devices of each host (both columns of a replica must be on '
                   'one host)')
  return layout


@dataclasses.dataclass(frozen=True)
class Collectives:
  """The collectives of the per-device step, named once for both backends."""
  layout: Layout

  @property
  def model_size(self) -> int:
    return self.layout.model

  def _pmap(self) -> bool:
    return self.layout.backend == 'pmap'

  def _groups(self, over: str):
    data, model = self.layout.data, self.layout.model
    if over == MODEL_AXIS:
      return [[d * model + m for m in range(model)] for d in range(data)]
    return [[d * model + m for d in range(data)] for m in range(model)]

  def data_index(self):
    if self._pmap():
      return jax.lax.axis_index(DEVICE_AXIS) // self.layout.model
    return jax.lax.axis_index(DATA_AXIS)

  def model_index(self):
    if self._pmap():
      return jax.lax.axis_index(DEVICE_AXIS) % self.layout.model
    return jax.lax.axis_index(MODEL_AXIS)

  def _psum(self, tree, over: str):
    if self._pmap():
      return jax.lax.psum(tree, DEVICE_AXIS, axis_index_groups=self._groups(over))
    return jax.lax.psum(tree, over)

  def sum_over_data(self, tree):
    return tree if self.layout.data == 1 else self._psum(tree, DATA_AXIS)

  def gather_columns(self, x):
    """Both columns' activations, concatenated on the channel axis (column 0 first)."""
    if self._pmap():
      return jax.lax.all_gather(x, DEVICE_AXIS, axis=x.ndim - 1, tiled=True,
                                axis_index_groups=self._groups(MODEL_AXIS))
    return jax.lax.all_gather(x, MODEL_AXIS, axis=x.ndim - 1, tiled=True)

  def reduce_gradients(self, grads):
    """Sums over the data axis; the replicated (non-column) parameters also over
    the model axis, where each device holds only its share of their gradient."""
    grads = self.sum_over_data(grads)
    if self.layout.model == 1:
      return grads
    return {name: grads[name] if name == 'column' else self._psum(grads[name], MODEL_AXIS)
            for name in grads}


# ---------------------------------------------------------------------------
# Full tree <-> per-device shares. Works on params and on optimizer states
# (optax keeps parameter-shaped subtrees such as the momentum trace).
# ---------------------------------------------------------------------------


def _is_full_params(node) -> bool:
  return isinstance(node, dict) and 'column0' in node


def _is_share(node) -> bool:
  return isinstance(node, dict) and 'column' in node


def column_share(full_tree, column: int, model: int):
  """Device column `column`'s share of a full tree: its column as `column`, the
  replicated layers as they are."""
  if model == 1:
    return full_tree

  def share(node):
    if not _is_full_params(node):
      return node
    result = {name: value for name, value in node.items() if not name.startswith('column')}
    result['column'] = node[f'column{column}']
    return result

  return jax.tree.map(share, full_tree, is_leaf=_is_full_params)


def join_columns(shares):
  """The full tree from the column devices' shares (column 0 first)."""
  if len(shares) == 1:
    return shares[0]

  def join(*nodes):
    if not _is_share(nodes[0]):
      return nodes[0]
    result = {name: value for name, value in nodes[0].items() if name != 'column'}
    for column, node in enumerate(nodes):
      result[f'column{column}'] = node['column']
    return result

  return jax.tree.map(join, *shares, is_leaf=_is_share)


class Placement:
  """Where a layout puts things: its devices, the steps wrapped for them (jit/pmap
  or shard_map), and the transfers of host trees and batches to and from them.
  Device trees carry a leading axis of one entry per device."""

  def __init__(self, layout: Layout, devices=None):
    self.layout = layout
    if devices is None:
      devices = jax.devices()[:layout.num_devices]
    self.devices = list(devices)
    self.collectives = Collectives(layout)
    self.mesh = Mesh(np.array(self.devices).reshape(layout.data, layout.model),
                     (DATA_AXIS, MODEL_AXIS))
    if layout.backend == 'pmap':  # the sharding pmap gives its outputs
      self.per_device = NamedSharding(Mesh(np.array(self.devices), (DEVICE_AXIS,)),
                                      P(DEVICE_AXIS))
    else:
      self.per_device = NamedSharding(self.mesh, P((DATA_AXIS, MODEL_AXIS)))
    self.local_indices = [i for i, device in enumerate(self.devices)
                          if device.process_index == jax.process_index()]

  @property
  def model_collectives(self) -> Optional[Collectives]:
    """What the model needs: the collectives when the columns are on two devices."""
    return self.collectives if self.layout.model > 1 else None

  # -- the steps ------------------------------------------------------------

  def wrap_step(self, per_device_fn, arg_kinds, donate_first=False):
    """`arg_kinds`: per argument 'device' (a tree with a leading device axis),
    'batch' (from put_batch) or 'replicated'. Outputs get a leading device axis."""
    if self.layout.backend == 'pmap':
      in_axes = tuple(None if kind == 'replicated' else 0 for kind in arg_kinds)
      return jax.pmap(per_device_fn, axis_name=DEVICE_AXIS, in_axes=in_axes,
                      devices=self.devices, donate_argnums=(0,) if donate_first else ())

    specs = {'device': P((DATA_AXIS, MODEL_AXIS)), 'batch': P(DATA_AXIS), 'replicated': P()}

    def body(*args):
      args = [jax.tree.map(lambda x: x[0], arg) if kind == 'device' else arg
              for arg, kind in zip(args, arg_kinds)]
      return jax.tree.map(lambda x: x[None], per_device_fn(*args))

    mapped = jax.shard_map(body, mesh=self.mesh,
                           in_specs=tuple(specs[kind] for kind in arg_kinds),
                           out_specs=specs['device'])
    return jax.jit(mapped, donate_argnums=(0,) if donate_first else ())

  def train_step(self, per_device_step):
    """`step(state, batch, rng, learning_rate) -> (state, metrics)` over the layout."""
    return self.wrap_step(per_device_step, ('device', 'batch', 'replicated', 'replicated'),
                          donate_first=True)

  def eval_step(self, per_device_step):
    """`step(params, batch) -> metric sums` over the layout."""
    return self.wrap_step(per_device_step, ('device', 'batch'))

  # -- transfers --------------------------------------------------------------

  def put_tree(self, full_tree):
    """The full (host) tree as device trees: device i gets its column's share.

    Each device's row is copied from its column's share straight to that device
    (`make_array_from_callback`, which asks only for this host's devices), never
    stacked on the host first: for the paper net on 8 devices a stack was 8 copies of
    a half-model state (~2 GB) and most of a layout test's time."""
    model = self.layout.model
    shares = [jax.tree.map(np.asarray, column_share(full_tree, m, model)) for m in range(model)]

    def put(*column_leaves):
      def row(index):  # index[0]: the slice of the device axis, one row per device
        return column_leaves[(index[0].start or 0) % model][None]
      return jax.make_array_from_callback((self.layout.num_devices, *column_leaves[0].shape),
                                          self.per_device, row)

    return jax.tree.map(put, *shares)

  def get_tree(self, device_tree, device=None):
    """The full tree from this host's devices: numpy, or arrays on `device`."""
    shares = [self.from_device(device_tree, m) for m in range(self.layout.model)]
    full = join_columns(shares)
    return full if device is None else jax.device_put(full, device)

  def from_device(self, device_tree, index: Optional[int] = None):
    """One device's entry of a device tree, copied to the host: this host's first
    device by default; `index` m picks column m of this host's first data replica.
    (Replicated values and sums over the data axis are equal on every device.)"""
    wanted = self.devices[self.local_indices[0] + (index or 0)]

    def one(x):
      for shard in x.addressable_shards:
        if shard.device == wanted:
          return np.asarray(shard.data)[0]
      raise ValueError(f'device {wanted} holds no row of this array')

    return jax.tree.map(one, device_tree)

  def put_batch(self, batch):
    """This host's share of the global batch -> device arrays split over data replicas.

    The global batch is split into `data` contiguous slices in data-replica
    order; each host passes the slices of its own replicas, concatenated.
    """
    local_data = len(self.local_indices) // self.layout.model
    for name, value in batch.items():
      errors.require(value.shape[0] % local_data == 0,
                     f'batch {name!r} of {value.shape[0]} examples does not split over '
                     f'{local_data} data devices')
    if self.layout.backend == 'pmap':
      # One row per device: a replica's slice, repeated for each of its columns.
      return {name: np.repeat(np.asarray(value).reshape(local_data, -1, *value.shape[1:]),
                              self.layout.model, axis=0)
              for name, value in batch.items()}
    sharding = NamedSharding(self.mesh, P(DATA_AXIS))
    if jax.process_count() == 1:
      return jax.device_put(batch, sharding)
    return {name: jax.make_array_from_process_local_data(sharding, np.asarray(value))
            for name, value in batch.items()}
