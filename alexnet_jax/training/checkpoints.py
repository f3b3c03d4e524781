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
the previous good one; training moves it aside to `checkpoints/<step>.damaged`
(orbax ignores that name) and never deletes it. A checkpoint whose arrays have
other shapes than the model's is not damage but another config: it is refused
(`CheckpointMismatchError`) and left as it is. A save that fails (no space,
permission denied) stops the run with `CheckpointWriteError`, one line naming
the last good checkpoint; orbax's temporary directory of the failed save is
never taken for a checkpoint.
"""

import json
import logging
import os

import jax
import orbax.checkpoint as ocp

from alexnet_jax.errors import CheckpointMismatchError, CheckpointWriteError, UserError
from alexnet_jax.runtime import machine
from alexnet_jax.training import run_files


def _cause(error: BaseException) -> str:
  """The innermost cause of a failed write, in a few words."""
  while error.__cause__ is not None or error.__context__ is not None:
    error = error.__cause__ or error.__context__
  text = str(error).strip().splitlines()[0] if str(error).strip() else ''
  if isinstance(error, OSError) and error.strerror:
    return error.strerror
  for marker in ('No space left on device', 'Permission denied', 'Read-only file system',
                 'Disk quota exceeded', 'RESOURCE_EXHAUSTED'):
    if marker in str(error):
      return marker
  return f'{error.__class__.__name__}: {text[:200]}'


def _options(keep, async_save):
  return ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                      enable_async_checkpointing=async_save)


class Checkpointer:
  """The latest-K and best checkpoints of one workdir."""

  def __init__(self, workdir: str, *, keep: int = 3, async_save: bool = True):
    self.latest = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, run_files.CHECKPOINTS)),
        item_names=('params', 'opt_state', 'meta'), options=_options(keep, async_save))
    self.best = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, run_files.BEST_CHECKPOINTS)),
        item_names=('params', 'opt_state', 'meta'), options=_options(1, async_save))
    self._failed = False

  @staticmethod
  def _args(state, meta):
    return ocp.args.Composite(params=ocp.args.StandardSave(state.params),
                              opt_state=ocp.args.StandardSave(state.opt_state),
                              meta=ocp.args.JsonSave(meta))

  def last_good(self) -> str:
    """The newest finished checkpoint, as a path (for messages)."""
    return newest(os.path.dirname(str(self.latest.directory)))

  def save(self, state, meta: dict, *, best: bool = False):
    """Saves (asynchronously, by default); CheckpointWriteError if this save or the
    previous asynchronous one failed."""
    step = int(meta['step'])
    try:
      self._save(step, state, meta, best)
    except UserError:
      raise
    except Exception as error:  # this save, or the previous asynchronous one
      raise self._write_error(error) from None

  def _write_error(self, error):
    self._failed = True
    return CheckpointWriteError(
        f'could not write a checkpoint in {self.latest.directory} '
        f'({_cause(error)}); the last good checkpoint is {self.last_good()}; free space or '
        'fix the permissions, then rerun the same command to resume from it')

  def _save(self, step, state, meta, best):
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
    try:
      self.latest.wait_until_finished()
      self.best.wait_until_finished()
    except Exception as error:
      raise self._write_error(error) from None

  def close(self):
    """Waits for the last save and closes; after a failed save, closes quietly (the
    failure was reported) so that orbax leaves no unretrieved errors behind."""
    try:
      if not self._failed:
        self.wait()
    finally:
      for manager in (self.latest, self.best):
        try:
          manager.close()
        except Exception:  # the failed save's error again: reported already
          if not self._failed:
            raise

  def restore_latest(self, abstract_state):
    """(state fields dict, meta) of the newest good checkpoint, or None if there is none.

    Damaged newer checkpoints (restore_good warned) are moved to `<step>.damaged`,
    making room to redo their steps; nothing is deleted."""
    restored = restore_good(self.latest, abstract_state)
    good_step = -1 if restored is None else int(restored[1]['step'])
    moved = False
    for step in self.latest.all_steps():
      if step > good_step:
        set_aside_damaged(self.latest.directory, step)
        moved = True
    if moved:
      self.latest.reload()
    return restored


def newest(workdir: str) -> str:
  """The path of the newest finalized checkpoint in `workdir/checkpoints` (orbax
  renames a checkpoint to its step only once it is complete), or 'none yet'."""
  directory = os.path.join(workdir, run_files.CHECKPOINTS)
  try:
    steps = [int(n) for n in os.listdir(directory) if n.isdigit()]
  except OSError:
    steps = []
  return os.path.join(directory, str(max(steps))) if steps else 'none yet'


def set_aside_damaged(directory, step) -> str:
  source = os.path.join(str(directory), str(step))
  target, n = f'{source}.damaged', 1
  while os.path.exists(target):
    n += 1
    target = f'{source}.damaged{n}'
  os.rename(source, target)
  print(f'warning: moved the damaged checkpoint {source} to {target}', flush=True)
  return target


def _shapes(tree) -> dict:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in leaves}


def check_shapes(manager, step, abstract_params):
  """CheckpointMismatchError when the checkpoint's parameters have other names or
  shapes than `abstract_params`; returns quietly when its metadata cannot be read
  (that is damage, which the restore reports)."""
  path = os.path.join(str(manager.directory), str(step), 'params')
  checkpointer = ocp.StandardCheckpointer()
  try:
    metadata = checkpointer.metadata(path)
    stored = _shapes(getattr(metadata, 'item_metadata', metadata).tree)
  except Exception:  # unreadable: the restore below reports the damage
    return
  finally:
    checkpointer.close()
  expected = _shapes(abstract_params)
  if stored == expected:
    return
  differing = sorted(k for k in set(stored) | set(expected) if stored.get(k) != expected.get(k))
  key = differing[0]
  raise CheckpointMismatchError(
      f'checkpoint {os.path.dirname(path)} holds parameters of another model '
      f'({len(differing)} arrays differ, e.g. params{key}: {stored.get(key, "absent")} in the '
      f'checkpoint, {expected.get(key, "absent")} in this config); it was trained with another '
      'config: use a new --workdir, or --config.resume=restart to move that run aside')


def restore_good(manager, abstract_state, steps=None, params_only=False):
  """Restores the newest readable checkpoint among `steps` (default: all), warning
  about every damaged one it skips."""
  steps = sorted(manager.all_steps() if steps is None else steps, reverse=True)
  for step in steps:
    check_shapes(manager, step, abstract_state.params)
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


# The packages whose versions decide whether a checkpoint can be read back.
VERSIONED_PACKAGES = ('jax', 'jaxlib', 'flax', 'orbax-checkpoint')


def package_versions() -> dict:
  """{package: version} of VERSIONED_PACKAGES here, stored with every checkpoint."""
  return machine.package_versions(VERSIONED_PACKAGES)


def versions_note(meta: dict) -> str:
  """'written by jax A (orbax-checkpoint B), read by jax C (orbax-checkpoint D)'; a
  checkpoint stored before versions were recorded says so."""
  def describe(versions):
    return (f"jax {versions.get('jax', '?')} (orbax-checkpoint "
            f"{versions.get('orbax-checkpoint', '?')})")
  written = meta.get('versions') if meta else None
  return (f"written by {describe(written) if written else 'a version that did not record it'}"
          f", read by {describe(package_versions())}")
