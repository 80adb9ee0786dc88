"""`python -m gdsweep` runs the Hydra app."""

from gdsweep.app import main

main()
