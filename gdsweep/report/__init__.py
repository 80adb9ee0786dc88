"""What a person reads: the sweep report (report.csv and figures from MLflow), the terminal table,
and the figures of sweeps, plain runs and scans. The only subpackage that imports `matplotlib`.

Kept import-light: `gdsweep.report.table` needs neither pandas nor matplotlib, so a job can print
its table without paying for them; `sweep` and the figure modules import them when used.

May import: `gdsweep.core`, `gdsweep.objectives`, `gdsweep.tracking`, `gdsweep.errors`, pandas,
matplotlib. Not jobs or the app (checked by import-linter). `python -m gdsweep.report` rebuilds a
sweep's report.
"""
