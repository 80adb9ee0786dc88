"""The function library: Hessians against symbolic ones, minimisers reached, theory vs observation."""

import math
from pathlib import Path

import pytest
import sympy as sp
import torch
import yaml

from gdsweep.core import theory
from gdsweep.core.descent import descend
from gdsweep.core.regimes import classify
from gdsweep.core.spec import Tolerances
from gdsweep.objectives import functions
from gdsweep.objectives.models import MODELS

CONF = Path(__file__).resolve().parents[1] / "conf" / "function"
NAMED = sorted(p.stem for p in CONF.glob("*.yaml") if p.stem != "expr" and p.stem not in MODELS)  # models: test_models
x, y = sp.symbols("x y")
# Independent formulas (sympy), in the variables of the standard tables.
SYMBOLIC = {
    "quadratic": (x**2 + y**2, (x, y)),
    "scaled_quadratic": (x**2 + y**2, (x, y)),
    "ill_conditioned": (sp.Rational(1, 2) * (x**2 + 100 * y**2), (x, y)),
    "quartic": (x**4 + y**4, (x, y)),
    "double_well": (x**4 - 3 * x**2 + x, (x,)),
    "rosenbrock": (100 * (y - x**2) ** 2 + (1 - x) ** 2, (x, y)),
    "himmelblau": ((x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2, (x, y)),
    "beale": ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2, (x, y)),
    "booth": ((x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2, (x, y)),
    "matyas": (0.26 * (x**2 + y**2) - 0.48 * x * y, (x, y)),
    "three_hump_camel": (2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2, (x, y)),
    "rastrigin": (20 + x**2 - 10 * sp.cos(2 * sp.pi * x) + y**2 - 10 * sp.cos(2 * sp.pi * y), (x, y)),
    "styblinski_tang": (sp.Rational(1, 2) * (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y), (x, y)),
}


def named(name: str, dim: int | None = None) -> tuple[functions.Function, list[float]]:
    """The function as its YAML configures it, in the dimension of its default x0 unless given."""
    config = yaml.safe_load((CONF / f"{name}.yaml").read_text())
    x0 = config["x0"] if isinstance(config["x0"], list) else [config["x0"]]
    return functions.build(config, dim or len(x0)), x0


def test_every_yaml_names_a_function_and_the_library_is_complete():
    assert set(NAMED) == set(functions.REGISTRY)
    assert len(NAMED) >= 14


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_hessian_at_the_minimiser_matches_the_symbolic_one(name):
    formula, variables = SYMBOLIC[name]
    function, _ = named(name, len(variables))
    for minimiser in function.minimizers:
        at = dict(zip(variables, minimiser))
        expected = sp.hessian(formula, variables).subs(at).evalf(30)
        got = theory.hessian(function.f, torch.tensor(minimiser, dtype=torch.float64))
        assert got.flatten().tolist() == pytest.approx([float(v) for v in expected], rel=1e-6, abs=1e-9)
        symbolic = torch.tensor([[float(v) for v in row] for row in expected.tolist()], dtype=torch.float64)
        top = torch.linalg.eigvalsh(symbolic).max().item()
        assert theory.sharpness(function.f, torch.tensor(minimiser)) == pytest.approx(top, rel=1e-6, abs=1e-9)
        assert float(formula.subs(at)) == pytest.approx(function.minimum, abs=1e-9)


def test_rosenbrock_critical_lr_is_the_published_value():
    function, _ = named("rosenbrock")
    top = theory.sharpness(function.f, torch.tensor([1.0, 1.0]))
    assert top == pytest.approx(501 + math.sqrt(301**2 + 400**2), rel=1e-12)
    assert 2 / top == pytest.approx(0.00199680, abs=5e-9)


def test_ackley_has_a_kink_at_its_minimum_so_no_sharpness():
    function, _ = named("ackley")
    assert math.isnan(theory.sharpness(function.f, torch.zeros(2)))


@pytest.mark.parametrize("name", NAMED)
def test_the_minimiser_is_reached_from_the_default_x0_at_a_stable_lr(name):
    function, x0 = named(name)
    minimisers = torch.tensor(function.minimizers, dtype=torch.float64)
    top = max(theory.sharpness(function.f, m) for m in minimisers)
    flat_or_kinked = not (math.isfinite(top) and top > 0)  # quartic (Hessian 0), ackley (kink)
    lr = 0.01 if flat_or_kinked else 1 / top
    t = descend(function.f, torch.tensor(x0, dtype=torch.float64), torch.tensor([lr], dtype=torch.float64), 20000)
    distance = torch.cdist(t.x[-1], minimisers).min().item()
    assert distance < (0.05 if flat_or_kinked else 1e-3)
    assert t.cost[-1, 0].item() == pytest.approx(function.minimum, abs=0.1 if flat_or_kinked else 1e-6)


@pytest.mark.parametrize("name,eigen", [("scaled_quadratic", 2.0), ("ill_conditioned", 100.0)])
def test_observed_regime_agrees_with_the_predicted_one_on_quadratics(name, eigen):
    function, x0 = named(name, 2)
    top = theory.sharpness(function.f, torch.zeros(2))
    assert top == pytest.approx(eigen)
    lrs = [0.5 / top, 0.9 / top, 1.5 / top, 1.9 / top, 2.0 / top, 2.2 / top]
    x_start = torch.tensor(x0 if len(x0) > 1 else [x0[0], x0[0]], dtype=torch.float64)
    t = descend(function.f, x_start, torch.tensor(lrs, dtype=torch.float64), 400)
    observed = classify(t.cost, t.x, t.grad_norm, Tolerances())
    predicted = [theory.predicted_regime(lr, top) for lr in lrs]
    assert predicted == ["monotone", "monotone", "zigzag", "zigzag", "oscillating", "diverging"]
    seen = [path if regime == "converging" else regime for regime, path in zip(observed.regime, observed.path)]
    if name == "scaled_quadratic":
        assert seen == predicted  # one curvature: every coordinate follows the top eigenvalue
    else:
        # the flat direction (λ=1) stays monotone; the cost's zigzag is the steep one's
        assert seen[4:] == predicted[4:]


def test_sharpness_along_the_path_matches_the_exact_hessian():
    function, _ = named("rosenbrock")
    points = torch.tensor([[-1.2, 1.0], [0.0, 0.0], [0.5, 0.25], [1.0, 1.0]], dtype=torch.float64)
    exact = [theory.sharpness(function.f, p) for p in points]
    assert theory.sharpness_along(function.f, points, iterations=200).tolist() == pytest.approx(exact, rel=1e-6)
