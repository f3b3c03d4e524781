"""The package's import rule (docs/ARCHITECTURE.md): an import goes down the layers,
never up or around in a circle, and an import inside a function only defers a heavy
third-party package. Read from the source (an AST walk), so nothing is imported."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'alexnet_jax'

# Lowest first; a module may import modules of its own layer or of lower ones. Within a
# layer the graph must still be acyclic. Keys are dotted names relative to the package:
# a folder's name covers every module in it.
LAYERS = (
    ('errors',),
    ('runtime', 'ops', 'config'),
    ('models', 'data', 'devices'),
    ('training',),
    ('validation', 'reporting'),
    ('train', 'evaluate', 'summary', 'benchmark', 'ablation', 'kernel_images', 'export',
     'api', 'report', 'weights', 'datasets', 'ensemble', 'neighbours'),
    ('main',),
)
# Heavy third-party packages whose import may wait inside a function (each with a
# comment there saying why it waits).
DEFERRABLE = ('tensorflow', 'tensorflow_datasets', 'tensorboard', 'torch', 'matplotlib', 'jax')


def _modules() -> dict:
  """Dotted module name (relative to the package) -> its path."""
  found = {}
  for path in PACKAGE.rglob('*.py'):
    parts = path.relative_to(PACKAGE).with_suffix('').parts
    if parts[-1] == '__init__':
      parts = parts[:-1]
    found['.'.join(parts)] = path
  return found


MODULES = _modules()


def _layer(module: str) -> int:
  for index, names in enumerate(LAYERS):
    if module.split('.')[0] in names:
      return index
  raise AssertionError(f'alexnet_jax.{module} is in no layer of LAYERS: add it there')


def _internal_targets(node) -> list:
  """The package modules an import statement reads (`from alexnet_jax.x import y`
  names module x.y when that is a module, else module x)."""
  if isinstance(node, ast.Import):
    names = [a.name for a in node.names]
  elif node.level == 0 and node.module:
    names = [f'{node.module}.{a.name}' if f'{node.module}.{a.name}'[len('alexnet_jax.'):]
             in MODULES else node.module for a in node.names]
  else:
    return []
  return [n[len('alexnet_jax.'):] for n in names if n.startswith('alexnet_jax.')]


def _imports(module: str):
  """(target module, line, inside a function) for each package import of `module`."""
  tree = ast.parse(MODULES[module].read_text())
  in_function = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      in_function.update(id(n) for n in ast.walk(node) if n is not node)
  for node in ast.walk(tree):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      for target in _internal_targets(node):
        yield target, node.lineno, id(node) in in_function


def test_every_module_is_in_a_layer():
  for module in MODULES:
    if module:  # the package itself: its `load` sits above every layer
      _layer(module)


@pytest.mark.parametrize('module', sorted(m for m in MODULES if m))
def test_imports_go_down_the_layers(module):
  for target, line, _ in _imports(module):
    assert _layer(target) <= _layer(module), (
        f'alexnet_jax/{MODULES[module].relative_to(PACKAGE)}:{line} imports alexnet_jax.'
        f'{target}, a higher layer ({LAYERS[_layer(target)]} above {LAYERS[_layer(module)]})')


def test_no_package_import_waits_inside_a_function():
  """Package modules are imported at the top (a cycle cannot hide in a function); only
  the package's own `load` imports `api` late, so that `import alexnet_jax` stays light."""
  for module in MODULES:
    for target, line, in_function in _imports(module):
      if in_function and module:
        raise AssertionError(f'alexnet_jax/{MODULES[module].relative_to(PACKAGE)}:{line} '
                             f'imports alexnet_jax.{target} inside a function')


def test_deferred_third_party_imports_are_heavy_ones_with_a_reason():
  for module, path in MODULES.items():
    lines = path.read_text().splitlines()
    tree = ast.parse('\n'.join(lines))
    for function in ast.walk(tree):
      if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
        continue
      reasons = {}  # package -> whether one of its deferred imports here says why
      for node in ast.walk(function):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not _internal_targets(node):
          name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
          root = name.split('.')[0]
          where = f'alexnet_jax/{path.relative_to(PACKAGE)}:{node.lineno}'
          assert root in DEFERRABLE, f'{where}: {name} is light; import it at the top'
          reasons[root] = reasons.get(root, False) or '#' in lines[node.lineno - 1]
      for root, said in reasons.items():
        assert said, (f'alexnet_jax/{path.relative_to(PACKAGE)}: {function.name} defers '
                      f'{root} without a comment saying why')


def test_no_import_cycle():
  graph = {m: {t for t, _, _ in _imports(m)} - {m} for m in MODULES if m}
  done, stack = set(), []

  def visit(module):
    if module in stack:
      cycle = stack[stack.index(module):] + [module]
      raise AssertionError('import cycle: ' + ' -> '.join(cycle))
    if module in done:
      return
    stack.append(module)
    for target in sorted(graph.get(module, ())):
      visit(target)
    stack.pop()
    done.add(module)

  for module in sorted(graph):
    visit(module)


def test_the_library_never_imports_the_repository_configs():
  for module, path in MODULES.items():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] == 'configs':
        raise AssertionError(f'alexnet_jax/{path.relative_to(PACKAGE)}:{node.lineno} imports '
                             'configs/ (not installed with the package)')
