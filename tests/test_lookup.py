"""The shared row lookups: the scatter backward gives torch's own gradients, padding semantics included."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bloombench.layers import BloomEmbedding, FullEmbedding, HashEmbedding, QREmbedding
from bloombench.layers import compiled, lookup
from bloombench.layers.lookup import bag_lookup, row_lookup

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA")])]


@pytest.fixture(autouse=True)
def scatter_on_small_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' lookups are tiny: take the scatter path anyway, so that it is what they check."""
    monkeypatch.setattr(lookup, "SCATTER_MIN_ENTRIES", 1)


def weights_and_grad(rows: int = 50, dim: int = 6, n: int = 40, seed: int = 0,
                     device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(rows, dim, generator=generator).to(device)
    grad = torch.randn(n, dim, generator=generator).to(device)
    return weight, grad, generator


def grad_of(fn, weight: torch.Tensor, grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = weight.clone().requires_grad_(True)
    out = fn(w)
    out.backward(grad_out.view_as(out))
    return out.detach(), w.grad


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("padding_idx", [None, 3])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("index_dtype", [torch.int64, torch.int32])
def test_bag_lookup_matches_embedding_bag(device: str, mode: str, padding_idx: int | None, k: int,
                                          index_dtype: torch.dtype) -> None:
    weight, grad_out, generator = weights_and_grad(device=device)
    bags = torch.randint(0, 8, (40, k), generator=generator)  # few rows: many repeats within and across bags
    if padding_idx is not None:
        bags[::3, 0] = padding_idx
        bags[5] = padding_idx  # a bag of padding only: a zero output, no gradient
    bags = bags.to(device=device, dtype=index_dtype)
    expected = grad_of(lambda w: F.embedding_bag(bags, w, mode=mode, padding_idx=padding_idx), weight, grad_out)
    got = grad_of(lambda w: bag_lookup(w, bags, mode=mode, padding_idx=padding_idx), weight, grad_out)
    torch.testing.assert_close(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1])
    if padding_idx is not None:
        assert torch.all(got[1][padding_idx] == 0)
        assert torch.all(got[0][5] == 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_weighted_bags_give_torchs_gradients_for_rows_and_weights(device: str, padding_idx: int | None) -> None:
    weight, grad_out, generator = weights_and_grad(device=device)
    bags = torch.randint(0, 8, (40, 3), generator=generator)
    if padding_idx is not None:
        bags[::4, 1] = padding_idx
    bags = bags.to(device)
    p = torch.randn(40, 3, generator=generator).to(device)

    def grads(lookup) -> tuple[torch.Tensor, ...]:
        w, q = weight.clone().requires_grad_(True), p.clone().requires_grad_(True)
        out = lookup(bags, w, mode="sum", padding_idx=padding_idx, per_sample_weights=q)
        out.backward(grad_out)
        return out.detach(), w.grad, q.grad

    expected = grads(F.embedding_bag)
    got = grads(lambda b, w, **kw: bag_lookup(w, b, **kw))
    for g, e, what in zip(got, expected, ("output", "weight grad", "per-sample-weight grad"), strict=True):
        torch.testing.assert_close(g, e, msg=what)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("padding_idx", [None, 2])
@pytest.mark.parametrize("shape", [(40,), (5, 8), (2, 4, 5)])
def test_row_lookup_matches_embedding(device: str, padding_idx: int | None, shape: tuple[int, ...]) -> None:
    weight, grad_out, generator = weights_and_grad(device=device)
    ids = torch.randint(0, 10, shape, generator=generator).to(device)
    grad_out = grad_out.view(*shape, -1)
    expected = grad_of(lambda w: F.embedding(ids, w, padding_idx=padding_idx), weight, grad_out)
    got = grad_of(lambda w: row_lookup(w, ids, padding_idx=padding_idx), weight, grad_out)
    assert got[0].shape == (*shape, weight.shape[1])
    torch.testing.assert_close(got[0], expected[0])
    torch.testing.assert_close(got[1], expected[1])


def _backward_nodes(out: torch.Tensor) -> set[str]:
    """Names of every autograd node behind ``out``."""
    names, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and type(node).__name__ not in names:
            names.add(type(node).__name__)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return names


def test_cpu_training_uses_the_scatter_backward_and_other_cases_use_torch(monkeypatch) -> None:
    weight, _, generator = weights_and_grad()
    bags = torch.randint(0, 50, (40, 4), generator=generator)
    w = weight.clone().requires_grad_(True)
    # Without a padding row, a large lookup (the fixture makes every lookup large): the compiled kernels.
    if compiled.available():
        for out in (bag_lookup(w, bags, mode="mean"), row_lookup(w, bags[:, 0])):
            assert "_CompiledBagBackward" in _backward_nodes(out)
    # Per-sample weights, or the kernels off: index_select, whose backward is torch's C++ scatter.
    cases = [lambda: bag_lookup(w, bags, mode="sum", per_sample_weights=torch.ones(40, 4))]
    monkeypatch.setenv(compiled.ENV_VAR, "0")
    cases += [lambda: bag_lookup(w, bags, mode="mean"), lambda: row_lookup(w, bags[:, 0])]
    for case in cases:
        out = case()
        assert "IndexSelectBackward0" in _backward_nodes(out)
        assert not {"EmbeddingBackward0", "EmbeddingBagBackward0", "_ScatterLookupBackward",
                    "_CompiledBagBackward"} & _backward_nodes(out)
    monkeypatch.delenv(compiled.ENV_VAR)
    # With one: the Python scatter backward, which skips the padding row.
    assert type(bag_lookup(w, bags, mode="mean", padding_idx=3).grad_fn).__name__ == "_ScatterLookupBackward"
    view = row_lookup(w, bags[:, 0], padding_idx=3).grad_fn  # the lookup, then a view to the ids' shape
    assert type(view.next_functions[0][0]).__name__ == "_ScatterLookupBackward"
    # Sparse gradients are torch's own (SparseAdam needs them); without autograd nothing is recorded.
    out = bag_lookup(w, bags, mode="sum", sparse=True)
    out.sum().backward()
    assert w.grad.is_sparse
    with torch.no_grad():
        assert bag_lookup(w, bags, mode="mean").grad_fn is None
    assert row_lookup(weight, bags[:, 0]).grad_fn is None


def test_small_lookups_use_torchs_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup, "SCATTER_MIN_ENTRIES", 160)
    weight = torch.randn(50, 6, requires_grad=True)
    small, large = torch.randint(0, 50, (39, 4)), torch.randint(0, 50, (40, 4))
    assert type(bag_lookup(weight, small, mode="sum", padding_idx=3).grad_fn).__name__ == "EmbeddingBagBackward0"
    assert type(bag_lookup(weight, large, mode="sum", padding_idx=3).grad_fn).__name__ == "_ScatterLookupBackward"


def test_bag_lookup_rejects_bad_mode_and_shape() -> None:
    weight, _, _ = weights_and_grad()
    with pytest.raises(ValueError, match=r"mode must be one of \('sum', 'mean'\), got 'max'"):
        bag_lookup(weight, torch.zeros(4, 2, dtype=torch.int64), mode="max")
    with pytest.raises(ValueError, match=r"bags must be 2-D \(n, k\), got shape \(4,\)"):
        bag_lookup(weight, torch.zeros(4, dtype=torch.int64), mode="sum")
    with pytest.raises(ValueError, match=r"per_sample_weights need mode='sum', got mode='mean'"):
        bag_lookup(weight, torch.zeros(4, 2, dtype=torch.int64), mode="mean", per_sample_weights=torch.ones(4, 2))


@pytest.mark.parametrize("make", [
    lambda: BloomEmbedding(200, 8, compression_ratio=0.2, num_hashes=3, padding_idx=0, init_seed=1),
    lambda: BloomEmbedding(200, 8, compression_ratio=0.2, num_hashes=3, index="on_the_fly", init_seed=1),
    lambda: BloomEmbedding.spotlight(200, 8, init_seed=1),
    lambda: FullEmbedding(200, 8, padding_idx=0, init_seed=1),
    lambda: QREmbedding(200, 8, compression_ratio=0.2, init_seed=1),
    lambda: HashEmbedding(200, 8, compression_ratio=0.2, padding_idx=0, init_seed=1),
], ids=["bloom-mean-padding", "bloom-on-the-fly", "bloom-spotlight-sum", "full-padding", "qr", "hash-embedding"])
def test_layers_train_as_with_torchs_dense_backward(make, monkeypatch: pytest.MonkeyPatch) -> None:
    """A layer's weight gradient is the same through the scatter backward as through torch's kernels."""
    ids = torch.randint(0, 200, (16, 7), generator=torch.Generator().manual_seed(3))
    grads = []
    for scatter in (True, False):
        monkeypatch.setattr(lookup, "_use_scatter_backward", lambda weight, rows, sparse, on=scatter: on and not sparse)
        layer = make()
        (layer(ids) ** 2).sum().backward()
        grads.append({name: p.grad for name, p in layer.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], msg=name)


@pytest.mark.parametrize("padding_idx", [None, 3])
@pytest.mark.parametrize("mode", ["sum", "mean", None])
def test_compiled_kernels_give_the_torch_paths_results(padding_idx, mode, monkeypatch) -> None:
    """The compiled gather/scatter against the pure-torch path (``BLOOMBENCH_KERNELS=0``), int32 rows too."""
    if not compiled.available():
        pytest.skip("numba is not importable")
    weight, _, generator = weights_and_grad(rows=50, dim=6, n=40)
    for dtype in (torch.int64, torch.int32):
        bags = torch.randint(0, 50, (40, 4), generator=generator).to(dtype)
        grad = torch.randn(40, 6, generator=generator)
        results = {}
        for flag in ("1", "0"):
            monkeypatch.setenv(compiled.ENV_VAR, flag)
            if mode is None:
                fn = lambda w: row_lookup(w, bags[:, 0], padding_idx=padding_idx)  # noqa: E731
            else:
                fn = lambda w: bag_lookup(w, bags, mode=mode, padding_idx=padding_idx)  # noqa: E731
            results[flag] = grad_of(fn, weight, grad)
        torch.testing.assert_close(results["1"][0], results["0"][0])
        torch.testing.assert_close(results["1"][1], results["0"][1])
