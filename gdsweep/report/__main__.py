"""`python -m gdsweep.report PARENT_RUN_ID | SWEEP_DIR | EXPERIMENT`: rebuild a sweep's report."""

from gdsweep.report.sweep import main

main()
