"""The core: pure torch, batched over learning rates.

The descent (the article's autograd loop for a tensor of lrs, in chunks), the regime labels, their rate and
what they count from the steps a scan does not keep (earlier), the
local quadratic theory (Hessian, λmax, critical lr, sharpness), the scan algorithms (dense tail
descent, edge bisection), the validated run spec and tolerances, and the article's own loop.

May import: torch, numpy, the standard library and `gdsweep.errors`. Nothing else of gdsweep,
never Hydra, OmegaConf, MLflow, matplotlib or pandas (checked by import-linter).
"""
