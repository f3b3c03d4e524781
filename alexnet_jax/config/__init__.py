"""The configs the library itself needs, installed with it: the default config (every
field, and the values a run stored before a field existed takes: training/workdir.py),
the dataset-scale presets that the ablation configs share, and the configs of imported
weights (weights.py). The files under the repository's configs/ are thin entry points
that read these, so `--config=` works from any directory."""
