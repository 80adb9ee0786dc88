"""On a CUDA machine device=auto runs there, and CPU and GPU agree to dtype precision (skips without a GPU)."""

import pytest
import torch

from gdsweep.core.descent import descend
from gdsweep.core.scan import descend_tail, grid
from gdsweep.core.spec import Tolerances
from gdsweep.jobs import devices
from gdsweep.objectives import functions

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
CPU, GPU = torch.device("cpu"), torch.device("cuda")
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def test_auto_picks_the_gpu():
    assert devices.resolve("auto").type == "cuda"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,x0", [("quadratic", [4.0]), ("rosenbrock", [-1.5, 2.0])])
def test_cpu_and_gpu_descents_agree_to_dtype_precision(name, x0, dtype):
    f = functions.build({"name": name}, len(x0)).f
    lrs = torch.tensor([0.0001, 0.0005, 0.001], dtype=dtype)
    on = {d: descend(f, torch.tensor(x0, dtype=dtype, device=d), lrs.to(d), 200) for d in (CPU, GPU)}
    torch.testing.assert_close(on[GPU].x.cpu(), on[CPU].x, rtol=RTOL[dtype], atol=RTOL[dtype])
    torch.testing.assert_close(on[GPU].cost.cpu(), on[CPU].cost, rtol=RTOL[dtype], atol=RTOL[dtype])


def test_a_dense_scan_labels_the_same_on_cpu_and_gpu():
    f = functions.build({"name": "double_well"}, 1).f
    labels = {}
    for d in (CPU, GPU):
        lrs = grid(0.02, 0.34, 2000, "linear", torch.float64, d)
        labels[d] = descend_tail(
            f, torch.tensor([0.5], dtype=torch.float64, device=d), lrs, 1000, 64, Tolerances()
        ).labels
    clear = [abs(lr - 0.21397) > 0.01 * 0.21397 for lr in grid(0.02, 0.34, 2000, "linear", torch.float64, CPU).tolist()]
    for field in ("regime", "path", "converged"):
        gpu, cpu = getattr(labels[GPU], field), getattr(labels[CPU], field)
        agree = sum(g == c for g, c, ok in zip(gpu, cpu, clear) if ok) / sum(clear)
        assert agree > 0.99, field  # chaotic lrs amplify last-bit differences; the regimes stay put
