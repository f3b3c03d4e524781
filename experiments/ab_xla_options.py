"""Training step and forward pass compiled under several XLA compiler settings in one
process, timed alternately (A, B, A, B, ...), so that the machine's drift, which on
the shared development VM moves separate runs by 10% or more, hits every setting
alike.

    python -m experiments.ab_xla_options --rounds=6
    python -m experiments.ab_xla_options --config=configs/default.py --config.benchmark.batch_size=128

Settings (`SETTINGS`): `project` (alexnet_jax.runtime.xla_flags: YNNPACK for dots only,
region analysis in copy insertion), `ynn_convolutions` (YNNPACK for dots and
convolutions, XLA's choice without the project's first flag) and
`no_region_analysis` (XLA's default copy insertion), `xla_default` (neither); the
candidates `xnn_graph_fusion`, `onednn` and `vector_width_512` only with `--settings`. Writes
`ab_xla_options.json` to --out when given.
"""

import json
import os
import statistics
import sys
import time

import jax
from absl import app, flags
from ml_collections import config_flags

from alexnet_jax import benchmark
from alexnet_jax.devices import parallel
from alexnet_jax.runtime import host_memory, results_io, xla_flags
from alexnet_jax.training import step_functions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_TYPE = 'LIBRARY_FUSION_TYPE_'
_PROJECT = {flag.lstrip('-'): {'true': True, 'false': False}.get(value, value)
            for flag, value in xla_flags.SETTINGS.items()}
SETTINGS = {
    'project': _PROJECT,
    'ynn_convolutions': {**_PROJECT, 'xla_cpu_experimental_ynn_fusion_type':
                         f'{_TYPE}INDIVIDUAL_DOT,{_TYPE}INDIVIDUAL_CONVOLUTION'},
    'no_region_analysis': {**_PROJECT, 'xla_cpu_copy_insertion_use_region_analysis': False},
    'xla_default': {},  # neither of the project's settings: what a plain `import jax` gets
    # Candidates that jaxlib 0.12's XLA:CPU offers; on top of the project's settings.
    'xnn_graph_fusion': {**_PROJECT, 'xla_cpu_experimental_xnn_graph_fusion_mode':
                         'XNN_GRAPH_FUSION_MODE_GREEDY'},
    'onednn': {**_PROJECT, 'xla_cpu_use_onednn': True},
    # 512-bit vectors in XLA's own loops (its default prefers 256 on AVX-512 CPUs).
    'vector_width_512': {**_PROJECT, 'xla_cpu_prefer_vector_width': 512},
}

config_flags.DEFINE_config_file(
    'config', os.path.join(REPO, 'configs', 'benchmark.py'),
    'Config file (configs/*.py[:preset]), with --config.a.b=value overrides as in main.')
flags.DEFINE_integer('rounds', 6, 'Timed rounds; each times one step and one forward per setting.')
flags.DEFINE_string('settings', 'project,ynn_convolutions,no_region_analysis,xla_default',
                    'Comma-separated names from SETTINGS.')
flags.DEFINE_string('out', None, 'Directory for ab_xla_options.json (optional).')
FLAGS = flags.FLAGS


def compile_setting(config, options):
  """The benchmark's training step and forward pass, compiled with `options`."""
  placement = parallel.Placement(parallel.layout_from_config(config))
  compiled = step_functions.CompiledSteps(config, placement)
  state, batch, rng, rate = benchmark.random_step_inputs(config, placement, compiled)
  train_step = compiled.train_step.lower(state, batch, rng, rate).compile(compiler_options=options)
  model = compiled.model
  forward = placement.wrap_step(lambda p, b: model.apply({'params': p}, b['image'], train=False),
                                ('device', 'batch'))
  forward = forward.lower(state.params, batch).compile(compiler_options=options)
  holder = {'state': state}

  def step():
    holder['state'], metrics = train_step(holder['state'], batch, rng, rate)
    jax.block_until_ready((holder['state'], metrics))

  def forward_pass():
    jax.block_until_ready(forward(holder['state'].params, batch))

  return step, forward_pass


def _timed(fn):
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def main(argv):
  del argv
  host_memory.retain_freed_memory()  # not runtime.setup(): the XLA settings are compared here
  config = FLAGS.config
  names = FLAGS.settings.split(',')
  unknown = [name for name in names if name not in SETTINGS]
  if unknown:
    raise app.UsageError(f'unknown settings {unknown}; known: {sorted(SETTINGS)}')
  compiled = {name: compile_setting(config, SETTINGS[name]) for name in names}
  for step, forward in compiled.values():  # warm-up
    step(), step(), forward(), forward()
  times = {name: {'train_step_s': [], 'forward_s': []} for name in names}
  for round_index in range(FLAGS.rounds):
    for name, (step, forward) in compiled.items():
      times[name]['train_step_s'].append(_timed(step))
      times[name]['forward_s'].append(_timed(forward))
    print(f'round {round_index + 1}/{FLAGS.rounds}: ' + ', '.join(
        f"{name} {times[name]['train_step_s'][-1] * 1e3:.0f} ms" for name in names), flush=True)
  report = {'variant': config.model.variant, 'batch_size': config.benchmark.batch_size,
            'jax_version': jax.__version__, 'rounds': FLAGS.rounds, 'command': ' '.join(sys.argv),
            'settings': {name: {'compiler_options': SETTINGS[name], **{
                key: {'median_s': statistics.median(values), 'min_s': min(values),
                      'all_s': values} for key, values in times[name].items()}}
                for name in names}}
  for name, result in report['settings'].items():
    print(f"{name:<18} train step median {result['train_step_s']['median_s'] * 1e3:7.1f} ms, "
          f"forward median {result['forward_s']['median_s'] * 1e3:7.1f} ms")
  if FLAGS.out:
    os.makedirs(FLAGS.out, exist_ok=True)
    results_io.write_json_atomic(os.path.join(FLAGS.out, 'ab_xla_options.json'), report)
    print(json.dumps({'wrote': os.path.join(FLAGS.out, 'ab_xla_options.json')}))


if __name__ == '__main__':
  app.run(main)
