"""Measurements and sweep tools, run from the repository root as `python -m experiments.X`."""
