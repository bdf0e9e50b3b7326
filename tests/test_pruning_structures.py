"""Structures: exact masks for unstructured (global and per layer), block4 and 2:4 on hand-made scores."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.foundation.errors import HarnessError
from harness.pruning.criteria import Magnitude, ScoreTable
from harness.pruning.masks import from_rows, to_rows
from harness.pruning.structures import NM, Block, Unstructured, lowest_k, make_structure

pytestmark = pytest.mark.usefixtures("torch_one_thread")


T, F = True, False


def test_lowest_k_is_exact_and_breaks_ties_by_position():
    assert lowest_k(torch.tensor([1.0, 1.0, 1.0, 0.0]), 2).tolist() == [T, F, F, T]
    assert lowest_k(torch.tensor([3.0, 1.0, 2.0]), 0).tolist() == [F, F, F]
    assert lowest_k(torch.tensor([3.0, 1.0, 2.0]), 3).tolist() == [T, T, T]
    assert int(lowest_k(torch.zeros(1000), 337).sum()) == 337


def test_unstructured_global_ranks_across_layers():
    weights = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": torch.tensor([[0.5, 10.0], [0.1, 5.0]])}
    masks = Unstructured().masks(Magnitude(), weights, 0.5, "global")
    # the 4 lowest of {1, 2, 3, 4, 0.5, 10, 0.1, 5} are 0.1, 0.5, 1, 2
    assert masks["a"].tolist() == [[F, F], [T, T]]
    assert masks["b"].tolist() == [[F, T], [F, T]]


def test_unstructured_per_layer_ranks_within_each_layer():
    weights = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "b": torch.tensor([[0.5, 10.0], [0.1, 5.0]])}
    masks = Unstructured().masks(Magnitude(), weights, 0.5, "per-layer")
    assert masks["a"].tolist() == [[F, F], [T, T]]
    assert masks["b"].tolist() == [[F, T], [F, T]]
    masks = Unstructured().masks(Magnitude(), weights, 0.25, "per-layer")
    assert masks["a"].tolist() == [[F, T], [T, T]]
    assert masks["b"].tolist() == [[T, T], [F, T]]


def test_removed_weights_stay_removed():
    weights = {"a": torch.tensor([[9.0, 1.0, 2.0, 3.0]])}
    current = {"a": torch.tensor([[F, T, T, T]])}
    masks = Unstructured().masks(Magnitude(), weights, 0.5, "global", current)
    # 9.0 is already gone; one more goes: the lowest remaining, 1.0
    assert masks["a"].tolist() == [[F, F, T, T]]


def test_block4_removes_whole_groups_of_four_input_weights():
    w = torch.tensor([[1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0],
                      [0.1, 0.1, 0.1, 9.0, 2.0, 2.0, 0.0, 0.0]])
    # group sums: [4, 20] and [9.3, 4]; 50% = the 2 lowest groups, both summing to 4
    masks = Block().masks(Magnitude(), {"a": w}, 0.5, "global")
    assert masks["a"].tolist() == [[F, F, F, F, T, T, T, T], [T, T, T, T, F, F, F, F]]
    masks = Block().masks(Magnitude(), {"a": w}, 0.25, "global")
    assert masks["a"].tolist() == [[F, F, F, F, T, T, T, T], [T, T, T, T, T, T, T, T]]


def test_block4_uses_the_criterion_group_scores():
    w = torch.ones(1, 8)
    table = ScoreTable(group_scores={"a": torch.tensor([[7.0, 3.0]])})
    assert Block().masks(table, {"a": w}, 0.5, "global")["a"].tolist() == [[T, T, T, T, F, F, F, F]]


def test_two_four_keeps_the_two_largest_of_every_four():
    w = torch.tensor([[1.0, -4.0, 3.0, 2.0, 0.0, 0.5, -0.1, 9.0]])
    masks = make_structure("2:4").masks(Magnitude(), {"a": w}, 0.5, "global")
    assert masks["a"].tolist() == [[F, T, T, F, F, T, F, T]]


def test_two_four_below_half_converts_the_cheapest_groups_only():
    w = torch.tensor([[1.0, 1.0, 8.0, 8.0, 0.1, 0.2, 8.0, 8.0],
                      [5.0, 6.0, 8.0, 8.0, 3.0, 3.0, 8.0, 8.0]])
    # cost of a group = sum of its two lowest: 2, 0.3, 11, 6; sparsity 0.25 converts half the groups
    masks = NM(2, 4).masks(Magnitude(), {"a": w}, 0.25, "global")
    assert masks["a"].tolist() == [[F, F, T, T, F, F, T, T], [T, T, T, T, T, T, T, T]]
    # at 0.5 every group has the pattern; groups converted before keep theirs
    masks = NM(2, 4).masks(Magnitude(), {"a": w}, 0.5, "global", masks)
    assert masks["a"].tolist() == [[F, F, T, T, F, F, T, T], [F, F, T, T, F, F, T, T]]


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 6), groups=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_two_four_is_exactly_half_in_every_group(rows, groups, seed):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, groups * 4, generator=gen)
    mask = make_structure("2:4").masks(Magnitude(), {"a": w}, 0.5)["a"]
    assert torch.equal(mask.reshape(rows, groups, 4).sum(dim=2), torch.full((rows, groups), 2))


def test_conv_weights_group_along_input_channels():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(3, 8, 2, 2, generator=gen)  # out, in, kh, kw
    assert torch.equal(from_rows(to_rows(w), w.shape), w)
    assert to_rows(w).shape == (12, 8)
    mask = Block().masks(Magnitude(), {"c": w}, 0.5, "per-layer")["c"]
    assert mask.shape == w.shape
    # at each (out, kh, kw) the 8 input channels form two groups of 4, each kept or removed whole
    per_group = mask.permute(0, 2, 3, 1).reshape(-1, 2, 4)
    assert torch.equal(per_group.all(dim=2), per_group.any(dim=2))
    assert int((~mask).sum()) == w.numel() // 2


def test_grouped_structures_refuse_widths_not_divisible_by_four():
    with pytest.raises(HarnessError, match="layer odd has 6 input weights per row"):
        Block().masks(Magnitude(), {"odd": torch.ones(2, 6)}, 0.5)
    with pytest.raises(HarnessError, match="2:4"):
        make_structure("2:4").check({"odd": torch.ones(2, 6)})


def test_nan_scores_are_refused():
    with pytest.raises(HarnessError, match="layer a contain NaN"):
        Unstructured().masks(ScoreTable({"a": torch.tensor([1.0, float("nan")])}), {"a": torch.ones(2)}, 0.5)


def test_unknown_structure():
    with pytest.raises(HarnessError, match="valid choices: unstructured, block4, 2:4"):
        make_structure("heads")
