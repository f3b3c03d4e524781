"""`--mode=eval`: restores a checkpoint's parameters (not the optimizer state) and
evaluates the eval split on center crops or, with `config.data.ten_views`, on
the paper's 10 views; every example counts, the partial last batch included.
Writes `DIR/eval.json`."""

import os

from alexnet_jax.data import iterators
from alexnet_jax.devices import parallel
from alexnet_jax.runtime import results_io
from alexnet_jax.training import restore, step_functions


def run(config, workdir: str, filename: str = 'eval.json') -> dict:
  layout = parallel.layout_from_config(config)
  params, meta, manager = restore.restore_params(config, workdir)
  placement = parallel.Placement(layout)
  compiled = step_functions.CompiledSteps(config, placement)
  result = step_functions.evaluate(compiled.eval_fn(placement.put_tree(params)),
                                   iterators.create_eval_iterator(config))
  record = {'step': int(meta['step']), 'split': config.data.eval_split,
            'views': 10 if config.data.ten_views else 1, 'checkpoint':
            os.path.join(str(manager.directory), str(meta['step'])), **result}
  table = (f"{'step':>8} {'split':>12} {'views':>6} {'examples':>9} {'top-1 err':>10} "
           f"{'top-5 err':>10}\n"
           f"{record['step']:>8} {record['split']:>12} {record['views']:>6} "
           f"{record['num_examples']:>9} {record['top1_error']:>10.2%} "
           f"{record['top5_error']:>10.2%}")
  results_io.show_and_write(table, workdir, filename, record)
  return record
