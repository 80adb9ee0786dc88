"""Your own objective as a formula, e.g. `3*x**2 + sin(x)`, compiled to torch operations.

The text is parsed into a Python syntax tree, every node is checked against a short allow-list
(numbers, x, x[i], + - * / **, unary minus, parentheses, the functions and constants below)
and turned into a closure over torch calls. It is never passed to eval or exec: a name, an
attribute, a call or any other node outside the list is rejected with the part that offended.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

import torch
from torch import Tensor

from gdsweep.core.descent import Objective
from gdsweep.errors import GdsweepError

MAX_LENGTH = 500
MAX_DEPTH = 32
FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "asin": torch.asin,
    "acos": torch.acos,
    "atan": torch.atan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "exp": torch.exp,
    "expm1": torch.expm1,
    "log": torch.log,
    "log1p": torch.log1p,
    "sqrt": torch.sqrt,
    "abs": torch.abs,
    "sigmoid": torch.sigmoid,
    "softplus": torch.nn.functional.softplus,
    "relu": torch.relu,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
KEY = "function.expr"
HINT = "use numbers, x (x[0], x[1], ... in n-D), + - * / **, parentheses, pi, e and " + ", ".join(FUNCTIONS)

Term = float | Callable[[Tensor], Tensor]  # a folded constant, or a function of the points


def compile_expression(text: object, dim: int) -> Objective:
    """Check and compile `text` for points of dimension `dim`; raise GdsweepError on anything else."""
    if not isinstance(text, str) or not text.strip():
        raise GdsweepError(KEY, "is empty", "give e.g. function.expr='3*x**2 + sin(x)'")
    if len(text) > MAX_LENGTH:
        raise GdsweepError(KEY, f"is {len(text)} characters long (at most {MAX_LENGTH})", "give a shorter formula")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise GdsweepError(KEY, f"{text!r} does not parse ({err.msg}, column {err.offset})", HINT) from None
    except (RecursionError, MemoryError, ValueError):
        raise GdsweepError(KEY, "is nested too deeply", "give a simpler formula") from None
    term = _Compiler(text.strip(), dim).term(tree.body, depth=0)
    if not callable(term):
        raise GdsweepError(KEY, f"{text!r} does not depend on x", "write a formula in x, e.g. x**2")
    return term


class _Compiler:
    """Turns checked syntax-tree nodes into terms; constants are folded as they are met."""

    def __init__(self, text: str, dim: int) -> None:
        self.text, self.dim = text, dim

    def reject(self, node: ast.AST, problem: str, fix: str = HINT) -> GdsweepError:
        part = ast.get_source_segment(self.text, node) or type(node).__name__
        return GdsweepError(KEY, f"{problem}: {part!r}", fix)

    def term(self, node: ast.AST, depth: int) -> Term:
        if depth > MAX_DEPTH:
            raise self.reject(node, f"is nested more than {MAX_DEPTH} levels deep", "give a simpler formula")
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Subscript):
            return self.component(node)
        if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
            return self.combine(
                node, BINARY[type(node.op)], self.term(node.left, depth + 1), self.term(node.right, depth + 1)
            )
        if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
            return self.combine(node, UNARY[type(node.op)], self.term(node.operand, depth + 1))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.reject(node, "is not allowed")

    def name(self, node: ast.Name) -> Term:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id != "x":
            raise self.reject(node, "unknown name")
        if self.dim != 1:
            raise self.reject(node, f"x is {self.dim}-D here", f"write its components x[0] ... x[{self.dim - 1}]")
        return lambda x: x

    def component(self, node: ast.Subscript) -> Term:
        index = node.slice
        if not (isinstance(node.value, ast.Name) and node.value.id == "x"):
            raise self.reject(node, "only x can be indexed")
        if not (isinstance(index, ast.Constant) and type(index.value) is int):
            raise self.reject(node, "an index must be a whole number", "write x[0], x[1], ...")
        i = index.value
        if not 0 <= i < self.dim:
            raise self.reject(node, f"index out of range for a {self.dim}-D x0", f"use x[0] ... x[{self.dim - 1}]")
        return (lambda x: x) if self.dim == 1 else (lambda x: x[:, i])

    def call(self, node: ast.Call, depth: int) -> Term:
        if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise self.reject(node.func, "is not an allowed function")
        if len(node.args) != 1 or node.keywords:
            raise self.reject(node, "takes exactly one argument")
        function = FUNCTIONS[node.func.id]
        argument = self.term(node.args[0], depth + 1)
        if callable(argument):
            return lambda x: function(argument(x))
        return float(function(torch.tensor(argument, dtype=torch.float64)))

    def combine(self, node: ast.AST, op: Callable, *terms: Term) -> Term:
        if not any(callable(t) for t in terms):
            try:
                return float(op(*terms))
            except (OverflowError, ZeroDivisionError, ValueError, TypeError) as err:
                raise self.reject(node, f"cannot be computed ({err})", "fix the constant part") from None
        parts = [t if callable(t) else (lambda x, c=t: c) for t in terms]
        if len(parts) == 1:
            return lambda x: op(parts[0](x))
        left, right = parts
        return lambda x: op(left(x), right(x))
