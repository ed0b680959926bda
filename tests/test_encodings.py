"""Tests of bloombench.encodings: Bloom encode/recovery, the alternatives, registry, bytes, devices, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from bloombench.data import Interactions
from bloombench.encodings import (
    Bags,
    BloomEncoding,
    CBEEncoding,
    ECOCEncoding,
    IdentityEncoding,
    available_encodings,
    cooccurrence,
    history_matrix,
    make_encoding,
    ppmi_matrix,
    split_histories,
)
from bloombench.encodings import cca, linalg
from bloombench.layers import BloomEmbedding

D = 120


def _clusters(num_users: int = 300, num_items: int = D, size: int = 8, seed: int = 0) -> Interactions:
    """Two planted item clusters: each user takes ``size`` random items from one half of the catalogue."""
    rng = np.random.default_rng(seed)
    half = num_items // 2
    users, items = [], []
    for user in range(num_users):
        start = half * (user % 2)
        users += [user] * size
        items += list(start + rng.choice(half, size, replace=False))
    return Interactions(np.array(users), np.array(items), num_users=num_users, num_items=num_items)


def _fitted(name: str, m: int = 24, **params: object):
    kwargs = {} if name == "identity" else {"m": m}
    return make_encoding(name, D, **kwargs, **params).fit(_clusters())


# ----------------------------------------------------------------------------- bags


def test_bags_layout_rows_lengths_dense_and_gather():
    bags = Bags.from_lists([[3, 1], [], [2, 2]])
    assert bags.offsets.tolist() == [0, 2, 2] and bags.num_bags == 3
    assert bags.lengths().tolist() == [2, 0, 2] and bags.rows().tolist() == [0, 0, 2, 2]
    assert bags.to_dense(4).tolist() == [[0, 1, 0, 1], [0, 0, 0, 0], [0, 0, 2, 0]]
    csr = sp.csr_matrix(np.array([[0, 1, 1], [0, 0, 0], [1, 0, 1]]))
    gathered = Bags.gather(torch.as_tensor(csr.indptr, dtype=torch.int64),
                           torch.as_tensor(csr.indices, dtype=torch.int64), torch.tensor([2, 1, 0]))
    assert gathered.to_dense(3).tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 1]]
    dense = Bags.dense(torch.tensor([[1.0, -2.0], [0.5, 0.0]]))
    assert torch.equal(dense.to_dense(2), dense.matrix) and dense.offsets.tolist() == [0, 2]


# ----------------------------------------------------------------------------- Bloom


@pytest.mark.parametrize("hash_name", ["murmur3", "xxh64"])
def test_bloom_bits_agree_with_the_bloom_layer(hash_name):
    encoding = BloomEncoding(D, 30, num_hashes=3, hash=hash_name, seed=7)
    layer = BloomEmbedding(D, 4, num_buckets=30, num_hashes=3, hash=hash_name, seed=7)
    assert torch.equal(encoding.all_bits(), layer.index_map.table.long())
    assert torch.equal(make_encoding("hashing_trick", D, m=30, seed=7).all_bits(),
                       BloomEncoding(D, 30, num_hashes=1, seed=7).all_bits())
    on_the_fly = BloomEncoding(D, 30, num_hashes=3, hash=hash_name, seed=7, index="on_the_fly")
    assert torch.equal(on_the_fly.all_bits(), encoding.all_bits())


def test_bloom_input_is_the_or_of_the_items_bits_and_target_its_normalisation():
    encoding = BloomEncoding(D, 16, num_hashes=4, seed=1)
    bits = encoding.all_bits()
    sets = [[0, 5, 9], [7], [], [3, 3]]
    expected = torch.zeros(len(sets), 16)
    for row, items in enumerate(sets):
        for item in items:
            expected[row, bits[item]] = 1.0
    encoded = encoding.encode_input(Bags.from_lists(sets))
    assert encoded.weights is None
    assert torch.equal(encoded.to_dense(16), expected)  # binary: shared bits are set once
    target = encoding.target(Bags.from_lists(sets))
    assert torch.allclose(target, expected / expected.sum(1, keepdim=True).clamp_min(1))
    assert torch.allclose(target.sum(1), torch.tensor([1.0, 1.0, 0.0, 1.0]))
    # A 1-d tensor is one item per set.
    assert torch.equal(encoding.target(torch.tensor([7])), target[1:2])


def test_bloom_recovery_is_the_sum_of_log_probabilities_over_the_k_bits():
    encoding = BloomEncoding(D, 20, num_hashes=3, seed=2)
    bits = encoding.all_bits().tolist()
    log_probs = torch.log_softmax(torch.randn(2, 20, generator=torch.Generator().manual_seed(0)), dim=1)
    scores = encoding.recover(log_probs)
    assert scores.shape == (2, D)
    for row in range(2):
        for item in (0, 17, D - 1):
            by_hand = sum(float(log_probs[row, bits[item][j]]) for j in range(3))
            assert float(scores[row, item]) == pytest.approx(by_hand, abs=1e-5)
    logits = torch.randn(2, 20)
    assert torch.allclose(encoding.decode(logits), encoding.recover(torch.log_softmax(logits, 1)))


def test_an_items_own_score_is_the_max_when_its_bits_are_set():
    encoding = BloomEncoding(D, 40, num_hashes=3, seed=3)
    bits = encoding.all_bits()
    for item in (4, 50, 99):
        logits = torch.full((1, 40), -10.0)
        logits[0, bits[item]] = 5.0  # the probability mass sits on the item's bits
        scores = encoding.decode(logits)[0]
        assert float(scores[item]) == float(scores.max())
        # Only items whose bits all lie in the item's bits tie with it.
        ties = set(torch.nonzero(scores == scores.max()).flatten().tolist())
        inside = {j for j in range(D) if set(bits[j].tolist()) <= set(bits[item].tolist())}
        assert ties == inside


def test_identity_is_one_hot_with_m_equal_d():
    encoding = make_encoding("identity", D)
    assert encoding.num_bits == D and encoding.memory_bytes() == 0
    bags = Bags.from_lists([[5, 2], [7]])
    assert torch.equal(encoding.encode_input(bags).to_dense(D), bags.to_dense(D))
    logits = torch.randn(2, D)
    assert torch.allclose(encoding.decode(logits), torch.log_softmax(logits, 1))
    target = encoding.target(bags)
    assert target[0, 5] == target[0, 2] == 0.5 and target[1, 7] == 1.0 and target.sum() == 2.0
    with pytest.raises(ValueError, match="num_bits = num_items"):
        IdentityEncoding(D, 10)


# ----------------------------------------------------------------------------- ECOC


def test_ecoc_codewords_are_distinct_seeded_and_decode_clean_codes():
    encoding = ECOCEncoding(D, 12, seed=4)
    codes = encoding.codes.float()
    assert len(torch.unique(codes, dim=0)) == D
    assert torch.equal(ECOCEncoding(D, 12, seed=4).codes, encoding.codes)
    assert not torch.equal(ECOCEncoding(D, 12, seed=5).codes, encoding.codes)
    clean = 6.0 * (2 * codes - 1)  # confident logits spelling each item's own codeword
    assert torch.equal(encoding.decode(clean).argmax(1), torch.arange(D))


def test_ecoc_decoding_is_the_bernoulli_log_likelihood_and_targets_are_mean_codewords():
    encoding = ECOCEncoding(D, 10, seed=0, density=0.3)
    logits = torch.randn(3, 10)
    codes = encoding.codes.float()
    by_hand = (F.logsigmoid(logits)[:, None, :] * codes + F.logsigmoid(-logits)[:, None, :] * (1 - codes)).sum(-1)
    assert torch.allclose(encoding.decode(logits), by_hand, atol=1e-4)
    target = encoding.target(Bags.from_lists([[1, 2], [3]]))
    assert torch.allclose(target[0], (codes[1] + codes[2]) / 2) and torch.equal(target[1], codes[3])
    encoded = encoding.encode_input(Bags.from_lists([[1, 2]]))
    assert torch.equal(encoded.matrix[0], (2 * codes[1] - 1) + (2 * codes[2] - 1))
    with pytest.raises(ValueError, match="2\\*\\*num_bits >= num_items"):
        ECOCEncoding(D, 6)


# ----------------------------------------------------------------------------- PMI, CCA, CBE


def test_history_helpers():
    data = Interactions(np.array([0, 0, 0, 1, 1]), np.array([0, 1, 1, 1, 2]), num_users=2, num_items=3)
    matrix = history_matrix(data, 3)
    assert matrix.toarray().tolist() == [[1, 1, 0], [0, 1, 1]]  # the repeated pair counts once
    assert cooccurrence(matrix).toarray().tolist() == [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    inputs, targets = split_histories(history_matrix(_clusters(), D), 0.5, seed=0)
    assert (inputs + targets - history_matrix(_clusters(), D)).nnz == 0 and 0 < targets.nnz < inputs.nnz * 2
    with pytest.raises(ValueError, match="num_items=4"):
        history_matrix(data, 4)
    with pytest.raises(TypeError, match="histories must be"):
        history_matrix([[0, 1]], 3)


def test_ppmi_by_hand():
    data = Interactions(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 1, 2]), num_users=3, num_items=3)
    ppmi = ppmi_matrix(history_matrix(data, 3)).toarray()
    # counts: c01 = 2, c12 = 1; marginals 2, 3, 1; total 6
    assert ppmi[0, 1] == pytest.approx(np.log(2 * 6 / (2 * 3)))
    assert ppmi[1, 2] == pytest.approx(max(0.0, np.log(1 * 6 / (3 * 1))))
    assert ppmi[0, 2] == 0 and np.allclose(ppmi, ppmi.T)


@pytest.mark.parametrize("name", ["pmi", "cca"])
def test_pmi_and_cca_codes_learn_planted_clusters(name):
    encoding = _fitted(name, m=8)
    tables = [encoding.codes] + ([] if encoding.shared else [encoding.output_codes])
    assert all(t.shape == (D, 8) and t.dtype == torch.float32 for t in tables)
    half = D // 2
    # A history from cluster A, decoded through codes: cluster A outscores cluster B.
    scores = encoding.decode(encoding.target(torch.tensor([3])))[0]
    assert scores[:half].mean() > scores[half:].mean() + 1e-3
    inputs = encoding.encode_input(Bags.from_lists([[1, 2, 3], [half + 1, half + 2]])).matrix
    cosine = F.cosine_similarity(inputs[0], inputs[1], dim=0)
    same = F.cosine_similarity(inputs[0], encoding.encode_input(Bags.from_lists([[4, 5]])).matrix[0], dim=0)
    assert same > cosine
    linalg._cache.clear()  # refit from scratch, not from the memoised decomposition
    assert _fitted(name, m=8).codes.equal(encoding.codes)  # deterministic fit


@pytest.mark.parametrize(("name", "decompositions"), [("pmi", 1), ("cca", 3)])
def test_a_sweep_over_m_decomposes_once(monkeypatch, name, decompositions):
    linalg._cache.clear()
    calls = []

    def counting(matrix):
        calls.append(matrix.shape)
        return real(matrix)

    real = linalg.symmetric_eig
    monkeypatch.setattr(linalg, "symmetric_eig", counting)
    monkeypatch.setattr(cca, "symmetric_eig", counting)
    small, large = _fitted(name, m=8), _fitted(name, m=16)
    assert len(calls) == decompositions
    assert torch.equal(large.codes[:, :8], small.codes)
    _fitted(name, m=8, **({"seed": 1} if name == "cca" else {"weighting": 1.0}))
    assert len(calls) == decompositions * (2 if name == "cca" else 1)  # PMI's weighting needs no new one


def test_cbe_steers_co_occurring_items_onto_shared_bits():
    data = _clusters()
    bloom = BloomEncoding(D, 30, num_hashes=4, seed=0).all_bits()
    cbe = CBEEncoding(D, 30, num_hashes=4, seed=0).fit(data).all_bits()
    signatures = {frozenset(row) for row in cbe.tolist()}
    assert len(signatures) == D and all(len(set(row)) == 4 for row in cbe.tolist())
    half = D // 2

    def shared_within_clusters(bits: torch.Tensor) -> float:
        sets = [set(row) for row in bits.tolist()]
        same = [len(sets[i] & sets[j]) for i in range(D) for j in range(i) if (i < half) == (j < half)]
        return float(np.mean(same))

    assert shared_within_clusters(cbe) > 2 * shared_within_clusters(bloom)
    # Without shared bits, CBE is Bloom with distinct bits per item.
    plain = CBEEncoding(D, 30, num_hashes=4, seed=0, num_shared=0).fit(data).all_bits()
    distinct = [len(set(row)) == 4 for row in bloom.tolist()]
    assert torch.equal(plain[distinct], bloom[distinct])


def test_data_dependent_encodings_refuse_use_before_fit():
    for name in ("pmi", "cca", "cbe"):
        encoding = make_encoding(name, D, m=10)
        assert not encoding.fitted and "not fitted" in repr(encoding)
        with pytest.raises(RuntimeError, match="call fit"):
            encoding.decode(torch.zeros(1, 10))
        with pytest.raises(ValueError, match="empty"):
            encoding.fit(sp.csr_matrix((3, D)))


# ----------------------------------------------------------------------------- bytes, devices, state


def test_memory_accounting():
    assert make_encoding("bloom", D, m=30, num_hashes=3).memory_bytes() == D * 3 * 4  # int32 table
    assert make_encoding("bloom", D, m=30, num_hashes=3, index="on_the_fly").memory_bytes() == 0
    assert make_encoding("ecoc", D, m=30).memory_bytes() == D * 30  # one byte per (item, bit)
    assert _fitted("pmi", m=8).memory_bytes() == D * 8 * 4  # one shared table
    assert _fitted("cca", m=8).memory_bytes() == 2 * D * 8 * 4
    assert _fitted("cbe", m=30).memory_bytes() == D * 4 * 4


@pytest.mark.parametrize("name", available_encodings())
def test_state_dict_round_trip_restores_codes_and_fitted_state(name):
    encoding = _fitted(name)
    kwargs = {} if name == "identity" else {"m": 24}
    fresh = make_encoding(name, D, **kwargs)
    fresh.load_state_dict(encoding.state_dict())
    assert fresh.fitted
    logits = torch.randn(3, encoding.num_bits)
    assert torch.allclose(fresh.decode(logits), encoding.decode(logits))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", available_encodings())
def test_encodings_move_to_cuda_and_agree_with_cpu(name):
    encoding = _fitted(name)
    bags = Bags.from_lists([[1, 2, 3], [4]])
    logits = torch.randn(2, encoding.num_bits)
    expected = encoding.decode(logits), encoding.target(bags), encoding.encode_input(bags).to_dense(encoding.num_bits)
    encoding.to("cuda")
    cuda_bags = Bags(bags.indices.cuda(), bags.offsets.cuda())
    got = (encoding.decode(logits.cuda()), encoding.target(cuda_bags),
           encoding.encode_input(cuda_bags).to_dense(encoding.num_bits))
    for want, have in zip(expected, got):
        assert have.device.type == "cuda" and torch.allclose(have.cpu(), want, atol=1e-5)


# ----------------------------------------------------------------------------- registry and errors


def test_registry_names_ratio_and_bad_arguments():
    assert available_encodings() == ["identity", "bloom", "hashing_trick", "cbe", "ecoc", "pmi", "cca"]
    assert make_encoding("bloom", 1000, compression_ratio=0.2).num_bits == 200
    with pytest.raises(ValueError, match="encoding must be one of"):
        make_encoding("bloomier", D, m=10)
    with pytest.raises(TypeError, match="unknown argument.*'num_hashes'"):
        make_encoding("ecoc", D, m=10, num_hashes=3)
    with pytest.raises(ValueError, match="needs m"):
        make_encoding("bloom", D)
    with pytest.raises(ValueError, match="at most one of"):
        make_encoding("bloom", D, m=10, compression_ratio=0.1)
    with pytest.raises(ValueError, match="compression_ratio must be a number in \\(0, 1\\]"):
        make_encoding("bloom", D, compression_ratio=1.5)
    with pytest.raises(ValueError, match="num_bits must be in \\[1, num_items=120\\]"):
        make_encoding("bloom", D, m=200)
    with pytest.raises(ValueError, match="num_hashes must be in \\[1, num_bits=3\\]"):
        BloomEncoding(D, 3, num_hashes=4)
    with pytest.raises(ValueError, match="num_shared must be an int in \\[0, num_hashes - 1 = 3\\]"):
        CBEEncoding(D, 30, num_hashes=4, num_shared=4)
    with pytest.raises(ValueError, match="density must be a number in \\(0, 1\\)"):
        ECOCEncoding(D, 30, density=1.0)
    with pytest.raises(ValueError, match="similarity must be one of"):
        make_encoding("pmi", D, m=10, similarity="euclid")


def test_bad_items_and_outputs_are_refused():
    encoding = BloomEncoding(D, 20)
    with pytest.raises(ValueError, match=r"items must lie in \[0, num_items=120\); got min 0, max 120"):
        encoding.encode_input(torch.tensor([0, 120]))
    with pytest.raises(TypeError, match="integer item ids"):
        encoding.target(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="1-d tensor"):
        encoding.target(torch.tensor([[1]]))
    with pytest.raises(ValueError, match=r"outputs must be a \(n, num_bits=20\) tensor, got \(2, 21\)"):
        encoding.decode(torch.zeros(2, 21))
