"""The commands and overrides the docs show still work: a renamed preset or config field
would otherwise leave README, the configs' docstrings and the results' READMEs pointing
users at a command that fails with "no such config field".

Every `python -m alexnet_jax.main ...` with a literal `--config=configs/NAME.py[:PRESET]`
in a tracked file is parsed with main.py's own flag definitions and validated as main.py
validates before it compiles or writes; every `--config.KEY` mentioned anywhere must name a
field of some config; the package's other command lines (`alexnet_jax.datasets`, `.report`,
`.weights`) and the experiment tools must have the flags shown (the tools' read from their
source); every program run by name (`python -m experiments.NAME`) and every file named by
its path from the root (`experiments/NAME.sh`, `tests/test_NAME.py`, `docs/NAME.md`) must
be in the repository. Placeholders (`CONFIG`, `configs/<name>.py`, shell variables) are
left out by the pattern, not by a list.
"""

import functools
import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest
from absl import flags

from alexnet_jax import ablation, main, validation
from alexnet_jax.devices import distributed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = re.compile(r'python3? -m alexnet_jax\.main\b([^`|&#\n]*)')
LITERAL_CONFIG = re.compile(r'--config=(configs/\w+\.py(?::\w+)?)(?:\s|$)')
# Config fields are lower case; `--config.KEY` is a placeholder.
OVERRIDE = re.compile(r'--config\.([a-z_]\w*(?:\.\w+)*)')
# README's description of the override syntax itself.
SYNTAX_EXAMPLES = {'a.b'}
# Values a reader fills in: `process_id=K`, `batch_size={128,256}`, `only=a/seed0,...`.
PLACEHOLDER_VALUE = re.compile(r'--config\.[\w.]+=(?:[A-Z]|\{[^}]*,[^}]*\}|\S*\.\.\.)(?:\s|$)')
# The package's other command lines, whose flags live in a module-level FlagValues.
OTHER_CLI = re.compile(r'python3? -m alexnet_jax\.(datasets|report|weights|ensemble|neighbours)\b([^`|&#\n]*)')
# The experiment tools' command lines and the flags their source declares (argparse or absl).
TOOL = re.compile(r'python3? -m experiments\.(\w+)\b([^`|&#\n]*)')
DECLARED_FLAG = re.compile(r"(?:add_argument\(\s*'--|DEFINE_\w+\(\s*')(\w+)'")
# A flag a command shows, `--name` or `[--name=...]`, not an override `--config.key`.
SHOWN_FLAG = re.compile(r'(?<![^\s\[])--(\w+)(?![\w.])')
# Programs by name; `experiments.X` (one capital letter) is the docs' name for any of them.
MODULE = re.compile(r'python3? -m ((?:alexnet_jax|experiments|tests)(?:\.(?![A-Z]\b)\w+)+)\b')
FILE = re.compile(r'(?<![\w/.])((?:alexnet_jax|configs|docs|experiments|tests|\.ci)/'
                  r'(?:[\w/]+/)?(?![A-Z]\.)\w+\.(?:py|sh|md|json))\b')


@functools.cache
def _documents():
  """(path, text) of every tracked file a user or a maintainer reads commands from, with
  shell line continuations (`\\` or, inside a Python docstring, `\\\\`) joined; read once
  for all the collectors below."""
  listed = subprocess.run(['git', 'ls-files', '*.md', '*.py', '*.sh'], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.split()
  documents = []
  for path in listed:
    if not path.startswith('tests/'):
      with open(os.path.join(ROOT, path), encoding='utf-8') as f:
        documents.append((path, re.sub(r'\\\\?\n\s*', ' ', f.read())))
  return tuple(documents)


def _commands():
  found = []
  for path, text in _documents():
    for match in COMMAND.finditer(text):
      arguments = match.group(1).strip()
      if LITERAL_CONFIG.search(arguments) and not PLACEHOLDER_VALUE.search(arguments):
        found.append(pytest.param(arguments, id=f'{path}: {arguments[:70]}'))
  return found


def _other_cli_commands():
  found = []
  for path, text in _documents():
    for module, arguments in OTHER_CLI.findall(text):
      if arguments.strip():
        found.append(pytest.param(module, arguments.strip(),
                                  id=f'{path}: {module} {arguments.strip()[:60]}'))
  return found


def _tool_commands():
  found = []
  for path, text in _documents():
    for tool, arguments in TOOL.findall(text):
      flags_shown = SHOWN_FLAG.findall(arguments)
      if flags_shown:
        found.append(pytest.param(tool, flags_shown,
                                  id=f'{path}: {tool} {arguments.strip()[:50]}'))
  return found


def _overrides():
  found = {}
  for path, text in _documents():
    for key in OVERRIDE.findall(text):
      found.setdefault(key.rstrip('.'), path)
  return sorted((key, path) for key, path in found.items() if key not in SYNTAX_EXAMPLES)


def _load(config_arg):
  name, _, preset = config_arg.partition(':')
  module = importlib.import_module(name[:-len('.py')].replace('/', '.'))
  return module.get_config(preset or None)


def _field_names(tree, prefix=''):
  for key, value in tree.items():
    yield prefix + key
    if isinstance(value, dict):
      yield from _field_names(value, f'{prefix}{key}.')


@pytest.fixture(scope='module')
def every_field():
  """Every field of every config file's default and of every documented preset."""
  config_args = {f'configs/{name}' for name in os.listdir(os.path.join(ROOT, 'configs'))
                 if name.endswith('.py') and not name.startswith('_')}
  for command in _commands():
    config_args.add(LITERAL_CONFIG.search(command.values[0]).group(1))
  names = set()
  for config_arg in config_args:
    try:
      config = _load(config_arg)
    except ValueError:  # a file whose default needs a preset (pretrained.py)
      continue
    names.update(_field_names(config.to_dict()))
  return names


def test_the_docs_show_commands_to_check():
  """The pattern still finds the README's quick-start command (and so the others)."""
  assert any('configs/default.py --workdir=/tmp/alexnet_fmnist' in command.values[0]
             for command in _commands())


@pytest.mark.parametrize('arguments', _commands())
def test_a_documented_command_parses_and_validates(arguments, monkeypatch):
  monkeypatch.chdir(ROOT)  # config files are named relative to the repository root
  argv = ['alexnet_jax.main'] + shlex.split(arguments)
  monkeypatch.setattr(sys, 'argv', argv)  # where config_flags looks for the overrides
  flag_values = flags.FlagValues()
  main.define_flags(flag_values)
  flag_values(argv)
  config = flag_values.config
  if flag_values.mode is not None:
    with config.unlocked():
      config.mode = flag_values.mode
  with config.unlocked():
    config.init_from = ''  # the weights a documented import (the line before) writes
  validation.validate_config(config)
  distributed.validate(config)
  if 'ablation' in config:
    ablation.validate(config)


@pytest.mark.parametrize('module_name, arguments', _other_cli_commands())
def test_a_documented_command_of_another_cli_names_its_flags_and_command(module_name,
                                                                         arguments):
  """`python -m alexnet_jax.datasets import-npz --name=...`: the command (where the CLI
  has several) and every flag exist; placeholders such as `DIR` are positional."""
  module = importlib.import_module(f'alexnet_jax.{module_name}')
  for flag in SHOWN_FLAG.findall(arguments):
    assert flag in module.FLAGS, f'python -m alexnet_jax.{module_name} has no --{flag}'
  command = arguments.split()[0].rstrip('\'",.)')  # a command inside a Python string
  if hasattr(module, 'COMMANDS') and not command.startswith('-'):
    assert command in module.COMMANDS, (
        f'python -m alexnet_jax.{module_name} has no command {command!r}')


@pytest.mark.parametrize('tool, flags_shown', _tool_commands())
def test_a_documented_experiment_command_uses_flags_the_tool_declares(tool, flags_shown):
  """Read from the tool's source, not imported: some tools load torch or define their
  parser inside main()."""
  with open(os.path.join(ROOT, 'experiments', f'{tool}.py'), encoding='utf-8') as f:
    declared = set(DECLARED_FLAG.findall(f.read())) | {'help'}
  assert set(flags_shown) <= declared, (
      f'python -m experiments.{tool} has no {sorted(set(flags_shown) - declared)}')


@pytest.mark.parametrize('key, path', _overrides())
def test_a_documented_override_names_a_config_field(key, path, every_field):
  assert key in every_field, f'{path} mentions --config.{key}, which no config has'


def _programs():
  found = {}
  for path, text in _documents():
    for module in MODULE.findall(text):
      found.setdefault(module.replace('.', '/'), path)
    for name in FILE.findall(text):
      found.setdefault(name, path)
  return sorted(found.items())


@pytest.mark.parametrize('program, path', _programs())
def test_a_documented_program_or_file_exists(program, path):
  candidates = [program] if re.search(r'\.(py|sh|md|json)$', program) else [
      f'{program}.py', f'{program}/__main__.py']
  assert any(os.path.isfile(os.path.join(ROOT, name)) for name in candidates), (
      f'{path} names {program}, which is not in the repository')
