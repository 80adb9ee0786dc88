"""One job and one sweep: the Hydra task (plain run or scan), the runner, the scan job, the sweep
callback (the parent run), signals, devices and reproduce.

May import every layer below it: core, objectives, tracking, report, and `gdsweep.config`. Only the
app (`gdsweep.app`) sits above it (checked by import-linter).
"""
