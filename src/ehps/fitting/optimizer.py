"""A batched L-BFGS that treats every person as an independent problem, and the staged schedule.

Why not ``torch.optim.LBFGS``: it minimises one scalar, so summing the people's losses would couple
their line searches and curvature estimates (a badly conditioned person slows the others, and the
result for one person would depend on who else is in the image). Here each person has its own
history, search direction and backtracking step, while every function evaluation is one batched
forward/backward pass of the body model. Fixed iteration budgets keep the run time bounded and
the result deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

__all__ = ["Packer", "batched_lbfgs", "Stage", "LBFGSResult", "LBFGSMemory"]


class Packer:
    """Packs a dict of batched tensors (B, ...) into one (B, P) matrix and back.

    Args:
        template: name -> (B, ...) tensor (defines order, shapes, dtype, device).
        scales: name -> factor: the packed entry is ``value / scale``, so a variable with a weak
            effect on the loss (e.g. facial actions) gets a larger scale and the optimiser sees
            a better-conditioned problem. Default 1.
    """

    def __init__(self, template: dict[str, torch.Tensor],
                 scales: dict[str, float] | None = None) -> None:
        self.names = list(template)
        self.scales = {k: float((scales or {}).get(k, 1.0)) for k in self.names}
        self.shapes = {k: tuple(v.shape[1:]) for k, v in template.items()}
        self.sizes = {k: int(torch.tensor(self.shapes[k]).prod()) if self.shapes[k] else 1
                      for k in self.names}
        self.batch = next(iter(template.values())).shape[0]
        offs, o = {}, 0
        for k in self.names:
            offs[k] = (o, o + self.sizes[k])
            o += self.sizes[k]
        self.slices = offs
        self.size = o

    def pack(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat(
            [values[k].reshape(self.batch, -1) / self.scales[k] for k in self.names], dim=1
        )

    def unpack(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: x[:, a:b].reshape(x.shape[0], *self.shapes[k]) * self.scales[k]
                for k, (a, b) in self.slices.items()}

    def mask(self, names: Sequence[str | tuple[str, Sequence[int]]], dtype: torch.dtype,
             device: torch.device) -> torch.Tensor:
        """(P,) 1 for the free entries, 0 elsewhere.

        Args:
            names: variable names (all entries free), or ``(name, rows)`` pairs freeing only the
                given indices of the variable's first non-batch dimension (e.g. some joints of
                ``body_pose``).
        """
        m = torch.zeros(self.size, dtype=dtype, device=device)
        for item in names:
            name, rows = (item, None) if isinstance(item, str) else item
            a, b = self.slices[name]
            if rows is None:
                m[a:b] = 1.0
                continue
            shape = self.shapes[name]
            per_row = (b - a) // shape[0]
            for r in rows:
                m[a + r * per_row : a + (r + 1) * per_row] = 1.0
        return m


@dataclass
class LBFGSMemory:
    """The curvature pairs of a finished run, oldest first: ``s`` and ``y`` (H, B, P) (zero rows
    for empty slots) and the initial Hessian scale ``gamma`` (B,). Passed to the next run on a
    similar problem (the next video frame), it lets L-BFGS take quasi-Newton steps from the
    first iteration."""

    s: torch.Tensor
    y: torch.Tensor
    gamma: torch.Tensor

    def take(self, rows: torch.Tensor) -> LBFGSMemory:
        """The memory of some people (index tensor into the batch)."""
        return LBFGSMemory(self.s[:, rows], self.y[:, rows], self.gamma[rows])


@dataclass
class LBFGSResult:
    """Final point (B, P), per-person loss (B,), number of function evaluations, and the
    curvature memory at the end."""

    x: torch.Tensor
    loss: torch.Tensor
    evaluations: int
    memory: LBFGSMemory | None = None


def _value_and_grad(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        xx = x.detach().requires_grad_(True)
        f = fn(xx)
        (g,) = torch.autograd.grad(f.sum(), xx)
    return f.detach(), g * mask


def batched_lbfgs(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    mask: torch.Tensor,
    iterations: int,
    history: int = 10,
    max_backtracks: int = 6,
    first_step: float = 0.05,
    armijo: float = 1e-4,
    memory: LBFGSMemory | None = None,
) -> LBFGSResult:
    """Minimise B independent problems ``fn(x)[b]`` over the rows of x, jointly evaluated.

    Args:
        fn: maps (B, P) -> (B,) per-person losses; row b of the output may depend only on row b
            of the input.
        x0: (B, P) start.
        mask: (P,) 1 for free entries, 0 for frozen ones.
        iterations: L-BFGS iterations (each costs one evaluation, plus backtracking ones).
        history: number of stored curvature pairs.
        max_backtracks: step halvings (x0.25) before a person gives up the iteration.
        first_step: length of the first (steepest-descent) step in the packed units.
        armijo: sufficient-decrease constant.
        memory: curvature pairs of an earlier run to start from (their frozen entries are
            dropped; pairs without positive curvature left are ignored); ``None``: start with
            a steepest-descent step.

    Returns:
        :class:`LBFGSResult`.
    """
    x = x0.detach().clone()
    b, p = x.shape
    f, g = _value_and_grad(fn, x, mask)
    evals = 1
    s_hist = torch.zeros(history, b, p, dtype=x.dtype, device=x.device)
    y_hist = torch.zeros_like(s_hist)
    rho_hist = torch.zeros(history, b, dtype=x.dtype, device=x.device)  # 0 = empty slot
    gamma = torch.ones(b, dtype=x.dtype, device=x.device)  # initial Hessian scale per person
    head = 0
    if memory is not None and memory.s.shape[0] and memory.s.shape[1:] == (b, p):
        k = min(history, memory.s.shape[0])
        ms, my = memory.s[-k:] * mask, memory.y[-k:] * mask  # oldest first
        sy = (ms * my).sum(-1)
        ok = sy > 1e-10
        s_hist[:k] = torch.where(ok[..., None], ms, torch.zeros_like(ms))
        y_hist[:k] = torch.where(ok[..., None], my, torch.zeros_like(my))
        rho_hist[:k] = torch.where(ok, 1.0 / sy.clamp_min(1e-10), torch.zeros_like(sy))
        gamma = memory.gamma.to(x.dtype).clone()
        head = k % history
    for _ in range(iterations):
        fresh = (rho_hist > 0).sum(0) == 0
        d = _two_loop(g, s_hist, y_hist, rho_hist, gamma, head, history)
        gnorm = g.norm(dim=1).clamp_min(1e-12)
        sd = -g * (first_step / gnorm)[:, None]
        gd = (g * d).sum(1)
        d = torch.where((fresh | (gd >= 0))[:, None], sd, d)  # restart where not a descent
        gd = (g * d).sum(1)
        step = torch.ones(b, dtype=x.dtype, device=x.device)
        accepted = torch.zeros(b, dtype=torch.bool, device=x.device)
        x_new, f_new, g_new = x.clone(), f.clone(), g.clone()
        for _ls in range(max_backtracks + 1):
            trial = x + step[:, None] * d
            ft, gt = _value_and_grad(fn, trial, mask)
            evals += 1
            ok = (ft <= f + armijo * step * gd) & torch.isfinite(ft) & ~accepted
            x_new = torch.where(ok[:, None], trial, x_new)
            f_new = torch.where(ok, ft, f_new)
            g_new = torch.where(ok[:, None], gt, g_new)
            accepted |= ok
            if bool(accepted.all()):
                break
            step = torch.where(accepted, step, step * 0.25)
        s = x_new - x
        y = g_new - g
        sy = (s * y).sum(1)
        yy = (y * y).sum(1)
        good = accepted & (sy > 1e-10)
        s_hist[head] = torch.where(good[:, None], s, torch.zeros_like(s))
        y_hist[head] = torch.where(good[:, None], y, torch.zeros_like(y))
        rho_hist[head] = torch.where(good, 1.0 / sy.clamp_min(1e-10), torch.zeros_like(sy))
        gamma = torch.where(good, sy / yy.clamp_min(1e-20), gamma)
        # a person whose line search failed forgets its curvature pairs and restarts
        rho_hist = torch.where(accepted[None, :], rho_hist, torch.zeros_like(rho_hist))
        gamma = torch.where(accepted, gamma, torch.ones_like(gamma))
        head = (head + 1) % history
        x, f, g = x_new, f_new, g_new
    order = [(head + i) % history for i in range(history)]  # oldest first
    kept = rho_hist[order] > 0
    mem = LBFGSMemory(torch.where(kept[..., None], s_hist[order], torch.zeros_like(s_hist)),
                      torch.where(kept[..., None], y_hist[order], torch.zeros_like(y_hist)),
                      gamma)
    return LBFGSResult(x=x, loss=f, evaluations=evals, memory=mem)


def _two_loop(g: torch.Tensor, s_hist: torch.Tensor, y_hist: torch.Tensor,
              rho_hist: torch.Tensor, gamma: torch.Tensor, head: int, history: int
              ) -> torch.Tensor:
    """-H g by the L-BFGS two-loop recursion, per row; empty slots (rho = 0) contribute nothing."""
    q = g.clone()
    order = [(head - 1 - i) % history for i in range(history)]  # newest first
    alphas = []
    for k in order:
        a = rho_hist[k] * (s_hist[k] * q).sum(1)
        q = q - a[:, None] * y_hist[k]
        alphas.append(a)
    r = q * gamma[:, None]
    for k, a in zip(reversed(order), reversed(alphas)):
        beta = rho_hist[k] * (y_hist[k] * r).sum(1)
        r = r + s_hist[k] * (a - beta)[:, None]
    return -r


@dataclass(frozen=True)
class Stage:
    """One optimisation stage: which variables move (names, or ``(name, rows)`` for some joints
    of a pose variable), how many iterations, which loss weights (a
    :class:`ehps.fitting.objective.LossWeights`), which model is evaluated."""

    name: str
    variables: tuple[str | tuple[str, tuple[int, ...]], ...]
    iterations: int
    weights: object
    #: evaluate the mesh-free :class:`~ehps.fitting.skeleton.SkeletonSurrogate` instead of the
    #: body model (cheap; exact for joints, approximate for surface landmarks)
    surrogate: bool = False

    def names(self) -> tuple[str, ...]:
        """Names of the variables that are (at least partly) free."""
        return tuple(v if isinstance(v, str) else v[0] for v in self.variables)
