"""Writes the golden run that tests/test_golden_run.py reads on every JAX version.

    python -m tests.make_golden_run tests/data/golden_run

A tiny network (the small net at width 1/16, 12x12x3 images of the tests' toy
dataset, 4 classes) trained 4 steps with checkpoints at steps 3 and 4; step 4's
checkpoint is removed after its logits are recorded, so the committed run is one
interrupted after step 3: a resume trains step 4 again; with its config.json,
metrics.jsonl and dataset_statistics.json (added by hand on 2026-12-05, computed from the
same toy dataset, so that loading it needs no dataset). Also written:
`expected.json` (the versions that wrote it, the test images' seed, the logits at
step 3 and after step 4, the evaluation at step 3). Run it with the oldest JAX the
project supports (jax 0.10.2 on Python 3.11); the tests check that newer ones read it.
"""

import importlib.metadata
import json
import os
import shutil
import sys
import tempfile

import numpy as np

from tests.conftest import TINY_SIZE, make_tiny_config, tiny_arrays

IMAGES_SEED = 5
PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'orbax-checkpoint')


def golden_config(data_dir):
  config = make_tiny_config(data_dir)
  config.model.width_multiplier = 1 / 16
  config.num_train_steps = 4
  config.checkpoint.every_steps = 3
  config.checkpoint.async_save = False
  config.eval_every_steps = 3
  config.log_every_steps = 1
  return config


def test_images():
  return tiny_arrays(6, IMAGES_SEED)[0]


def versions() -> dict:
  return {name: importlib.metadata.version(name) for name in PACKAGES}


def main(dest):
  from alexnet_jax import api, evaluate, train
  from alexnet_jax.data import importers
  if os.path.exists(dest):
    sys.exit(f'error: {dest} exists; remove it to write the golden run again')
  data_dir = tempfile.mkdtemp()
  importers.store('tiny_quadrants', {'train': tiny_arrays(200, 0), 'test': tiny_arrays(37, 1)},
                  data_dir)
  config = golden_config(data_dir)
  work = tempfile.mkdtemp()
  train.train_and_evaluate(config, work)
  images = test_images()
  after_step4 = api.load(work)
  logits4 = after_step4.logits(after_step4.preprocess(images))
  shutil.rmtree(os.path.join(work, 'checkpoints', '4'))
  for name in ('eval.json', 'summary.json'):
    if os.path.exists(os.path.join(work, name)):
      os.remove(os.path.join(work, name))
  with open(os.path.join(work, 'metrics.jsonl')) as f:
    kept = [line for line in f if json.loads(line)['step'] <= 3]
  with open(os.path.join(work, 'metrics.jsonl'), 'w') as f:
    f.writelines(kept)
  at_step3 = api.load(work)
  assert at_step3.step == 3
  eval_config = golden_config(data_dir)
  record = evaluate.run(eval_config, work, filename='eval_step3.json')
  os.remove(os.path.join(work, 'eval_step3.json'))
  for name in os.listdir(work):  # the run's small files and its checkpoint only
    if name not in ('config.json', 'dataset_statistics.json', 'metrics.jsonl', 'checkpoints'):
      path = os.path.join(work, name)
      shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
  shutil.copytree(work, dest)
  expected = {
      'written_by': versions(), 'python': sys.version.split()[0],
      'images': {'seed': IMAGES_SEED, 'count': 6, 'size': TINY_SIZE},
      'logits_step3': at_step3.logits(at_step3.preprocess(images)).tolist(),
      'logits_step4': np.asarray(logits4).tolist(),
      'eval_step3': {key: record[key] for key in ('top1_error', 'top5_error', 'num_examples')},
  }
  with open(os.path.join(dest, 'expected.json'), 'w') as f:
    json.dump(expected, f, indent=1)
  print(f'wrote {dest}')


if __name__ == '__main__':
  if len(sys.argv) != 2:
    sys.exit('usage: python -m tests.make_golden_run DEST_DIR')
  main(sys.argv[1])
