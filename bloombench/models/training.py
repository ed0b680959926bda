"""The one training loop shared by every model, with its options and history.

A model supplies its network, its training data as tensors on the model's
device (one row per example) and a ``batch_loss(batch, generator)`` closure
that computes the loss of one minibatch; :func:`train` does everything else:
seeded shuffling, slicing into minibatches, optimizer construction, timing and
the NaN guard.

Optimizers (``optimizer=``):

``"adam"``
    ``torch.optim.Adam(weight_decay=l2)`` over all parameters, dense tables
    (Spotlight's setting, used by the anchors).
``"adam-sparse"``
    Embedding tables are built with ``sparse=True``; every parameter that
    receives a *sparse* gradient is optimised by :class:`LazyAdam`
    (``torch.optim.SparseAdam`` plus ``l2``: the gradient of
    ``l2/2 * ||row||^2`` is added to every row a batch looked up, which is
    what ``Adam(weight_decay=l2)`` adds to those rows), and the rest (biases,
    LSTM/CNN weights) by ``Adam(weight_decay=l2)``. So sparse gradients change
    the cost of a step, not the model: only rows a batch does not touch differ
    from ``"adam"`` (neither their weights nor their moments move: "lazy
    Adam").
``"adagrad"``, ``"sgd"``
    ``torch.optim.Adagrad`` / ``torch.optim.SGD`` with ``weight_decay=l2``,
    dense tables.

Which parameters are sparse is decided from the gradients of the first batch
(falling back to a module attribute ``sparse=True`` for parameters without a
gradient then), never from the type of the embedding layer.

Early stopping (``patience``) is a callback of the loop
(:class:`~bloombench.models.early_stopping.EarlyStopping`, wired in by
:meth:`bloombench.models.Model.fit`): a callback that returns true ends
training after that epoch.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from bloombench.checks import check_int, check_number

__all__ = [
    "OPTIMIZERS",
    "FitHistory",
    "FitOptions",
    "between_epochs",
    "EpochCallback",
    "LazyAdam",
    "build_optimizers",
    "resolve_device",
    "seeded_init",
    "train",
]

OPTIMIZERS = ("adam", "adam-sparse", "adagrad", "sgd")

BatchLoss = Callable[[tuple[torch.Tensor, ...], torch.Generator], torch.Tensor]
#: ``step(batch, generator) -> mean loss``: a batch's whole update in one call (see :func:`train`).
FusedStep = Callable[[tuple[torch.Tensor, ...], torch.Generator], "float | torch.Tensor"]
#: ``callback(epoch, history)`` after each epoch (``epoch`` counts from 0); a true return value stops training.
EpochCallback = Callable[[int, "FitHistory"], "bool | None"]


@dataclass
class FitHistory:
    """What happened during :func:`train`.

    Attributes
    ----------
    losses : list of float
        Mean minibatch loss of each epoch.
    seconds : list of float
        Wall-clock seconds of each epoch (CUDA work synchronised before reading the clock).
    epochs : int
        Number of completed epochs.
    best_epoch : int or None
        The epoch (1-based) whose weights the model ends with: the best on validation with early
        stopping, else the last one; None when no epoch ran (models that train nothing).
    validation : list of float
        The early-stopping metric on the validation data after each epoch (empty without early stopping).
    """

    losses: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    epochs: int = 0
    best_epoch: int | None = None
    validation: list[float] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """Sum of the epoch times."""
        return float(sum(self.seconds))


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``device`` into a usable ``torch.device``.

    ``"auto"`` picks CUDA when available, else CPU.

    Raises
    ------
    ValueError
        If the string is not a device, or CUDA is asked for but unavailable.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'cpu', 'cuda[:i]', 'auto' or a torch.device, got {device!r}"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested, but CUDA is not available")
    return resolved


@dataclass(frozen=True)
class FitOptions:
    """Validated arguments of a model's ``fit``; see the module docstring for ``optimizer``.

    Parameters
    ----------
    epochs : int
        Passes over the data (>= 1); with ``patience``, the most epochs.
    batch_size : int
        Examples per minibatch (>= 1).
    lr : float
        Learning rate (> 0).
    l2 : float
        Weight decay (>= 0).
    optimizer : str
        One of :data:`OPTIMIZERS`.
    device : str or torch.device
        Where to train; see :func:`resolve_device`.
    seed : int
        Seeds the initialisation, shuffling and negative sampling.
    progress : bool
        Show a tqdm bar per epoch.
    patience : int or None
        Early stopping: after each epoch the model is evaluated on validation data, training stops once
        ``patience`` epochs in a row did not improve on the best, and the best epoch's weights are
        restored (:meth:`bloombench.models.Model.fit`). None trains all ``epochs``.
    """

    # The one owner of the training defaults (a model kind overrides some with its ``fit_defaults``).
    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1e-2
    l2: float = 1e-6
    optimizer: str = "adam"
    device: str | torch.device = "cpu"
    seed: int = 0
    progress: bool = False
    patience: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        checked = {
            "epochs": check_int("epochs", self.epochs),
            "batch_size": check_int("batch_size", self.batch_size),
            "lr": check_number("lr", self.lr, low=0, low_open=True),
            "l2": check_number("l2", self.l2, low=0),
            "seed": check_int("seed", self.seed, 0),
            "progress": bool(self.progress),
            "device": resolve_device(self.device),
            "patience": None if self.patience is None else check_int("patience", self.patience),
        }
        for name, value in checked.items():  # frozen: store the normalised values this way
            object.__setattr__(self, name, value)

    @property
    def sparse(self) -> bool:
        """Whether embedding tables should be built with sparse gradients."""
        return self.optimizer == "adam-sparse"


def seeded_init(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    """Call ``build()`` under ``torch.manual_seed(seed)`` without touching the global RNG.

    Building on the CPU makes the initial weights identical for every device.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _split_sparse(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split trainable parameters into (sparse-gradient, dense-gradient) lists.

    Called after the first backward pass: a parameter is sparse if its gradient
    is; one without a gradient yet counts as sparse if its owning module says
    ``sparse = True``.
    """
    sparse, dense, seen = [], [], set()
    for module in net.modules():
        for param in module.parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:  # a shared table is listed once
                continue
            seen.add(id(param))
            if param.grad is not None:
                is_sparse = param.grad.is_sparse
            else:
                is_sparse = getattr(module, "sparse", False) is True
            (sparse if is_sparse else dense).append(param)
    return sparse, dense


def _fusable(params: Sequence[torch.Tensor]) -> bool:
    """Whether torch's fused (one-kernel) optimizer step applies: floating-point tensors on one CPU or CUDA
    device. It does the same update as the per-tensor loop in a fraction of the time (Adam on the four
    tables of an ML-100K factorization: 0.13 vs 0.39 ms a step on this project's CPU)."""
    devices = {p.device for p in params}
    return (bool(params) and len(devices) == 1 and next(iter(devices)).type in ("cpu", "cuda")
            and all(p.dtype.is_floating_point for p in params))


class LazyAdam(torch.optim.SparseAdam):
    """``torch.optim.SparseAdam`` with ``weight_decay``: Adam's L2 term on the rows a batch looked up.

    ``SparseAdam`` takes no weight decay, so a model trained with sparse gradients would be a less
    regularised model than the same one trained with ``Adam(weight_decay=l2)``. Before each step this adds
    ``weight_decay * row`` (the gradient of ``weight_decay/2 * ||row||^2``) to the sparse gradient of every
    row present in it, once per row however often the batch looked it up: exactly what
    ``Adam(weight_decay=...)`` adds to those rows' gradients. Rows a batch did not look up stay untouched,
    as ``SparseAdam`` leaves them.

    Parameters
    ----------
    params : iterable
        Parameters with sparse gradients.
    lr : float
        Learning rate.
    weight_decay : float
        The L2 coefficient (``FitOptions.l2``).
    """

    def __init__(self, params: Any, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr=lr)
        weight_decay = check_number("weight_decay", weight_decay, low=0)
        for group in self.param_groups:
            group.setdefault("weight_decay", weight_decay)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        for group in self.param_groups:
            decay = group["weight_decay"]
            if not decay:
                continue
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad.coalesce()  # one entry per looked-up row (SparseAdam coalesces anyway)
                rows = grad.indices()[0]
                param.grad = torch.sparse_coo_tensor(grad.indices(), grad.values() + decay * param[rows],
                                                     grad.shape, is_coalesced=True, check_invariants=False)
        return super().step(closure)


def build_optimizers(net: nn.Module, options: FitOptions) -> list[torch.optim.Optimizer]:
    """The optimizers of ``options.optimizer`` over the trainable parameters of ``net`` (fused where torch
    can); ``"adam-sparse"`` needs the gradients of one backward pass to tell sparse from dense."""
    lr, l2 = options.lr, options.l2
    params = [p for p in net.parameters() if p.requires_grad]
    dense_kind = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}
    if options.optimizer in dense_kind:
        return [dense_kind[options.optimizer](params, lr=lr, weight_decay=l2, fused=_fusable(params) or None)]
    sparse, dense = _split_sparse(net)
    if not sparse:
        raise ValueError(
            "optimizer='adam-sparse' but no parameter received a sparse gradient: the "
            "embedding factory must honour sparse=True"
        )
    optimizers: list[torch.optim.Optimizer] = [LazyAdam(sparse, lr=lr, weight_decay=l2)]
    if dense:
        optimizers.append(torch.optim.Adam(dense, lr=lr, weight_decay=l2, fused=_fusable(dense) or None))
    return optimizers


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@functools.cache
def _import_optimizer_machinery() -> None:
    """Construct a throwaway optimizer once per process: the first construction imports torch._dynamo
    (about 2.5 s on the project's CPU), which would otherwise be timed as part of the first epoch."""
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])


# ---- per-epoch hook: modules that ask for it (e.g. CCE's re-clustering) --------------------------------
def between_epochs(net: nn.Module) -> None:
    """Call ``on_epoch_end()`` of every submodule of ``net`` that defines it (each module once, in
    ``net.modules()`` order). :func:`train` calls this between two epochs, inside the second one's timing:
    never after the last epoch, so the model it returns is the one trained last."""
    for module in net.modules():
        hook = getattr(module, "on_epoch_end", None)
        if callable(hook):
            hook()


def train(
    net: nn.Module,
    data: Sequence[torch.Tensor],
    batch_loss: BatchLoss,
    options: FitOptions,
    *,
    callback: EpochCallback | None = None,
    desc: str = "fit",
    step: FusedStep | None = None,
) -> FitHistory:
    """Train ``net`` (already on ``options.device``) by minibatch gradient descent.

    Each epoch draws one seeded permutation on the device, gathers every data
    tensor in that order once, and slices the results into minibatches;
    ``batch_loss(batch, generator)`` returns the scalar loss of ``batch`` (a
    tuple with one slice per data tensor), drawing any negatives from
    ``generator``: the same seeded generator, so runs are reproducible.
    Between two epochs, :func:`between_epochs` calls the ``on_epoch_end()``
    of every submodule that has one.

    Parameters
    ----------
    net : torch.nn.Module
        Network whose parameters are optimised.
    data : sequence of torch.Tensor
        Training tensors on the device, all with the same first dimension.
    batch_loss : callable
        ``batch_loss(batch, generator) -> loss``.
    options : FitOptions
        Epochs, batch size, optimizer, seed, ...
    callback : callable, optional
        ``callback(epoch, history)`` after each epoch (e.g. to evaluate; its time is not part of the
        epoch's seconds); returning true stops training there (early stopping).
    desc : str
        Label of the progress bar.
    step : callable, optional
        ``step(batch, generator) -> loss``: one compiled call that does what ``batch_loss``, the backward
        pass and the options' optimizer would do to ``batch`` (e.g.
        :class:`~bloombench.models.fused_adam.FusedAdamStep`); given, it replaces them for every batch.

    Returns
    -------
    FitHistory

    Raises
    ------
    FloatingPointError
        If a minibatch loss is NaN or infinite (checked at the end of each
        epoch, to avoid a device sync per batch; the first bad batch is named).
    """
    if not data:
        raise ValueError("data must hold at least one tensor")
    n_examples = int(data[0].shape[0])
    if any(int(t.shape[0]) != n_examples for t in data):
        raise ValueError(f"data tensors must share their first dimension, got {[t.shape[0] for t in data]}")
    if n_examples < 1:
        raise ValueError("cannot fit on an empty data set")
    _import_optimizer_machinery()
    device = options.device
    generator = torch.Generator(device=device)
    generator.manual_seed(options.seed)
    size = options.batch_size
    n_batches = -(-n_examples // size)
    history = FitHistory()
    optimizers: list[torch.optim.Optimizer] | None = None
    for epoch in range(options.epochs):
        net.train()  # every epoch: a callback may have evaluated (and so switched to eval mode) in between
        _synchronize(device)
        start = time.perf_counter()
        if epoch:
            between_epochs(net)
        order = torch.randperm(n_examples, generator=generator, device=device)
        shuffled = [t[order] for t in data]
        batch_losses = torch.empty(n_batches, device=device)
        bar = tqdm(
            range(n_batches),
            desc=f"{desc} epoch {epoch + 1}/{options.epochs}",
            disable=not options.progress,
            leave=False,
        )
        for batch in bar:
            chunk = tuple(t[batch * size : (batch + 1) * size] for t in shuffled)
            if step is not None:
                batch_losses[batch] = step(chunk, generator)
                continue
            loss = batch_loss(chunk, generator)
            net.zero_grad(set_to_none=True)
            loss.backward()
            if optimizers is None:  # built now: the sparse/dense split needs real gradients
                optimizers = build_optimizers(net, options)
            for optimizer in optimizers:
                optimizer.step()
            batch_losses[batch] = loss.detach()
        losses = batch_losses.cpu()
        _synchronize(device)
        seconds = time.perf_counter() - start
        bar.close()
        bad = torch.nonzero(~torch.isfinite(losses)).flatten()
        if len(bad):
            first = int(bad[0])
            raise FloatingPointError(
                f"non-finite loss {float(losses[first])} at epoch {epoch + 1}, batch {first + 1} "
                f"of {n_batches} (lr={options.lr}, optimizer={options.optimizer!r}); "
                "try a smaller learning rate"
            )
        history.losses.append(float(losses.mean()))
        history.seconds.append(seconds)
        history.epochs += 1
        if options.progress:
            tqdm.write(f"{desc} epoch {epoch + 1}: loss {history.losses[-1]:.5f} ({seconds:.2f} s)")
        if callback is not None and callback(epoch, history):
            break
    return history
