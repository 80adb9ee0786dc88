"""Update rules beyond plain gradient descent, batched over rows: momentum, Nesterov, Adam.

Each rule is PyTorch's own (torch/optim/sgd.py and adam.py), written for a (B, D) tensor of
points whose row b has its own learning rate (and, for the lr × momentum map, its own β):

    momentum   torch.optim.SGD(lr, momentum=β, dampening=0)       (heavy ball)
                   v₁ = g₁;  v_t = β·v_(t−1) + g_t
                   x_t = x_(t−1) − lr·v_t
    nesterov   torch.optim.SGD(lr, momentum=β, nesterov=True)
                   v_t as above;  x_t = x_(t−1) − lr·(g_t + β·v_t)
    adam       torch.optim.Adam(lr, betas=(β₁, β₂), eps)            (bias-corrected)
                   m_t = β₁·m_(t−1) + (1 − β₁)·g_t;  s_t = β₂·s_(t−1) + (1 − β₂)·g_t²
                   x_t = x_(t−1) − (lr / (1 − β₁ᵗ)) · m_t / (√s_t / √(1 − β₂ᵗ) + eps)

The arithmetic is torch's operation for operation, so in float64 a row follows torch.optim
bitwise (tests/test_optimizers.py): `add_(v, alpha=−lr)` rounds once (a fused multiply-add
on the CPU), and so does `addcmul_(v, lr, value=−1)`, the form torch itself takes for a tensor
lr; the heavy-ball buffer is `mul_(β).add_(g)`; Adam's moments are `lerp_` and
`mul_(β₂).addcmul_(g, g, value=1 − β₂)`, its step `(lr/bc₁)·m / (√s/√bc₂ + eps)`.
Plain gradient descent is not here: it keeps the article's `x −= lr · grad` in
`descent.descend` (two roundings, the article's numbers), which is why `gd` and
torch.optim.SGD(momentum=0) may differ in the last bit.

A rule holds its state (the buffers and the step count) between calls, as a torch.optim
optimizer does, so a descent handed over in chunks continues bitwise where it stopped.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gdsweep.core.spec import OptimizerSpec

NAMES = ("gd", "momentum", "nesterov", "adam")


class Rule:
    """One optimizer for every row: `step(x, grad)` updates x (B, D) in place and keeps the state."""

    def __init__(self, spec: OptimizerSpec, lr: Tensor, momenta: Tensor | None = None) -> None:
        self.spec = spec
        self.lr = lr.unsqueeze(-1)  # (B, 1)
        beta = momenta if momenta is not None else torch.full_like(lr, spec.momentum)
        self.beta = beta.to(lr).unsqueeze(-1)  # (B, 1): β per row
        self.t = 0  # steps taken
        self.buffers: dict[str, Tensor] = {}
        self.record_every = 0  # adam, K > 0: keep the preconditioner of every K-th iterate
        self.preconditioners: dict[int, Tensor] = {}  # iterate k -> P (B, D) of the step taken from x_k

    def step(self, x: Tensor, grad: Tensor) -> None:
        self.t += 1
        if self.spec.name == "adam":
            self._adam(x, grad)
            return
        buf = self.buffers.get("momentum_buffer")
        if buf is None:  # torch: the first buffer is a copy of the gradient
            buf = self.buffers["momentum_buffer"] = grad.detach().clone()
        else:
            buf.mul_(self.beta).add_(grad)
        direction = torch.addcmul(grad, buf, self.beta) if self.spec.name == "nesterov" else buf
        x.addcmul_(direction, self.lr, value=-1)

    def _adam(self, x: Tensor, grad: Tensor) -> None:
        beta1, beta2 = self.spec.betas
        if not self.buffers:
            self.buffers = {"exp_avg": torch.zeros_like(grad), "exp_avg_sq": torch.zeros_like(grad)}
        exp_avg, exp_avg_sq = self.buffers["exp_avg"], self.buffers["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** float(self.t)
        bias_correction2_sqrt = (1 - beta2 ** float(self.t)) ** 0.5
        step_size = self.lr / bias_correction1
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.spec.eps)
        x.sub_(step_size * exp_avg / denom)
        if self.record_every and (self.t - 1) % self.record_every == 0:
            self.preconditioners[self.t - 1] = self.preconditioner()

    def preconditioner(self) -> Tensor | None:
        """Adam's diagonal P = √v̂ + eps (B, D) after the last step: the preconditioned sharpness
        is the top eigenvalue of P⁻¹H. None for the other rules (or before a step)."""
        if self.spec.name != "adam" or not self.buffers:
            return None
        v_hat = self.buffers["exp_avg_sq"] / (1 - self.spec.betas[1] ** float(self.t))
        return v_hat.sqrt() + self.spec.eps


def rule(spec: OptimizerSpec, lr: Tensor, momenta: Tensor | None = None) -> Rule | None:
    """The rule for these rows, or None for plain gradient descent (descend's own fast path)."""
    if spec.name == "gd":
        return None
    return Rule(spec, lr, momenta)
