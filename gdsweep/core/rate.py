"""The rate of a run: the geometric factor by which |cost change| shrinks (or grows) per step over
its tail, measured without knowing the minimum value. Pure torch."""

from __future__ import annotations

import torch
from torch import Tensor


def cost_rate(change: Tensor, step_norm: Tensor) -> Tensor:
    """Per-step factor of |cost change| between the last two windows of m steps.

    The windows end at the last step that changed the cost, so a run that reached its
    floating-point floor early is measured where it still moved. m is a multiple of 4 when
    the run is long enough, so 2- and 4-cycles in the cost average out. Columns still moving
    at the last step share their windows (plain slices); only those that stopped within the
    rows are masked (a column that never moved here gets its rate without windows).
    """
    n, batch = change.shape
    size = change.abs()
    end = torch.zeros(batch, dtype=torch.long)  # the last step that changed the cost; 0: none did here
    late, early = torch.zeros(batch, dtype=size.dtype), torch.zeros(batch, dtype=size.dtype)
    index = torch.arange(n).unsqueeze(-1)
    if n:
        full = 4 * (n // 8) if n >= 8 else max(1, n // 2)  # m of a column that moved at the last step
        late[:] = size[n - full :].sum(0)
        early[:] = size[max(0, n - 2 * full) : n - full].sum(0)
        changed = (late > 0) | (early > 0)
        if n > 2 * full:
            changed |= size[: n - 2 * full].amax(0) > 0
        end.masked_fill_(changed, n)
    # only those that stopped within the rows are searched for their last change
    early_stop = ((size[-1] == 0) & (end > 0)).nonzero()[:, 0] if n else torch.zeros(0, dtype=torch.long)
    rows = size.index_select(1, early_stop)
    if len(early_stop):
        end[early_stop] = ((index + 1) * (rows > 0)).amax(0)
    m = torch.where(end >= 8, 4 * (end // 8), end // 2).clamp(min=1)
    if len(early_stop):  # their rows after `end` are 0: the late window runs to the last row
        stop, width = end[early_stop], m[early_stop]
        late[early_stop] = torch.where(index >= stop - width, rows, 0.0).sum(0)
        early[early_stop] = torch.where((index >= stop - 2 * width) & (index < stop - width), rows, 0.0).sum(0)
    rate = (late / early) ** (1.0 / m.double())
    still = (end == 0).nonzero()[:, 0]  # the cost never changed here: 1 if x moved, else 0
    rate[still] = (step_norm.index_select(1, still).amax(0) > 0).double() if n else 0.0
    rate = torch.where((end == 1) & (n >= 2), 0.0, rate)
    return torch.where((end == 1) & (n < 2), float("nan"), rate)
