"""Tasks: SST-2 from a directory (handwritten TSVs and the real data) and teacher-labelled generated inputs."""

from __future__ import annotations

import pytest
import torch

from harness.foundation.errors import HarnessError
from harness.models.registry import model_family
from harness.tasks import DATA_ENV, make_task, resolve_data_dir
from tests.helpers.require import require


TRAIN = "label\tsentence\n1\ta gorgeous , witty film\n0\tdull and lifeless\n1\tgood\n0\tthe worst movie of the year , by far\n"
DEV = "label\tcontent\n1\ta triumph .\n0\tnot worth the ticket , not even close .\n1\tfun\n"


@pytest.fixture
def sst2_dir(tmp_path):
    (tmp_path / "train.tsv").write_text(TRAIN)
    (tmp_path / "dev.tsv").write_text(DEV)
    return tmp_path


def test_sst2_reads_both_column_names_and_pads_to_longest(sst2_dir):
    family = model_family("minilm-tiny")
    task = make_task(family, str(sst2_dir))
    assert (task.name, task.num_labels, task.has_labels) == ("sst2", 2, True)
    assert task.data_id.startswith("sst2:") and ":train=4:eval=3:len=64:tok=minilm-tiny" in task.data_id
    batches = list(task.eval_batches(batch_size=2))
    assert [b[1].tolist() for b in batches] == [[1, 0], [1]]
    tok = family.tokenizer()
    expected = [tok(t)["input_ids"] for t in ("a triumph .", "not worth the ticket , not even close .")]
    inputs, _ = batches[0]
    assert set(inputs) == {"input_ids", "attention_mask"}
    width = max(len(e) for e in expected)
    assert inputs["input_ids"].shape == (2, width)
    assert inputs["input_ids"][0, : len(expected[0])].tolist() == expected[0]
    assert inputs["attention_mask"].sum(dim=1).tolist() == [len(expected[0]), len(expected[1])]
    assert inputs["input_ids"][0, len(expected[0]):].tolist() == [tok.pad_token_id] * (width - len(expected[0]))


def test_sst2_train_batches_are_full_and_reshuffled_each_epoch(sst2_dir):
    task = make_task(model_family("minilm-tiny"), str(sst2_dir))
    stream = task.train_batches(batch_size=2, seed=3)
    epoch1 = [next(stream)[1].tolist() for _ in range(2)]
    epoch2 = [next(stream)[1].tolist() for _ in range(2)]
    # every epoch covers all four labels (two of each) once
    assert sorted(sum(epoch1, [])) == [0, 0, 1, 1]
    assert sorted(sum(epoch2, [])) == [0, 0, 1, 1]
    again = task.train_batches(batch_size=2, seed=3)
    assert [next(again)[1].tolist() for _ in range(2)] == epoch1  # same seed, same order


def test_sst2_max_train_and_max_eval_subset(sst2_dir):
    task = make_task(model_family("minilm-tiny"), str(sst2_dir), max_train=2, max_eval=1, seq_len=4)
    assert ":train=2:subset_seed=0:eval=1:len=4:" in task.data_id
    assert task.train_data_id == task.data_id.replace(":eval=1", "")
    assert make_task(model_family("minilm-tiny"), str(sst2_dir), max_train=2, seq_len=4).train_data_id == task.train_data_id
    inputs, labels = next(iter(task.eval_batches()))
    assert labels.tolist() == [1] and inputs["input_ids"].shape[1] <= 4


def test_sst2_without_tokenizer_uses_minilm_clamped_to_vocab(sst2_dir):
    task = make_task(model_family("bert-tiny"), str(sst2_dir))
    assert task.data_id.endswith("tok=minilm-clamp1000")
    ids = torch.cat([b[0]["input_ids"].flatten() for b in task.eval_batches()])
    assert int(ids.max()) == 999  # words above the tiny vocabulary clamp to its last id
    assert 101 in ids.tolist()  # [CLS] is below 1000 and survives


def test_sst2_bad_directory_names_the_missing_file(tmp_path):
    (tmp_path / "train.tsv").write_text(TRAIN)
    with pytest.raises(HarnessError, match="dev.tsv"):
        make_task(model_family("minilm-tiny"), str(tmp_path))
    with pytest.raises(HarnessError, match="does not exist"):
        make_task(model_family("minilm-tiny"), str(tmp_path / "nope"))


def test_sst2_refuses_image_family(sst2_dir):
    with pytest.raises(HarnessError, match="image"):
        make_task(model_family("resnet50-tiny"), str(sst2_dir))


def test_no_data_and_no_teacher_is_an_error():
    with pytest.raises(HarnessError, match=r"method 'movement' needs data: pass --data DIR"):
        make_task(model_family("bert-tiny"), None, method="movement")


def test_resolve_data_dir_prefers_argument_then_env(monkeypatch):
    monkeypatch.setenv(DATA_ENV, "/from/env")
    assert resolve_data_dir("/given") == "/given"
    assert resolve_data_dir(None) == "/from/env"
    monkeypatch.delenv(DATA_ENV)
    assert resolve_data_dir(None) is None


@pytest.mark.parametrize("name", ["bert-tiny", "resnet50-tiny"])
def test_teacher_task_labels_are_teacher_argmax(name):
    family = model_family(name)
    teacher = family.build(seed=0)
    task = make_task(family, None, teacher=teacher, max_eval=10, seq_len=8 if family.kind == "text" else 16)
    assert task.name == "teacher" and task.has_labels is False and task.num_labels == family.num_labels
    checked = 0
    with torch.no_grad():
        for inputs, labels in task.eval_batches(batch_size=4):
            assert torch.equal(labels, teacher(**inputs).logits.argmax(-1))
            checked += len(labels)
        stream = task.train_batches(batch_size=3, seed=1)
        for _ in range(2):
            inputs, labels = next(stream)
            assert labels.shape == (3,)
            assert torch.equal(labels, teacher(**inputs).logits.argmax(-1))
    assert checked == 10


def test_teacher_task_pool_and_data_id():
    family = model_family("bert-tiny")
    teacher = family.build(seed=0)
    task = make_task(family, None, teacher=teacher, max_train=5, seq_len=8)
    stream = task.train_batches(batch_size=5, seed=0)
    first, second = next(stream), next(stream)
    # one epoch is the whole pool: the same five examples, reshuffled
    rows = lambda b: sorted(map(tuple, b[0]["input_ids"].tolist()))  # noqa: E731
    assert rows(first) == rows(second)
    same = make_task(family, None, teacher=family.build(seed=0), max_train=5, seq_len=8)
    other = make_task(family, None, teacher=family.build(seed=1), max_train=5, seq_len=8)
    assert same.data_id == task.data_id and other.data_id != task.data_id
    assert ":train=pool5:" in task.data_id


def test_real_sst2_batches_have_the_right_shapes():
    real = require("sst2", "it reads the real SST-2 files")
    task = make_task(model_family("minilm-tiny"), str(real), max_train=64)
    assert ":train=64:subset_seed=0:eval=872:" in task.data_id
    inputs, labels = next(task.train_batches(batch_size=16))
    assert labels.shape == (16,) and set(labels.tolist()) <= {0, 1}
    assert inputs["input_ids"].shape[0] == 16 and 2 <= inputs["input_ids"].shape[1] <= 64
    assert inputs["attention_mask"].shape == inputs["input_ids"].shape
    assert int(inputs["attention_mask"].sum(1).max()) == inputs["input_ids"].shape[1]
    assert sum(len(lab) for _, lab in task.eval_batches(batch_size=128)) == 872
