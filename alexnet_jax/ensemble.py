"""Ensembles of trained runs: their softmax outputs averaged (paper section 6).

    python -m alexnet_jax.ensemble RUN_DIR [RUN_DIR ...] --out=FILE.json [--ten_views]

The paper's headline numbers are ensembles: "averaging the predictions of five similar
CNNs gives an error rate of 16.4%" top-5 on ILSVRC-2012's validation set, against 18.2%
for one (Table 2). This averages the class probabilities of any trained runs (a run
directory or a checkpoint step directory each), example by example, on their eval split or
`--split=SPLIT` (center crops, or the paper's 10 views with `--ten_views`, each member's
views averaged first as `--mode=eval` does), and writes FILE.json: each member's
top-1/top-5 error and loss, their mean, and the ensemble's.

Each member is restored with the config stored in its checkpoint and evaluated with its
own preprocessing (its normalization and statistics), as `--mode=eval` evaluates it; the
members must share the dataset, the split, the classes and the evaluated examples, which
is checked before anything is evaluated, and their labels are compared batch by batch.
"""

import os
import sys

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from alexnet_jax import errors
from alexnet_jax.data import iterators
from alexnet_jax.models import alexnet
from alexnet_jax.runtime import cli, console, results_io, startup
from alexnet_jax.training import restore, step_functions

USAGE = 'usage: ' + __doc__.split('\n\n')[1].strip()
FLAGS = flags.FlagValues()
flags.DEFINE_string('out', None, 'write the ensemble and its members here (a .json file)',
                    flag_values=FLAGS)
flags.DEFINE_bool('ten_views', False, "the paper's 10 views instead of the center crop",
                  flag_values=FLAGS)
flags.DEFINE_string('split', None, "the split to evaluate (default: the members' eval split)",
                    flag_values=FLAGS)
flags.mark_flag_as_required('out', flag_values=FLAGS)

# What the members must share so that their predictions are of the same examples.
SHARED_KEYS = ('data.name', 'data.eval_split', 'model.num_classes', 'eval.max_examples')


def _value(config, dotted: str):
  node = config
  for key in dotted.split('.'):
    node = node.get(key) if node is not None else None
  return node


@console.quiet_library_logs
def load_members(paths, ten_views: bool, split=None) -> list:
  """[(path, config, params, step, checkpoint)] for `paths`, each config set to evaluate
  `split` (default: its own eval split) on 10 views or the center crop. ConfigError
  naming the path that holds no checkpoint or the key on which the members differ."""
  members = []
  for path in paths:
    try:
      config, params, step, checkpoint = restore.trained_run(path)
    except (ValueError, FileNotFoundError) as error:
      raise errors.ConfigError(str(error)) from None
    config.data.ten_views = ten_views
    if split:
      config.data.eval_split = split
    members.append((path, config, params, step, checkpoint))
  first_path, first = members[0][0], members[0][1]
  for path, config, *_ in members[1:]:
    for key in SHARED_KEYS:
      if _value(config, key) != _value(first, key):
        raise errors.ConfigError(
            f'{key} differs between ensemble members: {_value(first, key)!r} in {first_path}, '
            f'{_value(config, key)!r} in {path}')
    config.eval_batch_size = first.eval_batch_size  # so that batch i holds the same images
  return members


def _member_batches(config, params):
  """(labels, mask, logits, probabilities) per eval batch of one member, as numpy."""
  model = alexnet.create_model(config.model)
  outputs = jax.jit(lambda p, images: step_functions.eval_outputs(model, p, images))
  for batch in iterators.create_eval_iterator(config):
    logits, probs = jax.device_get(outputs(params, batch['image']))
    yield batch['label'], batch['mask'], logits, probs


@console.quiet_library_logs
def evaluate(members) -> dict:
  """Each member's metrics and the ensemble's: the members' class probabilities
  averaged per example, scored by their log as `--mode=eval` scores 10 views."""
  probability_sums, labels_seen, member_results = [], [], []
  for index, (path, config, params, step, checkpoint) in enumerate(members):
    totals, position = None, -1
    for position, (labels, mask, logits, probs) in enumerate(_member_batches(config, params)):
      if index == 0:
        labels_seen.append((labels, mask))
        probability_sums.append(probs.astype(np.float64))
      else:
        if position >= len(labels_seen) or not (
            np.array_equal(labels_seen[position][0], labels)
            and np.array_equal(labels_seen[position][1], mask)):
          raise errors.UserError(f'{path} evaluates other examples than {members[0][0]} '
                                 f'(labels differ in batch {position})')
        probability_sums[position] += probs
      totals = step_functions.add_sums(
          totals, step_functions.classification_metrics(logits, labels, mask))
    if position < 0:
      raise errors.UserError(f'{path}: its split {config.data.eval_split!r} has no examples')
    if position + 1 != len(labels_seen):
      raise errors.UserError(f'{path} evaluates other examples than {members[0][0]} '
                             f'({position + 1} batches, not {len(labels_seen)})')
    member_results.append({'run': os.path.abspath(path), 'step': step,
                           'checkpoint': checkpoint, **step_functions.scores(totals)})
    print(f"member {index}: top-1 err {member_results[-1]['top1_error']:.2%}, "
          f"top-5 err {member_results[-1]['top5_error']:.2%} ({path})", flush=True)
  ensemble = None
  for (labels, mask), sums in zip(labels_seen, probability_sums):
    mean = (sums / len(members)).astype(np.float32)
    ensemble = step_functions.add_sums(
        ensemble, step_functions.classification_metrics(jnp.log(mean), labels, mask))
  config = members[0][1]
  keys = ('loss', 'top1_error', 'top5_error')
  return {'split': config.data.eval_split, 'views': 10 if config.data.ten_views else 1,
          'members': member_results,
          'member_mean': {k: float(np.mean([m[k] for m in member_results])) for k in keys},
          'ensemble': step_functions.scores(ensemble)}


def table(record) -> str:
  rows = [f"| member {i} | {m['top1_error']:.2%} | {m['top5_error']:.2%} | {m['loss']:.4f} |"
          for i, m in enumerate(record['members'])]
  for name in ('member_mean', 'ensemble'):
    r = record[name]
    rows.append(f"| {name.replace('_', ' ')} | {r['top1_error']:.2%} | {r['top5_error']:.2%} "
                f"| {r['loss']:.4f} |")
  return '\n'.join([f"{len(record['members'])} runs, split {record['split']}, "
                    f"{record['views']} view(s), {record['ensemble']['num_examples']} examples",
                    '', '| | top-1 err | top-5 err | loss |', '|---|---|---|---|', *rows])


def main(argv) -> int:
  """`argv`: the arguments after the program name; returns the exit code."""
  paths = cli.parse(FLAGS, argv, USAGE)
  if not paths:
    return cli.usage_error('expected at least one run directory')
  out = FLAGS.out
  if not out.endswith('.json') or not os.path.isdir(os.path.dirname(os.path.abspath(out))):
    return cli.usage_error(f'--out={out}: expected a .json file in an existing directory')
  startup.setup()  # before XLA's threads allocate or anything is compiled
  console.quiet_native_logs()
  try:
    members = load_members(paths, FLAGS.ten_views, FLAGS.split)
    record = evaluate(members)
  except errors.UserError as error:
    return cli.fail(error)
  results_io.write_json_atomic(out, record)
  print(table(record))
  print(f'wrote {out}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
