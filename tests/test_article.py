"""The defaults reproduce the seed article: f(x)=x**2, x0=4, lr=0.1, N=9."""

import torch

from gdsweep.config import validate
from gdsweep.core.article import article_loop
from gdsweep.core.descent import descend
from gdsweep.objectives import functions


def descend_defaults(make_config):
    spec = validate(make_config())
    function = functions.build(spec.function, dim=len(spec.x0))
    return spec, descend(function.f, torch.tensor(spec.x0), torch.tensor([spec.lr]), spec.N)


def test_defaults_are_the_articles_run(make_config):
    spec, _ = descend_defaults(make_config)
    assert (spec.function["name"], spec.x0, spec.lr, spec.N, spec.dtype) == ("quadratic", (4.0,), 0.1, 9, "float32")


def test_costs_after_each_step_are_16_times_0_64_to_the_k(make_config):
    _, trajectory = descend_defaults(make_config)
    cost = trajectory.cost[:, 0].double()
    expected = torch.tensor([16 * 0.64**k for k in range(10)], dtype=torch.float64)
    assert cost.shape == (10,)
    torch.testing.assert_close(cost, expected, rtol=1e-6, atol=0)


def test_final_x_is_4_times_0_8_to_the_9(make_config):
    _, trajectory = descend_defaults(make_config)
    assert abs(trajectory.x[-1, 0, 0].item() - 4 * 0.8**9) < 1e-6


def test_matches_the_articles_loop_bit_for_bit(make_config):
    _, trajectory = descend_defaults(make_config)
    article_costs, article_x = article_loop()
    assert torch.equal(trajectory.cost[1:, 0], torch.stack(article_costs))
    assert torch.equal(trajectory.x[-1, 0, 0], article_x)
