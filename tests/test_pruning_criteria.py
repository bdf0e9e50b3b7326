"""Criteria: hand-computed scores for magnitude, movement and second-order on tiny tensors."""

import pytest
import torch
from torch import nn

from harness.foundation.errors import HarnessError
from harness.pruning.criteria import Magnitude, Movement, ScoreTable, SecondOrder, make_criterion

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def linear(weight):
    layer = nn.Linear(len(weight[0]), len(weight), bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
    return layer


def test_magnitude_scores_are_absolute_values():
    w = torch.tensor([[1.0, -3.0], [0.5, -0.0]])
    assert torch.equal(Magnitude().scores("l", w), torch.tensor([[1.0, 3.0], [0.5, 0.0]]))


def test_default_group_scores_sum_four_consecutive_input_weights():
    w = torch.tensor([[1.0, -2.0, 3.0, -4.0, 0.5, 0.5, -0.5, 0.5]])
    assert torch.equal(Magnitude().group_scores("l", w, 4), torch.tensor([[10.0, 2.0]]))


def test_movement_accumulates_minus_grad_times_weight_over_steps():
    layer = linear([[1.0, -2.0]])
    crit = Movement({"l": layer})
    layer.weight.grad = torch.tensor([[0.5, 0.5]])
    crit.observe()  # -g*w = [-0.5, 1.0]
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[2.0, -1.0]]))
    layer.weight.grad = torch.tensor([[-1.0, 1.0]])
    crit.observe()  # -g*w = [2.0, 1.0]
    assert torch.allclose(crit.scores("l", layer.weight), torch.tensor([[1.5, 2.0]]))
    assert crit.steps == 2


def test_movement_depends_on_the_first_gradient_too():
    def run(first_grad):
        layer = linear([[1.0, -2.0]])
        crit = Movement({"l": layer})
        layer.weight.grad = torch.tensor([first_grad])
        crit.observe()
        layer.weight.grad = torch.tensor([[-1.0, 1.0]])
        crit.observe()
        return crit.scores("l", layer.weight)

    # second step alone would be -g*w = [1, 2]; the first step adds [-0.5, 1.0] or [3, -4]
    assert torch.allclose(run([0.5, 0.5]), torch.tensor([[0.5, 3.0]]))
    assert torch.allclose(run([-3.0, -2.0]), torch.tensor([[4.0, -2.0]]))


def test_movement_without_gradients_is_a_one_line_error_and_reset_forgets():
    layer = linear([[1.0, 2.0]])
    crit = Movement({"l": layer})
    with pytest.raises(HarnessError, match="warmup_steps") as info:
        crit.scores("l", layer.weight)
    assert "\n" not in str(info.value)
    layer.weight.grad = torch.ones(1, 2)
    crit.observe()
    crit.reset()
    assert crit.steps == 0
    with pytest.raises(HarnessError):
        crit.scores("l", layer.weight)


def second_order(weight, grads, *, damping=1.0, block_size=2, num_grads=None):
    layer = linear(weight)
    crit = SecondOrder({"l": layer}, block_size=block_size, damping=damping,
                       num_grads=num_grads or len(grads), dtype=torch.float64)
    for g in grads:
        crit.accumulate("l", torch.tensor([g]))
    return layer, crit


def test_second_order_single_gradient_known_answer():
    # F = I + g g^T with g = [1, 1] -> F^-1 = 1/3 [[2, -1], [-1, 2]]
    layer, crit = second_order([[3.0, 1.0]], [[1.0, 1.0]])
    assert torch.allclose(crit.finv["l"].dense(), torch.tensor([[2.0, -1.0], [-1.0, 2.0]], dtype=torch.float64) / 3)
    # rho = w^2 / (2 * 2/3) = 3/4 w^2
    assert torch.allclose(crit.scores("l", layer.weight), torch.tensor([[6.75, 0.75]]))
    # removing w_2: dw = -(w_2 / (2/3)) F^-1 e_2 = -1.5 * [-1/3, 2/3] = [0.5, -1.0]
    new = crit.update("l", layer.weight, torch.tensor([[True, False]]))
    assert torch.allclose(new, torch.tensor([[3.5, 0.0]]))
    assert new[0, 1].item() == 0.0


def test_second_order_accumulates_every_gradient_not_only_the_last():
    # m = 2, lambda = 1, g1 = [1, 1], g2 = [2, 0]:
    # F = I + 1/2 ([[1,1],[1,1]] + [[4,0],[0,0]]) = [[3.5, 0.5], [0.5, 1.5]], F^-1 = [[0.3, -0.1], [-0.1, 0.7]]
    layer, crit = second_order([[1.0, 1.0]], [[1.0, 1.0], [2.0, 0.0]])
    assert torch.allclose(crit.finv["l"].dense(), torch.tensor([[0.3, -0.1], [-0.1, 0.7]], dtype=torch.float64))
    assert torch.allclose(crit.scores("l", layer.weight), torch.tensor([[1 / 0.6, 1 / 1.4]]))
    # only the first gradient changed (to zero): F = diag(3, 1), rho = [1/(2/3), 1/2] = [1.5, 0.5]
    # (this is also what keeping only the last gradient would give)
    layer, crit = second_order([[1.0, 1.0]], [[0.0, 0.0], [2.0, 0.0]])
    assert torch.allclose(crit.scores("l", layer.weight), torch.tensor([[1.5, 0.5]]))
    assert crit.finv["l"].count == 2


def test_second_order_group_saliency_and_update_known_answer():
    # F^-1 = 1/3 [[2, -1], [-1, 2]] so ([F^-1]_QQ)^-1 = F = [[2, 1], [1, 2]];
    # rho_Q = 1/2 w^T F w = 1/2 (2*9 + 2*3 + 2*1) = 13 for w = [3, 1]
    layer, crit = second_order([[3.0, 1.0]], [[1.0, 1.0]])
    assert torch.allclose(crit.group_scores("l", layer.weight, 2), torch.tensor([[13.0]]))
    # removing the whole group: dw = -F^-1[:, Q] F w = -w, both end exactly zero
    new = crit.update("l", layer.weight, torch.tensor([[False, False]]), group=2)
    assert torch.equal(new, torch.zeros(1, 2))


def test_second_order_masks_gradients_of_removed_weights():
    # a removed weight's gradient entries are zeroed before they enter the Fisher
    layer, crit = second_order([[1.0, 1.0]], [], num_grads=1)
    crit.accumulate("l", torch.tensor([[1.0, 1.0]]), keep=torch.tensor([[True, False]]))
    # F = I + [[1, 0], [0, 0]] -> F^-1 = diag(1/2, 1)
    assert torch.allclose(crit.finv["l"].dense(), torch.tensor([[0.5, 0.0], [0.0, 1.0]], dtype=torch.float64))


def test_second_order_without_gradients_is_an_error():
    layer = linear([[1.0, 2.0]])
    crit = SecondOrder({"l": layer}, block_size=2, damping=1.0, num_grads=4)
    with pytest.raises(HarnessError, match="no gradient"):
        crit.scores("l", layer.weight)


def test_second_order_observe_reads_weight_grads():
    layer = linear([[3.0, 1.0]])
    crit = SecondOrder({"l": layer}, block_size=2, damping=1.0, num_grads=1, dtype=torch.float64)
    layer.weight.grad = torch.tensor([[1.0, 1.0]])
    crit.observe()
    assert torch.allclose(crit.scores("l", layer.weight), torch.tensor([[6.75, 0.75]]))


def test_score_table_and_factory():
    table = ScoreTable({"a": torch.tensor([1.0, 2.0])}, {"b": torch.tensor([[5.0]])})
    assert torch.equal(table.scores("a", None), torch.tensor([1.0, 2.0]))
    assert torch.equal(table.group_scores("b", None, 4), torch.tensor([[5.0]]))
    assert isinstance(make_criterion("magnitude", {}), Magnitude)
    assert make_criterion("movement", {}).needs_grad
    assert make_criterion("second-order", {}, block_size=4).block_size == 4
    with pytest.raises(HarnessError, match="valid choices: magnitude, movement, second-order"):
        make_criterion("random", {})
