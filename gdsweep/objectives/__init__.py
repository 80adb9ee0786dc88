"""What is minimised: every objective maps a batch of points (B, D) to one cost per row.

The named test functions with their known minimisers, and the safe expression compiler
(`function=expr`: a checked syntax tree turned into torch calls, never eval).

May import: `gdsweep.core`, `gdsweep.errors`, torch, numpy, the standard library. Nothing from
tracking, report or jobs; never MLflow, Hydra, matplotlib or pandas (checked by import-linter).
"""
