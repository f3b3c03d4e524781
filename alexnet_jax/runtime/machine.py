"""What a process runs on: the CPU, its caches, the accelerators and the package
versions, for a run's machines.jsonl and the benchmarks' result files.

Why record it: a run repeats bit for bit on one machine, but the same commit, data and
packages can round differently on another CPU model (the CPU kernels' blocking and
vector code depend on the processor and its cache sizes), so a training curve is only
reproducible together with the machine that made it.
"""

import importlib.metadata
import os
import platform

PACKAGES = ('jax', 'jaxlib', 'flax', 'optax', 'numpy', 'orbax-checkpoint', 'tensorflow-datasets')
_CACHES = '/sys/devices/system/cpu/cpu0/cache'


def cpu_model() -> str:
  """The processor's model name (/proc/cpuinfo; platform's guess elsewhere)."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or 'unknown CPU'


def cpu_caches() -> dict:
  """{'L1d': '48K', 'L2': '2048K', ...} of the first CPU, as sysfs gives them ({} where
  sysfs has none)."""
  caches = {}
  try:
    indices = sorted(os.listdir(_CACHES))
  except OSError:
    return caches
  for index in indices:
    try:
      with open(os.path.join(_CACHES, index, 'level')) as f:
        level = f.read().strip()
      with open(os.path.join(_CACHES, index, 'type')) as f:
        kind = f.read().strip()
      with open(os.path.join(_CACHES, index, 'size')) as f:
        size = f.read().strip()
    except OSError:
      continue
    suffix = {'Data': 'd', 'Instruction': 'i'}.get(kind, '')
    caches[f'L{level}{suffix}'] = size
  return caches


def package_versions(names=PACKAGES) -> dict:
  """{package: installed version} of `names` (None: not installed)."""
  versions = {}
  for name in names:
    try:
      versions[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      versions[name] = None
  return versions


def describe() -> dict:
  """This process's machine: CPU, caches, core count, devices, Python, packages and
  XLA_FLAGS."""
  import jax  # deferred: reading the machine must not start JAX before a caller does
  devices = jax.devices()
  return {
      'cpu': cpu_model(), 'cpu_count': os.cpu_count(), 'cpu_caches': cpu_caches(),
      'os': platform.platform(), 'python': platform.python_version(),
      'backend': jax.default_backend(), 'devices': len(devices),
      'device_kinds': sorted({device.device_kind for device in devices}),
      'process_count': jax.process_count(), 'packages': package_versions(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }
