"""Second-order internals against dense linear algebra: the Sherman-Morrison/Woodbury inverse equals
torch.linalg.inv of the (block-diagonal) empirical Fisher, and with B = layer size the block code picks
the same weights and makes the same OBS update as the dense formulas."""

import pytest
import torch
from torch import nn

from harness.pruning.criteria import SecondOrder
from harness.pruning.obs import BlockFisherInverse, block_saliency, obs_update, plan_groups, single_saliency
from harness.pruning.structures import Block, Unstructured

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def fisher(grads, damping):
    """The exact empirical Fisher lambda I + (1/m) sum g g^T."""
    m, d = grads.shape
    return damping * torch.eye(d, dtype=F64) + grads.T @ grads / m


def block_mask(d, b):
    idx = torch.arange(d) // b
    return (idx[:, None] == idx[None, :]).to(F64)


def test_sherman_morrison_equals_explicit_inverse():
    torch.manual_seed(0)
    grads = torch.randn(7, 12, dtype=F64)
    finv = BlockFisherInverse(12, block_size=12, damping=0.05, num_grads=7, dtype=F64)
    for g in grads:
        finv.add(g)
    assert finv.count == 7
    assert torch.allclose(finv.dense(), torch.linalg.inv(fisher(grads, 0.05)), rtol=1e-9, atol=1e-9)


def test_woodbury_batches_equal_one_gradient_at_a_time():
    torch.manual_seed(1)
    grads = torch.randn(11, 30, dtype=F64)
    one, batched = (BlockFisherInverse(30, block_size=10, damping=0.1, num_grads=11, dtype=F64) for _ in range(2))
    for g in grads:
        one.add(g)
    batched.add_batch(grads[:8])
    batched.add_batch(grads[8:])
    assert batched.count == 11
    assert torch.allclose(one.blocks, batched.blocks, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("d,b", [(12, 4), (10, 4), (9, 9)])
def test_blocks_equal_the_inverse_of_the_block_masked_fisher(d, b):
    # d = 10, B = 4: the last block holds 2 real weights and 2 padded entries that never matter
    torch.manual_seed(d)
    grads = torch.randn(6, d, dtype=F64)
    finv = BlockFisherInverse(d, block_size=b, damping=0.2, num_grads=6, dtype=F64)
    finv.add_batch(grads)
    expected = torch.linalg.inv(fisher(grads, 0.2) * block_mask(d, b))
    assert torch.allclose(finv.dense(), expected, rtol=1e-9, atol=1e-9)
    assert torch.allclose(finv.diagonal(), torch.diagonal(expected))


def test_changing_only_the_first_gradient_changes_the_inverse_and_the_saliency():
    torch.manual_seed(2)
    grads = torch.randn(5, 8, dtype=F64)
    w = torch.randn(8, dtype=F64)

    def build(gs):
        f = BlockFisherInverse(8, block_size=8, damping=0.1, num_grads=5, dtype=F64)
        for g in gs:
            f.add(g)
        return f

    base = build(grads)
    changed = grads.clone()
    changed[0] = torch.randn(8, dtype=F64) * 3
    other = build(changed)
    assert not torch.allclose(base.dense(), other.dense())
    assert not torch.allclose(single_saliency(w, base), single_saliency(w, other))
    # and both match the dense formula over all five gradients
    assert torch.allclose(other.dense(), torch.linalg.inv(fisher(changed, 0.1)), rtol=1e-9, atol=1e-9)


def dense_single(w, finv, k):
    """Dense OBS: remove the k lowest w^2 / (2 [F^-1]_jj) and sum their updates."""
    diag = torch.diagonal(finv)
    rho = w * w / (2 * diag)
    prune = torch.zeros_like(w, dtype=torch.bool)
    prune[torch.argsort(rho)[:k]] = True
    coeff = torch.where(prune, w / diag, torch.zeros_like(w))
    new = w - finv @ coeff
    new[prune] = 0.0
    return prune, new


def dense_blocks(w, finv, k, group=4):
    """Dense block OBS: rho_Q = 1/2 w_Q^T ([F^-1]_QQ)^-1 w_Q; remove the k lowest groups;
    dw = -sum_Q F^-1[:, Q] ([F^-1]_QQ)^-1 w_Q."""
    n = w.numel() // group
    rho, x = torch.zeros(n, dtype=F64), []
    for q in range(n):
        sl = slice(q * group, (q + 1) * group)
        xq = torch.linalg.inv(finv[sl, sl]) @ w[sl]
        rho[q] = 0.5 * w[sl] @ xq
        x.append(xq)
    drop = torch.argsort(rho)[:k]
    coeff = torch.zeros_like(w)
    prune = torch.zeros_like(w, dtype=torch.bool)
    for q in drop.tolist():
        sl = slice(q * group, (q + 1) * group)
        coeff[sl] = x[q]
        prune[sl] = True
    new = w - finv @ coeff
    new[prune] = 0.0
    return prune, new


def exact_case(seed=3, m=40):
    torch.manual_seed(seed)
    layer = nn.Linear(8, 4, bias=False).double()
    grads = torch.randn(m, 4, 8, dtype=F64)
    return layer, grads


@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.75])
def test_block_code_with_b_equal_layer_size_matches_dense_obs(sparsity):
    layer, grads = exact_case()
    w = layer.weight.detach().reshape(-1).clone()
    finv_dense = torch.linalg.inv(fisher(grads.reshape(len(grads), -1), 0.01))
    k = round(sparsity * 32)
    prune_ref, new_ref = dense_single(w, finv_dense, k)

    crit = SecondOrder({"l": layer}, block_size=32, damping=0.01, num_grads=len(grads), dtype=F64)
    for g in grads:
        crit.accumulate("l", g)
    masks = Unstructured().masks(crit, {"l": layer.weight}, sparsity, "per-layer")
    assert torch.equal(~masks["l"].reshape(-1), prune_ref)
    new = crit.update("l", layer.weight, masks["l"])
    assert torch.allclose(new.reshape(-1), new_ref, rtol=1e-9, atol=1e-12)
    assert int((new == 0).sum()) == k


@pytest.mark.parametrize("sparsity", [0.25, 0.5])
def test_block4_code_matches_dense_block_obs(sparsity):
    layer, grads = exact_case(seed=4)
    w = layer.weight.detach().reshape(-1).clone()
    finv_dense = torch.linalg.inv(fisher(grads.reshape(len(grads), -1), 0.01))
    k = round(sparsity * 8)
    prune_ref, new_ref = dense_blocks(w, finv_dense, k)

    crit = SecondOrder({"l": layer}, block_size=32, damping=0.01, num_grads=len(grads), dtype=F64)
    for g in grads:
        crit.accumulate("l", g)
    masks = Block().masks(crit, {"l": layer.weight}, sparsity, "per-layer")
    assert torch.equal(~masks["l"].reshape(-1), prune_ref)
    new = crit.update("l", layer.weight, masks["l"], group=4)
    assert torch.allclose(new.reshape(-1), new_ref, rtol=1e-9, atol=1e-12)


def test_block_saliency_of_a_lone_group_is_the_quadratic_form():
    finv = BlockFisherInverse(4, block_size=4, damping=1.0, num_grads=1, dtype=F64)
    finv.add(torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=F64))
    # F = I + g g^T, so ([F^-1]_QQ)^-1 = F and rho = 1/2 w^T F w = 1/2 (|w|^2 + (g.w)^2)
    w = torch.tensor([1.0, 2.0, 0.0, 3.0], dtype=F64)
    assert block_saliency(w, finv, 4).item() == pytest.approx(0.5 * (14 + 16))


def test_update_rejects_a_group_mask_that_splits_a_group():
    finv = BlockFisherInverse(8, block_size=8, damping=1.0, num_grads=1)
    finv.add(torch.ones(8))
    with pytest.raises(ValueError, match="not constant"):
        obs_update(torch.ones(8), finv, torch.tensor([True, False, False, False, True, True, True, True]), group=4)


def test_float32_default_agrees_with_float64():
    torch.manual_seed(5)
    grads = torch.randn(16, 200) * 1e-2
    w = torch.randn(200)
    f32 = BlockFisherInverse(200, block_size=50, damping=1e-7, num_grads=16)
    f64 = BlockFisherInverse(200, block_size=50, damping=1e-7, num_grads=16, dtype=F64)
    f32.add_batch(grads)
    f64.add_batch(grads.double())
    assert f32.blocks.dtype == torch.float32
    rel = (single_saliency(w, f32).double() - single_saliency(w.double(), f64)).abs() / single_saliency(w.double(), f64)
    assert rel.max() < 1e-3


def test_memory_budget_groups():
    # B = 10, fp32: a layer of n weights needs ceil(n / 10) * 10 * 10 * 4 bytes
    sizes = {"a": 100, "b": 100, "c": 250, "d": 10}  # 4000, 4000, 10000, 400 bytes
    assert plan_groups(sizes, block_size=10, budget_bytes=10_000) == [["a", "b"], ["c"], ["d"]]
    assert plan_groups(sizes, block_size=10, budget_bytes=10**9) == [["a", "b", "c", "d"]]
    with pytest.raises(ValueError, match="layer c needs"):
        plan_groups(sizes, block_size=10, budget_bytes=5_000)
    assert BlockFisherInverse.nbytes_for(105, 10) == 11 * 10 * 10 * 4
