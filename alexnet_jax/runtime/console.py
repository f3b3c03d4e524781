"""What a run shows on the console: a header line (config, workdir, devices, dataset),
the progress bar, one line per evaluation, the warnings that matter, and the final
table. The libraries' own logging (absl, orbax, TFDS, TensorFlow, XLA) goes to
`DIR/log.txt` instead; absl's `--verbosity` flag, when given, keeps it on the
console as well.

Order matters: `quiet_native_logs()` runs before TensorFlow or XLA is loaded (their
C++ logging reads its level once), `buffer()` before anything logs, and
`to_file(DIR)` once the config is known to be good, so that a refused command
leaves no log file behind.
"""

import contextlib
import functools
import logging
import logging.handlers
import os
import sys
import threading
from absl import logging as absl_logging

from alexnet_jax.errors import UserError

LOG = 'log.txt'
_buffer = None
# The Python loggers of the libraries a library call may wake: absl carries Orbax's.
LIBRARY_LOGGERS = ('absl', 'orbax', 'jax', 'tensorflow')


@contextlib.contextmanager
def _quiet_library_logs():
  loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(max(logger.getEffectiveLevel(), logging.ERROR))
  try:
    yield
  finally:
    for logger, level in zip(loggers, levels):
      logger.setLevel(level)


def quiet_library_logs(function):
  """`function`, a library call (`alexnet_jax.load`, a network's predictions, the weight
  importers), prints nothing unless something is wrong: the libraries' INFO and WARNING
  records (e.g. Orbax's 'Metadata file does not exist' for a checkpoint's params item)
  are dropped for the call, as `main` sends them to log.txt; errors still show."""
  @functools.wraps(function)
  def quiet(*args, **kwargs):
    with _quiet_library_logs():
      return function(*args, **kwargs)
  return quiet


def quiet_native_logs():
  """TensorFlow's and XLA's C++ logging: errors only; a value the user set stays.
  TensorFlow 2.21 prints its oneDNN banner (and with it absl's 'All log messages
  before absl::InitializeLog()' notice) whatever the level; TF_ENABLE_ONEDNN_OPTS=0
  removes it. TensorFlow computes nothing here (it reads TFDS datasets and
  exports SavedModels), so its oneDNN kernels are not missed."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')


def buffer(verbose: bool):
  """Holds Python and absl logging in memory until `to_file`; with `verbose`, the
  console keeps it too."""
  global _buffer
  root = logging.getLogger()
  if not verbose:
    root.removeHandler(absl_logging.get_absl_handler())
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable
  absl_logging.set_verbosity(absl_logging.INFO if not verbose else absl_logging.get_verbosity())
  root.setLevel(logging.INFO if not verbose else root.level)
  logging.captureWarnings(True)
  logging.raiseExceptions = False  # a full disk stops the run with one line, not the log
  _buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
  root.addHandler(_buffer)


def to_file(workdir: str) -> str:
  """Sends the buffered and all further logging to `workdir/log.txt` (appended)."""
  path = os.path.join(workdir, LOG)
  try:
    os.makedirs(workdir, exist_ok=True)
    handler = logging.FileHandler(path)
  except OSError as error:
    raise UserError(f'{path}: {error.strerror}') from None
  handler.setFormatter(logging.Formatter(
      '%(asctime)s %(levelname).1s %(name)s %(filename)s:%(lineno)d] %(message)s'))
  root = logging.getLogger()
  root.addHandler(handler)
  if _buffer is not None:
    _buffer.setTarget(handler)
    _buffer.flush()
    root.removeHandler(_buffer)
  return path


def _log_thread_exception(args):
  """An exception that ends a library's background thread (e.g. orbax's writer after
  a failed save, which the run reports itself): to the log file, not the console."""
  logging.getLogger('alexnet_jax').error(
      'exception in thread %s', getattr(args.thread, 'name', '?'),
      exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _log_unraisable(unraisable):
  """Exceptions that libraries swallow and report as 'unraisable': after a failed
  asynchronous save, tensorstore hands each pending write's result to an event loop
  that orbax has closed, and reports every 'Event loop is closed'. The run reports
  the failed save itself (one line); these go to the log file."""
  logging.getLogger('alexnet_jax').error(
      'ignored exception%s', f' in {unraisable.object!r}' if unraisable.object else '',
      exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback))


def header(config, config_arg: str, workdir: str, default_workdir: bool, dataset=None) -> str:
  """The first line of a run: what runs, where it writes, on what (and on which
  `dataset`, for the modes that read one)."""
  import jax  # deferred: the console module must not start JAX
  devices = jax.devices()
  kinds = sorted({d.device_kind for d in devices})
  parts = [f'{config_arg} ({config.mode})',
           f'workdir {workdir}' + (' (default; --workdir=DIR to choose)' if default_workdir
                                   else ''),
           f'{len(devices)} device{"s" if len(devices) != 1 else ""} ({", ".join(kinds)}, '
           f'jax {jax.__version__})']
  if dataset:
    parts.append(f'dataset {dataset}')
  parts.append(f'logs in {os.path.join(workdir, LOG)}')
  return ' | '.join(parts)
