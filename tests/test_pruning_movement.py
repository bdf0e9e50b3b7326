"""Movement pruning in its published regime: the straight-through score gradient, hard accumulation, the soft
regulariser's gradient, threshold masks, masks that change during fine-tuning, realised sparsity."""

import copy

import pytest
import torch
from torch import nn

from harness.models.registry import model_family
from harness.pruning.loop import Pruner
from harness.pruning.movement import MovementMasks
from harness.pruning.recipes import Recipe
from harness.pruning.structures import make_structure
from harness.tasks import make_task

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def linear(seed=0, out_features=3, in_features=4):
    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features)


def masks_for(layer, variant="hard", **kw):
    return MovementMasks({"l": layer}, make_structure("unstructured"), variant=variant, **kw)


def test_straight_through_score_gradient_is_grad_of_masked_weight_times_weight():
    layer = linear()
    w = layer.weight.detach().clone()
    mv = masks_for(layer)
    mv.masks["l"][0, 0] = False  # removed: W' has a zero there, yet its score still gets a gradient
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    loss = (layer(x) ** 2).sum()
    loss.backward()
    # reference: dL/dW' with W' = W * M as a free tensor
    w_prime = (w * mv.masks["l"]).requires_grad_(True)
    ((x @ w_prime.T + layer.bias.detach()) ** 2).sum().backward()
    assert torch.allclose(mv.scores["l"].grad, w_prime.grad * w, atol=1e-6)
    assert mv.scores["l"].grad[0, 0] != 0
    # and the weight's own gradient is masked: the removed weight does not train
    assert layer.parametrizations.weight.original.grad[0, 0] == 0


def test_hard_scores_accumulate_minus_grad_times_weight_over_every_pass():
    layer = linear(seed=2)
    w = layer.weight.detach().clone()
    mv = masks_for(layer)
    expected = torch.zeros_like(w)
    for seed in (3, 4):
        x = torch.randn(2, 4, generator=torch.Generator().manual_seed(seed))
        w_prime = w.clone().requires_grad_(True)
        (x @ w_prime.T).sum().backward()
        expected -= w_prime.grad * w
        layer(x).sum().backward()
        mv.after_backward()
    assert mv.steps == 2
    assert torch.allclose(mv.scores["l"].detach(), expected, atol=1e-6)
    assert mv.scores["l"].grad is None


def test_soft_regulariser_value_and_gradient():
    layer = linear()
    mv = masks_for(layer, variant="soft", regularization=3.0)
    s = torch.tensor([[0.0, 1.0, -2.0, 0.5], [1.5, -1.0, 0.0, 2.0], [0.3, 0.2, 0.1, -0.4]])
    with torch.no_grad():
        mv.scores["l"].copy_(s)
    r = mv.regulariser()
    assert float(r.detach()) == pytest.approx(3.0 * float(torch.sigmoid(s).mean()))
    r.backward()
    sig = torch.sigmoid(s)
    assert torch.allclose(mv.scores["l"].grad, 3.0 * sig * (1 - sig) / s.numel(), atol=1e-7)


def test_soft_step_moves_scores_down_without_task_gradient():
    layer = linear()
    mv = masks_for(layer, variant="soft", regularization=1.0, scores_lr=0.1)
    for s in mv.scores.values():
        s.grad = torch.zeros_like(s)  # a backward pass that left no task signal
    mv.after_backward()
    assert torch.allclose(mv.scores["l"].detach(), torch.full((3, 4), -0.1), atol=1e-6)  # Adam's first step: lr * sign


def test_threshold_masks_known_answer():
    layer = linear()
    scores = torch.tensor([[-3.0, -1.0, 0.0, 1.0], [-2.5, -0.5, 0.5, 3.0], [-4.0, 2.0, -0.1, 0.1]])
    # fixed threshold 0.3 at the final sparsity: keep sigmoid(S) > 0.3, i.e. S > logit(0.3) = -0.847
    mv = masks_for(layer, variant="soft", threshold=0.3)
    with torch.no_grad():
        mv.scores["l"].copy_(scores)
    info = mv.update(0.8, final=0.8)
    assert torch.equal(mv.masks["l"], scores > -0.8473)
    assert info["realised"] == round(4 / 12, 6)
    # half-way along the schedule the threshold is 0.15 (logit -1.735)
    mv.update(0.4, final=0.8)
    assert torch.equal(mv.masks["l"], scores > -1.7346)
    # calibrated (threshold null): exactly the scheduled fraction, the lowest scores
    mv = masks_for(layer, variant="soft")
    with torch.no_grad():
        mv.scores["l"].copy_(scores)
    mv.update(0.5)  # the 6 lowest of 12 go: -4, -3, -2.5, -1, -0.5, -0.1
    assert torch.equal(mv.masks["l"], scores > -0.05)


def test_masks_can_come_back_and_earlier_removals_stay_out():
    layer = linear()
    fixed = torch.ones(3, 4, dtype=torch.bool)
    fixed[2, 3] = False  # removed by an earlier prune
    mv = MovementMasks({"l": layer}, make_structure("unstructured"), fixed={"l": fixed})
    with torch.no_grad():
        mv.scores["l"].copy_(torch.arange(12.0).reshape(3, 4))
    first = mv.update(0.25)
    assert first["removed"] == 2 and not mv.masks["l"][2, 3] and not mv.masks["l"][0, :2].any()
    with torch.no_grad():
        mv.scores["l"].copy_(-torch.arange(12.0).reshape(3, 4))  # the ranking flips
    second = mv.update(0.25)
    assert second["revived"] == 2 and second["removed"] == 2
    assert mv.masks["l"][0, :2].all() and not mv.masks["l"][2, 3]


def test_finish_leaves_plain_weights_with_exact_zeros():
    layer = linear()
    w = layer.weight.detach().clone()
    mv = masks_for(layer)
    assert not any("scores" in n for n, _ in layer.named_parameters())  # scores are not model parameters
    with torch.no_grad():
        mv.scores["l"].copy_(w.abs())
    mv.update(0.5)
    masks = mv.finish()
    assert set(dict(layer.named_parameters())) == {"weight", "bias"}
    assert torch.equal(layer.weight.detach(), torch.where(masks["l"], w, torch.zeros_like(w)))
    assert int((layer.weight == 0).sum()) == 6


# -- the regime on a tiny model --------------------------------------------------------------------
def run(variant, **fields):
    family = model_family("bert-tiny")
    base = {"method": "movement", "structure": "unstructured", "sparsity": 0.7,
            "schedule": {"kind": "cubic", "steps": 6, "prune_every": 1, "warmup_steps": 2},
            "finetune": {"steps": 4, "batch_size": 4}, "movement": {"variant": variant}}
    for key, value in fields.items():
        base.setdefault(key, {}).update(value) if isinstance(value, dict) else base.update({key: value})
    recipe = Recipe.from_dict(base).resolved()
    model = family.build(seed=0)
    teacher = copy.deepcopy(model).eval()
    task = make_task(family, None, teacher=teacher, seed=0, max_train=32, max_eval=16)
    pruner = Pruner(family, recipe, task=task, teacher=teacher, progress=False)
    return family, pruner, pruner.run(model), model


@pytest.mark.parametrize("variant,extra", [("hard", {}), ("soft", {"movement": {"scores_lr": 0.05, "regularization": 10.0}})])
def test_gradual_movement_reaches_the_target_with_masks_that_change(variant, extra):
    family, pruner, outcome, model = run(variant, **extra)
    assert abs(outcome.realised_sparsity["overall"] - 0.7) <= 0.005
    history = outcome.history
    assert [h["step"] for h in history] == list(range(0, 13))  # every step: 2 warm-up + 6 cubic + 4 cool-down
    assert [h["target"] for h in history[:3]] == [0.0, 0.0, 0.0]
    assert history[5]["target"] == pytest.approx(0.7 * (1 - 0.5 ** 3))  # half-way through the cubic span
    assert all(h["target"] == pytest.approx(0.7) for h in history[8:])
    assert all(abs(h["realised"] - h["target"]) <= 0.005 for h in history)
    assert sum(h["revived"] for h in history) > 0  # removed weights came back as the scores moved
    assert sum(h["removed"] for h in history[9:]) > 0  # masks keep changing during the cool-down
    assert pruner.movement.steps == 12 and pruner.train_steps == 12
    layers = family.prunable_layers(outcome.model)
    for name, mask in outcome.masks.items():
        assert torch.equal(layers[name].weight.detach() != 0, mask)
    assert not any("parametrizations" in n for n, _ in model.named_parameters())


def test_soft_fixed_threshold_reports_the_sparsity_it_reached():
    _, pruner, outcome, _ = run("soft", movement={"threshold": 0.45, "scores_lr": 0.05, "regularization": 50.0})
    scores = torch.cat([s.detach().reshape(-1) for s in pruner.movement.scores.values()])
    assert outcome.realised_sparsity["overall"] == pytest.approx(float((torch.sigmoid(scores) <= 0.45).float().mean()), abs=1e-6)


def test_gradual_hard_movement_on_block4():
    _, _, outcome, _ = run("hard", structure="block4", sparsity=0.5)
    assert abs(outcome.realised_sparsity["overall"] - 0.5) <= 0.005
    for mask in outcome.masks.values():
        rows = mask.reshape(mask.shape[0], -1, 4)
        assert torch.equal(rows.all(dim=2), rows.any(dim=2))  # whole groups of 4 kept or removed
