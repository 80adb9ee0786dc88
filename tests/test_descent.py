"""The descent core: batched over learning rates, the forward recomputed each step."""

import pytest
import torch

from gdsweep.core.descent import Trajectory, descend, descend_in_chunks
from gdsweep.objectives.functions import coordinate_sum

quadratic = lambda x: coordinate_sum(x**2)


def test_a_batch_of_lrs_equals_one_run_per_lr():
    lrs = torch.tensor([0.01, 0.1, 0.75, 1.0, 1.1], dtype=torch.float64)
    batched = descend(quadratic, torch.tensor([4.0], dtype=torch.float64), lrs, 30)
    for b, lr in enumerate(lrs):
        alone = descend(quadratic, torch.tensor([4.0], dtype=torch.float64), lr.reshape(1), 30)
        assert torch.equal(batched.x[:, b], alone.x[:, 0])
        assert torch.equal(batched.cost[:, b], alone.cost[:, 0])


def test_every_series_has_n_plus_one_points_starting_at_x0():
    t = descend(quadratic, torch.tensor([4.0, -2.0]), torch.tensor([0.1, 0.2, 0.3]), 7)
    assert t.x.shape == (8, 3, 2) and t.cost.shape == (8, 3) and t.grad_norm.shape == (8, 3)
    assert torch.equal(t.x[0], torch.tensor([[4.0, -2.0]] * 3))
    assert torch.allclose(t.cost[0], torch.tensor(20.0))


def test_gradient_is_taken_at_the_current_iterate_every_step():
    # x_k = 4 (1 - 2 lr)^k exactly when each step reads grad f(x_k) = 2 x_k, not a stale graph
    t = descend(quadratic, torch.tensor([4.0], dtype=torch.float64), torch.tensor([0.3], dtype=torch.float64), 12)
    expected_x = torch.tensor([4 * 0.4**k for k in range(13)], dtype=torch.float64)
    torch.testing.assert_close(t.x[:, 0, 0], expected_x)
    torch.testing.assert_close(t.grad_norm[:, 0], 2 * expected_x.abs())


def test_n_d_gradient_norm_and_step():
    t = descend(quadratic, torch.tensor([3.0, 4.0], dtype=torch.float64), torch.tensor([0.25], dtype=torch.float64), 1)
    torch.testing.assert_close(t.grad_norm[0, 0], torch.tensor(10.0, dtype=torch.float64))
    torch.testing.assert_close(t.x[1, 0], torch.tensor([1.5, 2.0], dtype=torch.float64))


def test_divergence_to_inf_is_a_result_not_a_crash():
    t = descend(quadratic, torch.tensor([4.0]), torch.tensor([1.1, 0.1]), 1000)
    assert not torch.isfinite(t.cost[-1, 0]) and torch.isfinite(t.cost[:, 1]).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("chunk", [1, 7, 50, 1000])
def test_chunked_descent_is_bitwise_one_descent(dtype, chunk):
    double_well = lambda x: coordinate_sum((x**2 - 1) ** 2)
    x0, lrs = torch.tensor([1.7], dtype=dtype), torch.tensor([0.01, 0.2, 0.45, 0.6], dtype=dtype)
    whole = descend(double_well, x0, lrs, 120)
    pieces = list(descend_in_chunks(double_well, x0, lrs, 120, chunk))
    assert [p.start for p in pieces] == [0] + [k * chunk + 1 for k in range(1, len(pieces))]
    assert sum(p.cost.shape[0] for p in pieces) == 121
    joined = Trajectory.join(pieces)
    for got, want in [(joined.x, whole.x), (joined.cost, whole.cost), (joined.grad_norm, whole.grad_norm)]:
        torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)  # bitwise; lr=0.6 blows up


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_descent_that_drops_its_stopped_columns_computes_the_values_of_the_whole_batch(dtype):
    """retire=True: a column whose last step left x as it was (x² landing on 0 exactly, or nan after
    a blow-up) leaves the batch; later pieces hold the others, at piece.columns, with the very values
    the whole batch computes, and every dropped column's later rows are its last one."""
    lrs = torch.tensor([0.01, 0.3, 0.5, 0.7, 0.99, 1.0, 1.2, 30.0], dtype=dtype)
    x0 = torch.tensor([4.0], dtype=dtype)
    whole = descend(quadratic, x0, lrs, 300)
    widths, last_seen = [], {}
    for piece in descend_in_chunks(quadratic, x0, lrs, 300, 16, retire=True):
        columns = torch.arange(len(lrs)) if piece.columns is None else piece.columns
        widths.append(len(columns))
        rows = slice(piece.start, piece.start + len(piece.x))
        assert torch.equal(piece.lr, lrs[columns])
        for got, want in [(piece.x, whole.x), (piece.cost, whole.cost), (piece.grad_norm, whole.grad_norm)]:
            torch.testing.assert_close(got, want[rows][:, columns], rtol=0, atol=0, equal_nan=True)
        last_seen.update({c: rows.stop - 1 for c in columns.tolist()})
    assert widths[0] == len(lrs) and widths[-1] < len(lrs)  # lr = 0.5 lands on 0 in one step; 30 blows up to nan
    for column, row in last_seen.items():  # a dropped column repeats its last row to the end
        after = whole.x[row:, column]
        assert torch.equal(after.isnan(), after[:1].isnan().expand_as(after))
        assert (after[~after.isnan()] == after[0]).all()


def test_a_descent_with_momentum_keeps_every_column():
    """A rule with state (a momentum buffer) may move x again after a zero step: nothing is dropped."""
    from gdsweep.core import optimizers
    from gdsweep.core.spec import OptimizerSpec

    lrs = torch.tensor([0.3, 0.5, 30.0])
    rule = optimizers.rule(OptimizerSpec(name="momentum", momentum=0.9), lrs)
    pieces = list(descend_in_chunks(quadratic, torch.tensor([4.0]), lrs, 200, 16, rule, retire=True))
    assert all(p.columns is None and p.x.shape[1] == 3 for p in pieces)
