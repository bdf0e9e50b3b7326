"""Fine-tuning with distillation, masks through AdamW, evaluate() known answers, the dense fine-tune
cache and per-batch gradients."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from harness.foundation.errors import ConfigError, HarnessError
from harness.models.registry import model_family
from harness.pruning import training
from harness.pruning.training import collect_gradients, evaluate, finetune_dense, kd_loss, train
from harness.tasks import Task, make_task


class TableModel(nn.Module):
    """logits = table[x]: a model whose outputs the test chooses."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table, dtype=torch.float32))

    def forward(self, x):
        return SimpleNamespace(logits=self.table[x])


class FixedTask(Task):
    name, num_labels, has_labels, data_id = "fixed", 2, True, "fixed:4"

    def __init__(self, labels):
        self.labels = torch.tensor(labels)

    def eval_batches(self, batch_size=64):
        for start in range(0, len(self.labels), batch_size):
            yield {"x": torch.arange(start, min(start + batch_size, len(self.labels)))}, self.labels[start:start + batch_size]

    def train_batches(self, batch_size, seed=0):
        while True:
            yield from self.eval_batches(batch_size)


def test_evaluate_known_answers():
    table = [[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]]  # argmax 0, 1, 0, 1
    task = FixedTask([0, 1, 0, 0])  # the last example is wrong
    model = TableModel(table)
    same = evaluate(model, task, teacher=TableModel(table), batch_size=3)  # two batches: 3 + 1
    assert same == {"accuracy": 0.75, "top1_agreement": 1.0, "kl_dense_pruned": 0.0, "n": 4}
    teacher_table = [row[:] for row in table]
    teacher_table[1] = [1.0, 0.0]  # the teacher disagrees on example 1
    got = evaluate(model, task, teacher=TableModel(teacher_table))
    p = [math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)]  # teacher softmax on example 1
    q = [1 / (1 + math.exp(1)), math.exp(1) / (1 + math.exp(1))]  # student softmax on example 1
    kl_one = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert got["accuracy"] == 0.75 and got["top1_agreement"] == 0.75 and got["n"] == 4
    assert got["kl_dense_pruned"] == pytest.approx(kl_one / 4, rel=1e-6)
    assert evaluate(model, task, max_batches=1, batch_size=2) == {"accuracy": 1.0, "top1_agreement": 1.0, "n": 2}


def test_kd_loss_hand_computed():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    labels = torch.tensor([1])
    kl_t1 = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert float(kd_loss(student, labels, teacher, temperature=1.0)) == pytest.approx(kl_t1, rel=1e-6)
    p = [math.sqrt(3) / (math.sqrt(3) + 1), 1 / (math.sqrt(3) + 1)]  # softmax([ln 3 / 2, 0])
    kl_t2 = sum(pi * math.log(pi / 0.5) for pi in p)
    assert float(kd_loss(student, labels, teacher, temperature=2.0)) == pytest.approx(4 * kl_t2, rel=1e-6)
    ce = math.log(2.0)
    mixed = kd_loss(student, labels, teacher, temperature=2.0, hardness=0.25)
    assert float(mixed) == pytest.approx(0.25 * 4 * kl_t2 + 0.75 * ce, rel=1e-6)
    assert float(kd_loss(student, labels, None)) == pytest.approx(ce, rel=1e-6)
    assert float(kd_loss(teacher, labels, teacher)) == 0.0


class Counter:
    def __init__(self):
        self.backward, self.step = [], []

    def after_backward(self, model, step):
        self.backward.append(step)

    def after_step(self, model, step):
        self.step.append(step)


def _teacher_task(family, seed=0, **kw):
    return make_task(family, None, teacher=family.build(seed=seed), seq_len=8, max_eval=8, **kw)


def test_masks_stay_exactly_zero_through_adamw_with_weight_decay():
    family = model_family("bert-tiny")
    model = family.build(seed=1)
    task = _teacher_task(family)
    gen = torch.Generator().manual_seed(0)
    names = ["bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.1.intermediate.dense.weight"]
    params = dict(model.named_parameters())
    masks = {n: torch.rand(params[n].shape, generator=gen) > 0.5 for n in names}
    before = {n: params[n].detach().clone() for n in names}
    counter = Counter()
    result = train(model, task, steps=5, lr=1e-2, batch_size=4, weight_decay=0.1, masks=masks,
                   callbacks=[counter], progress=False)
    assert result["steps"] == 5 and len(result["losses"]) == 5 and result["final_loss"] == result["losses"][-1]
    assert counter.backward == [0, 1, 2, 3, 4] and counter.step == [0, 1, 2, 3, 4]
    params = dict(model.named_parameters())
    for n in names:
        assert torch.all(params[n][~masks[n]] == 0.0)
        assert not torch.equal(params[n][masks[n]], before[n][masks[n]])  # the kept weights did train
    assert model.training is False


def test_a_callback_may_tighten_masks_in_place():
    family = model_family("bert-tiny")
    model = family.build(seed=1)
    name = "bert.encoder.layer.0.output.dense.weight"
    masks = {name: torch.ones(dict(model.named_parameters())[name].shape, dtype=torch.bool)}

    class Tighten:
        def after_step(self, model, step):
            if step == 1:
                masks[name][:, :10] = False

    train(model, _teacher_task(family), steps=3, lr=1e-2, batch_size=2, weight_decay=0.1, masks=masks,
          callbacks=[Tighten()], progress=False)
    weight = dict(model.named_parameters())[name]
    assert torch.all(weight[:, :10] == 0.0) and torch.count_nonzero(weight[:, 10:]) == weight[:, 10:].numel()


def test_training_reduces_loss_on_a_small_pool():
    family = model_family("bert-tiny")
    model = family.build(seed=1)
    result = train(model, _teacher_task(family, max_train=8), steps=25, lr=2e-3, batch_size=8,
                   teacher=family.build(seed=0), progress=False)
    assert result["losses"][-1] < 0.5 * result["losses"][0]


def test_train_validates_settings():
    family = model_family("bert-tiny")
    model = family.build()
    task = _teacher_task(family)
    with pytest.raises(ConfigError, match="kd_hardness: must be in \\[0, 1\\], got 1.5"):
        train(model, task, steps=1, kd_hardness=1.5, progress=False)
    with pytest.raises(HarnessError, match="masks: 'nope' is not a parameter"):
        train(model, task, steps=1, masks={"nope": torch.ones(1, dtype=torch.bool)}, progress=False)
    assert train(model, task, steps=0, progress=False) == {"steps": 0, "final_loss": None, "losses": []}


def test_finetune_dense_second_call_loads_the_cache(tmp_path, monkeypatch):
    family = model_family("bert-tiny")
    task = _teacher_task(family, seed=5)
    calls = []
    real_train = training.train

    def counting_train(*args, **kwargs):
        calls.append(kwargs["steps"])
        return real_train(*args, **kwargs)

    monkeypatch.setattr(training, "train", counting_train)
    settings = dict(steps=3, lr=1e-3, batch_size=4, seed=0, cache_dir=tmp_path)
    first = finetune_dense(family, family.build(), task, **settings)
    assert calls == [3]
    (entry,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    meta = json.loads((entry / "finetune.json").read_text())
    assert meta["schema_version"] == 1 and meta["data"] == task.data_id and entry.name.endswith(meta["key"])
    second = finetune_dense(family, family.build(), task, **settings)
    assert calls == [3]  # served from the cache
    for (n1, p1), (n2, p2) in zip(first.state_dict().items(), second.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert not torch.equal(second.state_dict()["classifier.weight"], family.build().state_dict()["classifier.weight"])
    bigger_eval = make_task(family, None, teacher=family.build(seed=5), seq_len=8, max_eval=16)
    assert bigger_eval.data_id != task.data_id and bigger_eval.train_data_id == task.train_data_id
    finetune_dense(family, family.build(), bigger_eval, **settings)
    assert calls == [3]  # the evaluation split does not enter the key
    finetune_dense(family, family.build(), task, **(settings | {"steps": 2}))
    assert calls == [3, 2]  # other settings, other entry
    assert len([p for p in tmp_path.iterdir()]) == 2


def test_collect_gradients_match_manual_backward():
    family = model_family("bert-tiny")
    model = family.build()
    task = _teacher_task(family, seed=1)
    name = "bert.encoder.layer.1.output.dense.weight"
    param = dict(model.named_parameters())[name]
    grads = list(collect_gradients(model, task, count=3, batch_size=2, seed=4, params={name: param}))
    assert len(grads) == 3 and all(set(g) == {name} for g in grads)
    assert param.grad is None
    inputs, labels = next(task.train_batches(2, seed=4))
    F.cross_entropy(model(**inputs).logits, labels).backward()
    assert torch.allclose(grads[0][name], param.grad, atol=1e-7)
    assert not torch.equal(grads[0][name], grads[1][name])  # a different batch each time
