"""function=expr: formulas are parsed and checked node by node, compiled to torch, never evaluated."""

import math

import pytest
import torch

from gdsweep.errors import GdsweepError
from gdsweep.objectives.expressions import MAX_DEPTH, MAX_LENGTH, compile_expression
from tests.conftest import all_runs, embedded_client

ALLOWED = [
    ("3*x**2 + sin(x)", 1, lambda v: 3 * v**2 + math.sin(v)),
    ("-x + 2", 1, lambda v: -v + 2),
    ("exp(-x**2/2) * cos(pi*x)", 1, lambda v: math.exp(-(v**2) / 2) * math.cos(math.pi * v)),
    (
        "log(1 + x**2) + sqrt(abs(x)) + tanh(x) - e",
        1,
        lambda v: math.log(1 + v**2) + math.sqrt(abs(v)) + math.tanh(v) - math.e,
    ),
    (
        "sigmoid(x) + cosh(x) + sinh(x) + tan(x/4)",
        1,
        lambda v: 1 / (1 + math.exp(-v)) + math.cosh(v) + math.sinh(v) + math.tan(v / 4),
    ),
    ("x[0]**2", 1, lambda v: v**2),
]


@pytest.mark.parametrize("text,dim,reference", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_formulas_compute_what_they_say(text, dim, reference):
    f = compile_expression(text, dim)
    points = torch.tensor([[0.3], [1.7], [-2.2]], dtype=torch.float64)
    assert f(points).flatten().tolist() == pytest.approx([reference(v) for v in (0.3, 1.7, -2.2)], rel=1e-12)


def test_n_d_components_and_rosenbrock_written_by_hand():
    f = compile_expression("(1 - x[0])**2 + 100*(x[1] - x[0]**2)**2", 2)
    points = torch.tensor([[1.0, 1.0], [0.0, 0.0], [-1.2, 1.0]], dtype=torch.float64)
    assert f(points).tolist() == pytest.approx([0.0, 1.0, 24.2])


SENTINEL = "/tmp/gdsweep-expression-ran"
REJECTED = [
    ("__import__('os').system('touch /tmp/gdsweep-expression-ran')", "not an allowed function"),
    ("open('/tmp/gdsweep-expression-ran', 'w')", "not an allowed function"),
    ("x.__class__.__mro__", "is not allowed"),
    ("(lambda: 1)()", "not an allowed function"),
    ("[c for c in x]", "is not allowed"),
    ("'x'", "is not allowed"),
    ("y + 1", "unknown name"),
    ("torch.sin(x)", "not an allowed function"),
    ("x[5]", "index out of range"),
    ("x[-1]", "an index must be a whole number"),
    ("x[0:1]", "an index must be a whole number"),
    ("sin(x, x)", "exactly one argument"),
    ("sin(x=1)", "exactly one argument"),
    ("x if x else 1", "is not allowed"),
    ("x == 1", "is not allowed"),
    ("9**9**9 + x", "cannot be computed"),
    ("1/0 + x", "cannot be computed"),
    ("42", "does not depend on x"),
    ("x**", "does not parse"),
    ("", "is empty"),
    ("x + " * 200 + "x", f"at most {MAX_LENGTH}"),
    ("-" * 100 + "x", f"more than {MAX_DEPTH} levels"),
    ("sin(" * 40 + "x" + ")" * 40, f"more than {MAX_DEPTH} levels"),
]


@pytest.mark.parametrize("text,why", REJECTED, ids=[r[0][:30] for r in REJECTED])
def test_rejected_with_one_line_quoting_the_offending_part(text, why):
    with pytest.raises(GdsweepError) as caught:
        compile_expression(text, 2 if "[" in text and "x[" in text else 1)
    line = caught.value.line()
    assert "\n" not in line and line.startswith("gdsweep: error: function.expr:") and why in line


def test_bare_x_in_n_d_asks_for_components():
    with pytest.raises(GdsweepError, match=r"write its components x\[0\] \.\.\. x\[2\]"):
        compile_expression("x**2", 3)


def test_injection_through_the_cli_runs_nothing(cli, tmp_path):
    sentinel = tmp_path / "ran"
    eval(f"__import__('pathlib').Path('{sentinel}').touch()")  # the attack works when evaluated...
    assert sentinel.exists()
    sentinel.unlink()  # ...so the check below can fail
    for attack in [
        f"__import__('pathlib').Path('{sentinel}').touch()",
        "exec('import os')",
        "().__class__.__bases__[0].__subclasses__()",
    ]:
        result = cli("function=expr", f'function.expr="{attack}"')
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert result.stderr.strip().startswith("gdsweep: error: function.expr:"), result.stderr
    assert not sentinel.exists()
    assert not (tmp_path / "outputs" / "mlflow.db").exists() or all_runs(embedded_client(tmp_path)) == []


def test_a_custom_formula_runs_and_is_labelled(cli, tmp_path):
    result = cli("function=expr", "function.expr='3*x**2 + sin(x)'", "lr=0.1", "N=60", "dtype=float64")
    assert result.returncode == 0, result.stderr
    [run] = all_runs(embedded_client(tmp_path))
    assert run.data.tags["regime"] == "converging" and run.data.tags["converged"] == "true"
    assert run.data.tags["theory_point"].startswith("last iterate")
    # f'' = 6 - sin(x) at the minimiser x* ~ -0.1644: critical lr = 2 / f''(x*)
    assert run.data.metrics["critical_lr"] == pytest.approx(2 / (6 - math.sin(-0.16443)), rel=1e-3)


def test_named_function_with_the_wrong_x0_size_is_a_clear_error(cli):
    result = cli("function=rosenbrock", "x0=[1,2,3]", "function=himmelblau")
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == "gdsweep: error: x0: himmelblau is 2-D but x0 has 3 values; give x0 a list of 2 numbers, e.g. x0=[0,0]"
    )
