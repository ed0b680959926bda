"""A whole training step of the bilinear factorization on the CPU in one compiled call: score, loss, backward
and dense Adam, as FBGEMM fuses the optimizer into an embedding table's backward.

Why: with the fused score kernel (:mod:`bloombench.models.bilinear_kernel`) an ML-100K step still costs
~0.6 ms on one core, of which the arithmetic is ~0.1 ms: the rest is ~25 torch calls and autograd nodes
(loss, zero-filled gradients, accumulation) and ``torch.optim.Adam``'s per-step bookkeeping, each a few
microseconds on these CPUs. One numba function does all of it on the tables' memory.

It runs only where it does exactly what the modules' path does (``batch_loss``, ``backward``,
``torch.optim.Adam(weight_decay=l2)`` over every trainable parameter): optimizer ``"adam"`` on the CPU, a
pairwise loss (``pointwise``, ``bpr`` or ``hinge``) with one negative per positive, both tables scaled row
sums (``gather_rows``) and the net's trainable parameters exactly the two tables and the two biases.
Adam follows torch's fused CPU update (L2 added to the gradient, ``lerp`` of the first moment, bias
corrections from the step count, ``eps`` outside the square root) and its defaults (betas 0.9, 0.999,
eps 1e-8); the tests train both ways and compare. ``BLOOMBENCH_KERNELS=0`` turns it off with the score
kernel.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from bloombench.layers.compiled import SCALARS, available, compile_kernel, pool
from bloombench.models.bilinear_kernel import gather_plan
from bloombench.models.representations import BilinearNet
from bloombench.models.training import FitOptions

__all__ = ["LOSSES", "FusedAdamStep"]

#: Loss name -> the kernel's code for it.
LOSSES = {"pointwise": 0, "bpr": 1, "hinge": 2}
#: torch.optim.Adam's defaults, which the modules' path uses.
BETAS, EPS = (0.9, 0.999), 1e-8


@compile_kernel(inline="always")
def _pair_terms(pos, neg, kind):
    """A pair's loss and its derivatives in the positive and the negative score (Spotlight's losses)."""
    if kind == 0:  # (1 - sigmoid(pos)) + sigmoid(neg)
        sp, sn = 1 / (1 + math.exp(-pos)), 1 / (1 + math.exp(-neg))
        return (1 - sp) + sn, -sp * (1 - sp), sn * (1 - sn)
    if kind == 1:  # 1 - sigmoid(pos - neg)
        s = 1 / (1 + math.exp(neg - pos))
        return 1 - s, -s * (1 - s), s * (1 - s)
    margin = 1 - pos + neg  # max(0, 1 - pos + neg); torch's clamp passes the gradient at the boundary too
    slope = 1.0 if margin >= 0 else 0.0
    return max(margin, 0.0), -slope, slope


@compile_kernel
def _pair_pass(U, I, bu, bi, urows, irows, uids, iids, uscale, iscale, kind, gU, gI, gbu, gbi):
    """Mean loss of the pairs (user b, item ``iids[0, b]``) vs (user b, item ``iids[1, b]``), and its gradient
    added into ``gU, gI, gbu, gbi``: one pass, each looked-up row read once and its gradient written once
    (a pair's gradient needs only its own two scores)."""
    batch = iids.shape[1]
    dim = U.shape[1]
    u = np.empty(dim, U.dtype)
    vp = np.empty(dim, U.dtype)
    vn = np.empty(dim, U.dtype)
    typed = np.empty(2, U.dtype)  # casts the (float64) loss derivatives to the tables' precision
    total = 0.0
    for b in range(batch):
        pool(U, urows, b, uscale, u)
        pool(I, irows, b, iscale, vp)
        pool(I, irows, batch + b, iscale, vn)
        dot_p = np.float32(0)
        dot_n = np.float32(0)
        for c in range(dim):
            dot_p += u[c] * vp[c]
            dot_n += u[c] * vn[c]
        user_bias = bu[uids[b]]
        loss, grad_p, grad_n = _pair_terms(dot_p + user_bias + bi[iids[0, b]],
                                           dot_n + user_bias + bi[iids[1, b]], kind)
        total += loss
        typed[0], typed[1] = grad_p / batch, grad_n / batch
        grad_p, grad_n = typed[0], typed[1]
        gbu[uids[b]] += grad_p + grad_n
        gbi[iids[0, b]] += grad_p
        gbi[iids[1, b]] += grad_n
        step_p, step_n = grad_p * iscale, grad_n * iscale
        for j in range(irows.shape[1]):
            r = irows[b, j]
            for c in range(dim):
                gI[r, c] += step_p * u[c]
            r = irows[batch + b, j]
            for c in range(dim):
                gI[r, c] += step_n * u[c]
        for c in range(dim):  # reuse vp for the user's gradient: grad_p * vp + grad_n * vn
            vp[c] = uscale * (grad_p * vp[c] + grad_n * vn[c])
        for j in range(urows.shape[1]):
            r = urows[b, j]
            for c in range(dim):
                gU[r, c] += vp[c]
    return total / batch


@compile_kernel
def _adam(param, grad, exp_avg, exp_avg_sq, step_size, correction2_inv, beta2, keep1, keep2, eps, weight_decay):
    """torch's fused CPU Adam update of one tensor: 1-D arrays of one length, every scalar in the arrays'
    precision (a float64 one would turn the loop into float64 and stop it vectorising); ``keep1 = 1 -
    beta1``, ``keep2 = 1 - beta2``, ``correction2_inv = 1 / sqrt(1 - beta2**step)``."""
    for i in range(param.shape[0]):  # locals, each array read and written once: the loop vectorises
        p = param[i]
        g = grad[i] + weight_decay * p
        m = exp_avg[i] + keep1 * (g - exp_avg[i])
        v = beta2 * exp_avg_sq[i] + keep2 * g * g
        exp_avg[i], exp_avg_sq[i] = m, v
        param[i] = p - step_size * m / (np.sqrt(v) * correction2_inv + eps)


@compile_kernel
def _step(U, I, bu, bi, urows, irows, uids, iids, uscale, iscale, kind, flat, grads, moments, squares,
          step_size, correction2_inv, beta2, keep1, keep2, eps, weight_decay):
    for g in grads:
        g[:] = 0
    loss = _pair_pass(U, I, bu, bi, urows, irows, uids, iids, uscale, iscale, kind,
                      grads[0].reshape(U.shape), grads[1].reshape(I.shape), grads[2], grads[3])
    for t in range(4):
        _adam(flat[t], grads[t], moments[t], squares[t], step_size, correction2_inv, beta2, keep1, keep2, eps,
              weight_decay)
    return loss


class FusedAdamStep:
    """``batch_loss`` + ``backward`` + ``Adam.step`` of a :class:`BilinearNet` as one compiled call.

    Build it with :meth:`maybe` (``tables``: the user and item weights and biases, in that order), which
    returns None where the fused step would not do exactly what the
    modules' path does. Call it with a batch's user ids ``(B,)`` and item ids ``(2, B)`` (positives, then
    negatives); it updates the net's parameters in place and returns the batch's mean loss.
    """

    def __init__(self, net: BilinearNet, tables: list[torch.Tensor], loss: str, options: FitOptions) -> None:
        self.net, self.kind = net, LOSSES[loss]
        dtype = SCALARS[tables[0].dtype]
        # Tuples, not lists: numba takes a tuple of arrays as is, where it would copy a list in and out.
        self.flat = tuple(t.detach().view(-1).numpy() for t in tables)  # views: updates land in the parameters
        self.grads = tuple(np.zeros_like(a) for a in self.flat)
        self.moments = tuple(np.zeros_like(a) for a in self.flat)
        self.squares = tuple(np.zeros_like(a) for a in self.flat)
        self.dtype, self.lr = dtype, options.lr
        beta1, beta2 = BETAS
        self.hyper = tuple(dtype(h) for h in (beta2, 1 - beta1, 1 - beta2, EPS, options.l2))
        self.steps = 0

    @classmethod
    def maybe(cls, net: BilinearNet, loss: str, n_negatives: int, options: FitOptions) -> FusedAdamStep | None:
        """The fused step of ``net`` trained with ``loss`` and ``options``, or None where it does not apply."""
        if not (available() and loss in LOSSES and n_negatives == 1 and options.optimizer == "adam"
                and options.device.type == "cpu"):
            return None
        probe = torch.zeros(1, dtype=torch.int64)
        plan = gather_plan(net.user_embeddings, net.item_embeddings, net.user_biases.weight,
                           net.item_biases.weight, probe, torch.zeros(2, 1, dtype=torch.int64))  # one pair
        if plan is None:
            return None
        trainable = {id(p) for p in net.parameters() if p.requires_grad}
        if trainable != {id(t) for t in plan[:4]} or len(trainable) != 4:
            return None  # Adam over the net's parameters would update something else too
        fused = cls(net, list(plan[:4]), loss, options)
        fused._warm_up(plan)
        return fused

    def _warm_up(self, plan: tuple) -> None:
        """Run the kernel once on copies of a one-row problem of the real argument types, so that its
        compilation (or loading from numba's disk cache) happens now and not inside the first epoch."""
        U, I = (t.detach()[:1].clone().numpy() for t in plan[:2])
        biases = [t.detach()[:1].clone().numpy().reshape(-1) for t in plan[2:4]]
        rows = [np.zeros_like(t.numpy()) for t in plan[4:8]]  # row 0 of every table: in range
        flat = (U.reshape(-1), I.reshape(-1), *biases)
        buffers = [tuple(np.zeros_like(a) for a in flat) for _ in range(3)]
        _step(U, I, *biases, *rows, plan[8], plan[9], self.kind, flat, *buffers, self.dtype(0), self.dtype(1),
              *self.hyper)

    def __call__(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> float:
        net = self.net
        if item_ids.dim() != 2 or item_ids.shape[0] != 2:  # the kernel reads exactly two items per user
            raise ValueError(f"item_ids must be (2, batch): positives, then negatives; got {tuple(item_ids.shape)}")
        plan = gather_plan(net.user_embeddings, net.item_embeddings, net.user_biases.weight,
                           net.item_biases.weight, user_ids, item_ids)
        if plan is None:  # cannot happen for a net that passed maybe(); refuse rather than mix two paths
            raise RuntimeError("the fused step no longer applies to this net")
        self.steps += 1
        beta1, beta2 = BETAS  # bias corrections in double precision, as torch computes them
        step_size = self.dtype(self.lr / (1 - beta1 ** self.steps))
        correction2_inv = self.dtype(1 / math.sqrt(1 - beta2 ** self.steps))
        tables = [t.detach() for t in plan[:4]]
        arrays = [tables[0].numpy(), tables[1].numpy(), tables[2].view(-1).numpy(), tables[3].view(-1).numpy()]
        arrays += [t.numpy() for t in plan[4:8]]
        return _step(*arrays, plan[8], plan[9], self.kind, self.flat, self.grads, self.moments, self.squares,
                     step_size, correction2_inv, *self.hyper)
