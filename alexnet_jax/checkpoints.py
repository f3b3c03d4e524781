"""Orbax checkpoints of a training run, in `DIR/checkpoints` (latest K) and
`DIR/checkpoints_best` (the best by validation top-1).

A checkpoint holds three items: `params`, `opt_state` (so evaluation can
restore the parameters without the optimizer state) and `meta` (JSON: step,
the data iterator's position, the RNG seed, the learning-rate schedule's state
and the resolved config). Parameters are stored in the full single-device tree.

Orbax writes each checkpoint into a temporary directory and renames it only
once complete, so a run killed during a write leaves the previous checkpoints
intact; `max_to_keep` deletes an old checkpoint only after a newer one is
finalized. A checkpoint that is damaged anyway (a truncated file, missing
directory, unreadable metadata) is reported by name and skipped in favour of
the previous good one.
"""

import json
import logging
import os

import jax
import orbax.checkpoint as ocp


class NoCheckpointError(FileNotFoundError):
  """The workdir has no (usable) checkpoint."""


def _options(keep, async_save):
  return ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                      enable_async_checkpointing=async_save)


class Checkpointer:
  """The latest-K and best checkpoints of one workdir."""

  def __init__(self, workdir: str, *, keep: int = 3, async_save: bool = True):
    self.latest = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, 'checkpoints')),
        item_names=('params', 'opt_state', 'meta'), options=_options(keep, async_save))
    self.best = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, 'checkpoints_best')),
        item_names=('params', 'opt_state', 'meta'), options=_options(1, async_save))

  @staticmethod
  def _args(state, meta):
    return ocp.args.Composite(params=ocp.args.StandardSave(state.params),
                              opt_state=ocp.args.StandardSave(state.opt_state),
                              meta=ocp.args.JsonSave(meta))

  def save(self, state, meta: dict, *, best: bool = False):
    step = int(meta['step'])
    self.latest.save(step, args=self._args(state, meta), force=True)
    if best:
      if jax.process_count() > 1:
        # Orbax names its cross-process barriers by step: two managers may not
        # commit the same step at once.
        self.latest.wait_until_finished()
      if step in self.best.all_steps():  # a resumed run redoing this step
        self.best.delete(step)
      self.best.save(step, args=self._args(state, meta), force=True)

  def wait(self):
    self.latest.wait_until_finished()
    self.best.wait_until_finished()

  def close(self):
    self.wait()
    self.latest.close()
    self.best.close()

  def restore_latest(self, abstract_state):
    """(state fields dict, meta) of the newest good checkpoint, or None if there is none."""
    restored = restore_good(self.latest, abstract_state)
    good_step = -1 if restored is None else int(restored[1]['step'])
    for step in self.latest.all_steps():
      if step > good_step:  # damaged (restore_good warned): make room to redo it
        self.latest.delete(step)
    return restored


def restore_good(manager, abstract_state, steps=None, params_only=False):
  """Restores the newest readable checkpoint among `steps` (default: all), warning
  about every damaged one it skips."""
  steps = sorted(manager.all_steps() if steps is None else steps, reverse=True)
  for step in steps:
    try:
      items = {'params': ocp.args.StandardRestore(abstract_state.params),
               'meta': ocp.args.JsonRestore()}
      if not params_only:
        items['opt_state'] = ocp.args.StandardRestore(abstract_state.opt_state)
      restored = manager.restore(step, args=ocp.args.Composite(**items))
      meta = restored['meta']
      if meta is None or int(meta['step']) != step:
        raise ValueError('metadata missing or for another step')
      return restored, meta
    except Exception as error:  # any damage: fall back to the previous checkpoint
      path = os.path.join(str(manager.directory), str(step))
      logging.warning('checkpoint %s is damaged (%s: %s); falling back to the previous one',
                      path, error.__class__.__name__, str(error).splitlines()[0][:200])
      print(f'warning: checkpoint {path} is damaged ({error.__class__.__name__}); '
            'falling back to the previous one', flush=True)
  return None


def manager_for(path: str):
  return ocp.CheckpointManager(os.path.abspath(path), item_names=('params', 'opt_state', 'meta'),
                               options=ocp.CheckpointManagerOptions(create=False))


def read_config(manager, step):
  """The config stored with a checkpoint (JSON)."""
  meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))['meta']
  return meta


def abstract(tree):
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def config_json(config) -> dict:
  return json.loads(config.to_json_best_effort())
