"""The layer table researchers print for AlexNet: output shape, parameters and
multiply-adds per layer, from the real model (shapes traced with
`jax.eval_shape`, nothing computed or allocated).

Multiply-adds count the convolution and matrix products only (biases,
activations, LRN and pooling are left out, as in the usual 0.72 G figure for
the paper's network).
"""

import math

import jax
import jax.numpy as jnp

from alexnet_jax.models import cuda_convnet, alexnet
from alexnet_jax.runtime import results_io


def _shapes(config):
  """(parameter shapes, intermediate shapes) of `config`'s model, traced."""
  model = alexnet.create_model(config.model)
  image_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  params = jax.eval_shape(lambda: alexnet.init_params(model, jax.random.key(0), image_shape))
  images = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
  _, state = jax.eval_shape(
      lambda p, x: model.apply({'params': p}, x, train=False, mutable=['intermediates']),
      params, images)
  return params, state['intermediates'], image_shape


def _table(config, image_shape, rows, columns) -> dict:
  return {
      'variant': config.model.variant,
      'image_shape': list(image_shape),
      'num_classes': config.model.num_classes,
      'columns': columns,
      'layers': rows,
      'total_params': int(sum(r['params'] for r in rows)),
      'total_macs': int(sum(r['macs'] for r in rows)),
  }


def cuda_convnet_table(config) -> dict:
  """The layer table of a cuda-convnet net: every layer of its file, pooling and
  response normalization included (their output sizes are cuda-convnet's). With two
  columns a column layer's row sums both columns, its output joins their maps, and
  'reads' says whether it reads its own column's maps or both columns'."""
  params, intermediates, image_shape = _shapes(config)
  net = cuda_convnet.NETS[config.model.variant]
  scopes = [name for name in sorted(params) if name.startswith('column')]
  rows = []
  for layer in net.layers:
    in_columns = scopes and not isinstance(layer, cuda_convnet.DenseLayer)
    trees = ([(params[c], intermediates[c]) for c in scopes] if in_columns
             else [(params, intermediates)])
    if f'{layer.name}_out' not in trees[0][1]:  # a norm layer switched off (model.lrn)
      continue
    outputs = [found[f'{layer.name}_out'][0].shape[1:] for _, found in trees]
    output = (outputs[0] if len(outputs[0]) == 1  # fc10's classes
              else (*outputs[0][:-1], sum(o[-1] for o in outputs)))
    layer_params = macs = 0
    for tree, output_one in zip((p for p, _ in trees), outputs):
      weights = tree.get(layer.name)
      if weights is None:
        continue
      layer_params += sum(math.prod(p.shape) for p in jax.tree.leaves(weights))
      kernel = weights['kernel'].shape
      if isinstance(layer, cuda_convnet.ConvLayer):
        macs += math.prod(output_one[:2]) * math.prod(kernel)
      else:  # locally-connected (the kernel holds every position) and dense
        macs += math.prod(kernel)
    row = {'name': layer.name, 'output_shape': list(output), 'columns': len(trees),
           'sees': cuda_convnet.kind(layer),
           'params': int(layer_params), 'macs': int(macs)}
    if scopes:
      row['reads'] = (alexnet.BOTH if layer.name == net.exchange or not in_columns
                      else alexnet.OWN)
    rows.append(row)
  return _table(config, image_shape, rows, max(len(scopes), 1))


def layer_table(config) -> dict:
  """Returns {'layers': [...], 'total_params', 'total_macs', ...} for `config`."""
  if config.model.variant in cuda_convnet.NETS:
    return cuda_convnet_table(config)
  params, intermediates, image_shape = _shapes(config)
  arch = alexnet.ModelSpec.from_config(config.model).arch
  columns = [name for name in params if name.startswith('column')]
  rows = []
  for layer in arch.conv + arch.dense:
    kernels = [params[c][layer.name]['kernel'].shape for c in columns]
    layer_params = sum(math.prod(k) + k[-1] for k in kernels)
    outputs = [intermediates[c][f'{layer.name}_out'][0].shape[1:] for c in columns]
    output_shape = (*outputs[0][:-1], sum(o[-1] for o in outputs))
    if isinstance(layer, alexnet.ConvLayer):
      conv_out = intermediates[columns[0]][f'{layer.name}_conv'][0].shape[1:3]
      macs = sum(math.prod(conv_out) * math.prod(k) for k in kernels)
    else:
      macs = sum(math.prod(k) for k in kernels)
    rows.append({
        'name': layer.name,
        'output_shape': list(output_shape),
        'columns': len(columns),
        'sees': layer.sees,
        'params': int(layer_params),
        'macs': int(macs),
    })
  fc8 = params['fc8']['kernel'].shape
  rows.append({'name': 'fc8', 'output_shape': [fc8[1]], 'columns': 1, 'sees': alexnet.BOTH,
               'params': int(math.prod(fc8) + fc8[1]), 'macs': int(math.prod(fc8))})
  return _table(config, image_shape, rows, config.model.columns)


def format_table(table: dict) -> str:
  net = 'cuda-convnet' if table['variant'] in cuda_convnet.NETS else 'AlexNet'
  reads = 'reads' in table['layers'][0]
  lines = [f"{net} '{table['variant']}', input {'x'.join(map(str, table['image_shape']))}, "
           f"{table['columns']} column(s), {table['num_classes']} classes",
           f"{'layer':<7}{'output':>16}{'sees' if net == 'AlexNet' else 'kind':>7}"
           + (f"{'reads':>7}" if reads else '') + f"{'params':>14}{'mult-adds':>16}"]
  for row in table['layers']:
    lines.append(f"{row['name']:<7}{'x'.join(map(str, row['output_shape'])):>16}"
                 f"{row['sees']:>7}" + (f"{row['reads']:>7}" if reads else '')
                 + f"{row['params']:>14,}{row['macs']:>16,}")
  lines.append(f"{'total':<{30 + 7 * reads}}{table['total_params']:>14,}"
               f"{table['total_macs']:>16,}")
  return '\n'.join(lines)


def run(config, workdir: str) -> dict:
  """`--mode=summary`: prints the table and writes `workdir/summary.json`."""
  table = layer_table(config)
  results_io.show_and_write(format_table(table), workdir, 'summary.json', table)
  return table
