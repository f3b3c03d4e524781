"""Where a training step's time goes, layer by layer: runs the benchmark's own train
step (`--mode=benchmark`'s, buffers donated) under `jax.profiler`, maps every XLA
operation in the trace to the layer and pass (forward / backward) it came from (its
`op_name` in the compiled HLO) and prints milliseconds per step for each, with the
kinds of XLA operations that make it up.

    python -m experiments.profile_step --config=configs/default.py:paper \
        --config.benchmark.batch_size=32

Writes `profile_step.json` to --out when given. The figures are per step, averaged over
--steps traced steps after warm-up; on a 2-core CPU, operations of the two columns
can overlap, so the rows may add up to more than the step's wall time (printed too).
Operations inside loops (the chunked convolutions' `lax.map`/`lax.scan`) are counted
where the trace records them; compare rows across versions with that in mind. Under
XLA:CPU's thunk runtime (jaxlib 0.10-0.12) a convolution's trace event can cover its launch
only, the work landing in 'ThunkExecutor::Execute (wait for completion)': when the
attributed total is far below the wall time (cuda-convnet's small nets), time the layers
alone instead.
"""

import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

import jax
from absl import app, flags
from ml_collections import config_flags

from alexnet_jax import benchmark
from alexnet_jax.devices import parallel
from alexnet_jax.runtime import results_io, startup
from alexnet_jax.training import step_functions

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

config_flags.DEFINE_config_file(
    'config', os.path.join(REPO, 'configs', 'default.py:paper'),
    'Config file (configs/*.py[:preset]), with --config.a.b=value overrides as in main.')
flags.DEFINE_integer('steps', 3, 'Traced steps, after two untraced warm-up steps.')
flags.DEFINE_string('out', None, 'Directory for profile_step.json (optional).')
FLAGS = flags.FLAGS

# The model's top module: AlexNet, or CudaConvnet for cuda-convnet's nets.
_LAYER = re.compile(r'(transpose\()?jvp\((?:AlexNet|CudaConvnet)\)\)?/(?:column\d/)?([A-Za-z_]\w*)')


def op_names(hlo_text: str) -> dict:
  """HLO instruction name -> the `op_name` of the JAX operation it was made from."""
  names = {}
  for line in hlo_text.splitlines():
    match = re.match(r'\s*(?:ROOT )?%([\w.\-]+) = .*?op_name="([^"]*)"', line)
    if match:
      names[match.group(1)] = match.group(2)
  return names


def layer_of(op_name: str) -> str:
  """'forward conv2', 'backward lrn1', ... or 'other' (loss, optimizer update)."""
  match = _LAYER.search(op_name)
  if not match:
    return 'update/loss/other'
  return ('backward ' if match.group(1) else 'forward ') + match.group(2)


def profile(config, steps: int) -> dict:
  startup.setup()  # as --mode=benchmark measures
  placement = parallel.Placement(parallel.layout_from_config(config))
  step_fns = step_functions.CompiledSteps(config, placement)
  state, batch, rng, rate = benchmark.random_step_inputs(config, placement, step_fns)
  names = op_names(step_fns.train_step.lower(state, batch, rng, rate).compile().as_text())
  for _ in range(2):
    state, metrics = step_fns.train_step(state, batch, rng, rate)
  jax.block_until_ready((state, metrics))
  with tempfile.TemporaryDirectory() as trace_dir:
    jax.profiler.start_trace(trace_dir)
    start = time.perf_counter()
    for _ in range(steps):
      state, metrics = step_fns.train_step(state, batch, rng, rate)
    jax.block_until_ready((state, metrics))
    wall_ms = (time.perf_counter() - start) / steps * 1e3
    jax.profiler.stop_trace()
    trace_file = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'), recursive=True)[0]
    with gzip.open(trace_file) as f:
      events = json.load(f)
  events = events['traceEvents'] if isinstance(events, dict) else events
  total = collections.Counter()
  kinds = collections.defaultdict(collections.Counter)
  for event in events:
    if event.get('ph') != 'X' or 'dur' not in event:
      continue
    if event['name'] in names:
      layer = layer_of(names[event['name']])
      total[layer] += event['dur']
      kinds[layer][re.sub(r'\.\d+$', '', event['name'])] += event['dur']
  rows = [{'layer': layer, 'ms_per_step': us / steps / 1e3,
           'ops': {k: v / steps / 1e3 for k, v in kinds[layer].most_common()}}
          for layer, us in total.most_common()]
  return {'variant': config.model.variant, 'batch_size': config.benchmark.batch_size,
          'image_size': config.data.image_size,
          'steps': steps, 'command': ' '.join(sys.argv), 'jax_version': jax.__version__,
          'wall_ms_per_step': wall_ms,
          'attributed_ms_per_step': sum(total.values()) / steps / 1e3, 'layers': rows}


def main(argv):
  del argv
  report = profile(FLAGS.config, FLAGS.steps)
  print(f"{report['variant']} batch {report['batch_size']}: {report['wall_ms_per_step']:.1f} ms "
        f"per step (wall, under the profiler), {report['attributed_ms_per_step']:.1f} ms of "
        f"XLA operations")
  for row in report['layers']:
    ops = ', '.join(f'{k} {v:.0f}' for k, v in list(row['ops'].items())[:4])
    print(f"{row['ms_per_step']:9.1f} ms  {row['layer']:<24} {ops}")
  if FLAGS.out:
    os.makedirs(FLAGS.out, exist_ok=True)
    results_io.write_json_atomic(os.path.join(FLAGS.out, 'profile_step.json'), report)


if __name__ == '__main__':
  app.run(main)
