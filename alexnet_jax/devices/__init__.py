"""Where the computation runs: the two-column model split and data parallelism over
local devices (parallel), and multi-host start-up through jax.distributed (distributed)."""
