"""Multi-host runs with JAX's own distributed runtime (`jax.distributed`).

Every host runs the same command with its own `--config.distributed.process_id`:

    python -m alexnet_jax.main --config=configs/default.py --workdir=DIR \\
        --config.distributed.coordinator_address=HOST0:12355 \\
        --config.distributed.num_processes=2 --config.distributed.process_id=K

Process 0 hosts the coordinator at that address. Each process feeds its share
of the global batch (the slices of its own data replicas); collectives span
all hosts' devices; process 0 alone writes the workdir's result files and the
checkpoints (every process can read them to resume).

JAX terminates the process (a C++ check failure) when the coordinator cannot be
reached, so the other processes first wait for its port themselves and fail
with one line naming the config key.
"""

import socket
import time

import jax

from alexnet_jax.errors import ConfigError, require


def validate(config):
  """Checks config.distributed without touching the network."""
  dist = config.distributed
  require(dist.num_processes >= 1,
          f'config.distributed.num_processes={dist.num_processes!r} must be >= 1')
  if dist.num_processes == 1:
    return
  require(0 <= dist.process_id < dist.num_processes,
          f'config.distributed.process_id={dist.process_id!r} must be in '
          f'[0, {dist.num_processes})')
  host, _, port = str(dist.coordinator_address).rpartition(':')
  require(bool(host) and port.isdigit(),
          f'config.distributed.coordinator_address={dist.coordinator_address!r} must be '
          'HOST:PORT (the address of process 0)')
  require(dist.timeout_s > 0, f'config.distributed.timeout_s={dist.timeout_s!r} must be > 0')


def wait_for_coordinator(address: str, timeout_s: float):
  """Returns once `address` accepts TCP connections; ConfigError after `timeout_s`."""
  host, _, port = address.rpartition(':')
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      with socket.create_connection((host, int(port)), timeout=min(2.0, timeout_s)):
        return
    except OSError as error:
      if time.monotonic() >= deadline:
        raise ConfigError(
            f'config.distributed.coordinator_address={address}: no coordinator answered '
            f'within {timeout_s:g} s ({error.strerror or error}); start process 0 there '
            'first, or fix the address') from None
      time.sleep(0.25)


def initialize(config):
  """Joins the run's processes when config.distributed asks for more than one."""
  validate(config)
  dist = config.distributed
  if dist.num_processes == 1:
    return
  if dist.process_id != 0:
    wait_for_coordinator(dist.coordinator_address, dist.timeout_s)
  jax.distributed.initialize(coordinator_address=dist.coordinator_address,
                             num_processes=dist.num_processes, process_id=dist.process_id,
                             initialization_timeout=int(dist.timeout_s))
  print(f'process {jax.process_index()} of {jax.process_count()}: '
        f'{jax.local_device_count()} local of {jax.device_count()} devices', flush=True)


def is_primary() -> bool:
  """The process that writes result files and checkpoints."""
  return jax.process_index() == 0
