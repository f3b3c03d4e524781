"""What every command line of the package shares: absl flags, one exit-code rule, and
errors as one line.

Exit codes: 0 done; 2 (USAGE) a bad flag, argument, config value or input path, found
before any work; 1 (FAILURE) something failed while the work ran. `main` parses with
absl's app (its config flags live in the global FlagValues); `datasets`, `report`,
`weights`, `ensemble` and `neighbours` each keep their own FlagValues, so that importing them as
libraries (the tests do, in one process) defines no global flags and cannot clash.
"""

import sys

from absl import flags

from alexnet_jax.errors import ConfigError

USAGE = 2
FAILURE = 1
HELP_FLAGS = ('--help', '-h', '--helpshort', '--helpfull', '-?')


def exit_code(error: BaseException) -> int:
  """USAGE for a config error or an input path that does not exist, else FAILURE."""
  return USAGE if isinstance(error, (ConfigError, FileNotFoundError)) else FAILURE


def fail(error: BaseException) -> int:
  """Prints `error` as one line on stderr; returns its exit code."""
  text = str(error).strip().splitlines()
  print(f'error: {text[0] if text else type(error).__name__}', file=sys.stderr)
  return exit_code(error)


def parse(flag_values: flags.FlagValues, argv, usage: str) -> list:
  """Parses `argv` (the arguments after the program name) into `flag_values`, from
  their defaults each time; returns the positional arguments. `--help` prints `usage`
  and the flags and exits 0; a bad flag is one line and exit USAGE."""
  if any(arg in HELP_FLAGS for arg in argv):
    print(usage.strip() + '\n\nflags:\n' + flag_values.get_help(include_special_flags=False))
    sys.exit(0)
  flag_values.unparse_flags()
  try:
    return flag_values(['program', *argv])[1:]
  except flags.Error as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(USAGE)


def usage_error(message: str) -> int:
  """A bad positional argument or a missing flag: one line, USAGE."""
  print(f'error: {message}', file=sys.stderr)
  return USAGE
