"""The ablation report's parts, lowest first: `run_summary` (one run's numbers, from the files in
its directory), `sweep` (a sweep's variants over seeds: statistics, differences to the
baseline), `tables` (Markdown and CSV) and `figures` (the plots). The command line that
writes them is `alexnet_jax.report`."""
