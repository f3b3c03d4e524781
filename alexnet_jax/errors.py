"""Every error a user can fix, in one module that imports nothing of the package.

Each is a `UserError`: the entry points (main, datasets, report, weights) print its
message as one line and exit non-zero, 2 for a usage or config error (`ConfigError`)
and 1 for a failure while running. Keeping the classes here, at the bottom of the
import order, lets every layer raise them without importing the layers above (a
worker process that makes batches imports no JAX to get an exception class).
"""


class UserError(Exception):
  """A problem the user can fix (a config value, a busy or mismatched workdir, a
  full disk): printed as one line, no traceback."""


class ConfigError(UserError, ValueError):
  """A config value or a command-line argument that cannot work; the message names
  the key or flag."""


def require(condition: bool, message: str):
  """Raises ConfigError(message) unless `condition`: one line per check."""
  if not condition:
    raise ConfigError(message)


def require_one_of(key: str, value, allowed):
  """Raises ConfigError naming `config.<key>` unless `value` is one of `allowed`."""
  require(value in allowed, f'config.{key}={value!r} is not allowed; choose one of: '
          + ', '.join(repr(a) for a in allowed))


class DatasetNotFoundError(UserError, ValueError):
  """The dataset is not prepared in the TFDS data_dir; the message says how to get it."""


class WorkdirBusyError(UserError):
  """Another process trains in this workdir."""


class CheckpointMismatchError(ConfigError):
  """A checkpoint holds arrays of other shapes than this config's model."""


class CheckpointWriteError(UserError):
  """A checkpoint could not be written (no space, permission denied, ...)."""


class WriteError(UserError):
  """A metrics or result file could not be written (no space, permission denied)."""


class NonFiniteLossError(UserError, FloatingPointError):
  """The training loss became NaN or infinite (a learning rate too high for the net)."""


class WeightsError(ConfigError):
  """A weights file that cannot be imported (found before anything is written); the
  message says why."""
