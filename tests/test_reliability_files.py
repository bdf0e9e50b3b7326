"""Files, as the reliability suites cover flags: the bring-your-own flow end to end on what `harness finetune`
writes and on a plain save_pretrained directory; every input file (data, checkpoint, variant) checked before any
work, one line and exit 2, nothing stored; an --out that holds what the harness did not write is never replaced;
paths that must exist; the machine id that tells CPUs apart.

The files are made once for the module (tests/helpers/reliability_probe.make_files, which the replayable probe
uses too): tiny models, damaged copies, data that is not UTF-8.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.cli import main
from tests.helpers.hostile import forbid_work
from tests.helpers.reliability_probe import make_files, users_dir

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data" / "sst2")
QUICK = ["--min-duration", "0.05", "--min-iters", "5", "--warmup", "1", "--quiet"]
FINETUNE = ["--steps", "3", "--max-train", "32", "--batch-size", "8"]

needs_data = pytest.mark.skipif(not (DATA / "dev.tsv").is_file(), reason=f"SST-2 data not found at {DATA}")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    if not (DATA / "dev.tsv").is_file():
        pytest.skip(f"SST-2 data not found at {DATA}")
    return make_files(tmp_path_factory.mktemp("files"), DATA)


def run(argv, capsys) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


# -- 1. the bring-your-own flow --------------------------------------------------------------------------------

@needs_data
@pytest.mark.parametrize("source", ["finetune", "save_pretrained"])
def test_bring_your_own_flow_end_to_end(source, files, tmp_path, results_dir, capsys):
    """finetune (or a plain save_pretrained directory) -> bench --task -> prune --checkpoint -> bench --variant,
    with accuracy measured on the engine at every step (on the first 128 rows of each SST-2 split)."""
    from transformers import AutoConfig, AutoTokenizer

    from harness.results.store import load_records
    from harness.variants.neural import read_manifest

    data = files["data_slice"]
    if source == "finetune":
        ckpt = tmp_path / "ckpt"
        code, err = run(["finetune", "bert-tiny", "--data", data, *FINETUNE, "--out", ckpt], capsys)
        assert code == 0, err
        described = json.loads((ckpt / "harness-finetune.json").read_text())
        # bert-tiny has 1,000 embedding rows; the tokenizer it trained with (MiniLM's) 30,522: the model grew to fit
        assert described["vocabulary_resized"] == {"rows_before": 1000, "rows_after": 30522}
    else:
        ckpt = Path(files["plain"])
    assert AutoConfig.from_pretrained(ckpt).vocab_size >= len(AutoTokenizer.from_pretrained(ckpt)) == 30522
    task = ["--task", "sst2", "--data", data, "--eval-limit", "40"]
    bench = ["bench", "--checkpoint", ckpt, "--backend", "onnxruntime", *QUICK, *task]
    assert run(bench, capsys)[0] == 0
    variant = tmp_path / "v50"
    recipe = tmp_path / "recipe.yaml"  # SST-2 tokenized with the checkpoint's tokenizer: a slice of it is enough
    recipe.write_text("method: magnitude\nsparsity: 0.5\ndata: {max_train: 32, max_eval: 64}\n")
    prune = ["prune", "--checkpoint", ckpt, "--recipe", recipe, "--no-progress", "--out", variant]
    code, err = run(prune + (["--data", data] if source == "finetune" else []), capsys)
    assert code == 0, err
    manifest = read_manifest(variant)
    assert manifest.checkpoint == str(ckpt) and manifest.model == ckpt.name and manifest.realised_sparsity.overall == 0.5
    assert run(bench[:3] + ["--variant", variant] + bench[3:], capsys)[0] == 0
    records = load_records(results_dir)
    assert [r.status for r in records] == ["ok", "ok"]
    assert [r.variant_label for r in records] == ["dense", "v50"]
    for r in records:
        assert r.metrics.quality.examples == 40 and r.metrics.quality.source == "engine"
        assert 0 < r.metrics.quality.top1_agreement <= 1
    assert records[0].metrics.quality.top1_agreement == 1.0  # the dense model agrees with itself
    assert records[1].config.sparsity == 0.5 and records[1].metrics.manifest_quality.source == "manifest"


# -- 2. every input file checked before work ------------------------------------------------------------------

BENCH = ["bench", "--backend", "onnxruntime", *QUICK]
TASK = ["--task", "sst2", "--data", "{data}", "--eval-limit", "20"]
REFUSED = [
    # checkpoints
    ([*BENCH, "--checkpoint", "{config_only}"], "has no model.safetensors or pytorch_model.bin"),
    ([*BENCH, "--checkpoint", "{misfit}"], "does not match misfit: size mismatch for bert.embeddings.word_embeddings.weight"),
    ([*BENCH, "--checkpoint", "{truncated_ckpt}"], "is not a readable safetensors file"),
    ([*BENCH, "--checkpoint", "{small_vocab}", *TASK], "tokenizer ids exceed the model's vocabulary of 1,000"),
    ([*BENCH, "--checkpoint", "{no_tok}", *TASK], "has no tokenizer (tokenizer.json, vocab.txt"),
    (["prune", "--checkpoint", "{truncated_ckpt}", "--method", "magnitude", "--sparsity", "0.5", "--out", "{root}/x"],
     "is not a readable safetensors file"),
    (["prune", "--checkpoint", "{no_tok}", "--method", "magnitude", "--sparsity", "0.5", "--data", "{data}", "--out",
      "{root}/x"], "has no tokenizer"),
    (["finetune", "--checkpoint", "{small_vocab}", "--data", "{data}", *FINETUNE, "--out", "{root}/x"],
     "tokenizer ids exceed the model's vocabulary of 1,000"),
    (["finetune", "--checkpoint", "{misfit}", "--data", "{data}", *FINETUNE, "--out", "{root}/x"], "does not match misfit"),
    # variants
    ([*BENCH, "--model", "bert-tiny", "--variant", "{v_truncated}"], "variant file"),
    ([*BENCH, "--model", "bert-tiny", "--variant", "{v_distil}"], "was made from model 'distilbert-tiny', not 'bert-tiny'"),
    ([*BENCH, "--model", "bert-tiny", "--variant", "{v_other_weights}"], "weights do not fit model bert-tiny"),
    ([*BENCH, "--model", "bert-tiny", "--variant", "{v_bad_json}"], "manifest.json: not valid JSON"),
    ([*BENCH, "--model", "bert-tiny", "--variant", "{v_bad_field}"], "manifest.json: realised_sparsity: expected a mapping"),
    ([*BENCH, "--model", "bert-tiny", "--variant", "{v_bad_arch}"], "'nope' is not a heads layer of model 'bert-tiny'"),
    (["prune", "bert-tiny", "--from", "{v_truncated}", "--method", "magnitude", "--sparsity", "0.6", "--out", "{root}/x"],
     "is not a readable safetensors file"),
    (["prune", "bert-tiny", "--from", "{v_distil}", "--method", "magnitude", "--sparsity", "0.6", "--out", "{root}/x"],
     "was made from model 'distilbert-tiny'"),
    # data
    ([*BENCH, "--model", "bert-tiny", "--task", "sst2", "--data", "{latin1_dev}"], "dev.tsv' is not a UTF-8 text file (line 874"),
    ([*BENCH, "--model", "bert-tiny", "--task", "sst2", "--data", "{latin1_train}"], "train.tsv' is not a UTF-8 text file"),
    ([*BENCH, "--model", "bert-tiny", "--task", "sst2", "--data", "{no_label}"], "has no 'label' column"),
    ([*BENCH, "--model", "bert-tiny", "--task", "sst2", "--data", "{short_row}"], "line 874: bad row"),
    ([*BENCH, "--model", "bert-tiny", "--task", "text-classification", "--data", "{bad_csv}", "--text-columns", "text",
      "--label-column", "label"], "reviews.csv' is not a UTF-8 text file (line 2"),
    (["finetune", "bert-tiny", "--data", "{latin1_dev}", *FINETUNE, "--out", "{root}/x"], "dev.tsv' is not a UTF-8"),
    (["finetune", "bert-tiny", "--data", "{latin1_train}", *FINETUNE, "--out", "{root}/x"], "train.tsv' is not a UTF-8"),
    (["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.5", "--data", "{latin1_train}", "--out",
      "{root}/x"], "train.tsv' is not a UTF-8"),
]


@pytest.mark.parametrize("argv, message", REFUSED, ids=[f"{i:02d}" for i in range(len(REFUSED))])
def test_a_bad_input_file_is_refused_before_any_work(argv, message, files, results_dir, capsys, monkeypatch):
    forbid_work(monkeypatch)
    code, err = run([a.format(**files) for a in argv], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert message in err, err
    assert not results_dir.exists() and not Path(files["root"], "x").exists()


def test_the_same_files_in_order_reach_their_work(files, results_dir, capsys, monkeypatch):
    """The checks are not refusing everything: sound checkpoints, variants and data get to the work."""
    import harness.measure.bench

    reached = []
    monkeypatch.setattr(harness.measure.bench, "run_configs", lambda configs, **kw: reached.extend(configs) or [])
    for argv in ([*BENCH, "--checkpoint", files["plain"], *TASK], [*BENCH, "--checkpoint", files["no_tok"]],
                 [*BENCH, "--model", "bert-tiny", "--variant", f"dense,{files['v']}", *TASK],
                 [*BENCH, "--model", "distilbert-tiny", "--variant", files["v_distil"]]):
        code, err = run([a.format(**files) for a in argv], capsys)
        assert code == 0, err
    assert [(c.model, bool(c.variant)) for c in reached] == [("plain", False), ("no-tokenizer", False),
                                                             ("bert-tiny", False), ("bert-tiny", True),
                                                             ("distilbert-tiny", True)]


# -- 3. nothing a user owns is deleted -------------------------------------------------------------------------

OUTS = [
    (["finetune", "bert-tiny", "--data", "{data}", *FINETUNE, "--out", "{mine}"], "is not a checkpoint finetune wrote"),
    (["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.5", "--out", "{mine}"], "is not a variant directory"),
    (["report", "cost", "--out", "{mine}"], "is not a cost report directory"),
    (["fleet", "plan", str(REPO / "matrices" / "quick.yaml"), "--instance-types", "c7a.large", "--shards", "2",
      "--results", "s3://b/p", "--out", "{mine}"], "is not a fleet plan directory"),
    (["fleet", "collect", "--results", "s3://b/p", "--out", "{mine}"], "is not a cost report directory"),
    (["trees", "--dataset", "wine", "--no-bench", "--out", "{root}/reports", "--variants", "{mine}"],
     "--variants: '{mine}' exists and is not a directory of tree variants"),
    (["trees", "--dataset", "wine", "--no-bench", "--out", "{parent}"], "--variants: '{parent}/trees-wine-variants'"),
    (["sweep", "--model", "bert-tiny", "--sparsities", "0,0.5", "--variants-dir", "{parent}", "--prepare-only"],
     "--variants-dir: '{parent}/bert-tiny-magnitude-global-0500' exists and is not a variant directory"),
]


@pytest.mark.parametrize("argv, message", OUTS, ids=[a[0] + (f" {a[1]}" if a[0] in ("report", "fleet") else "") + (" default" if a[-1] == "{parent}" else "")
                                                    for a, _ in OUTS])
def test_an_out_that_holds_a_users_files_is_refused_before_work(argv, message, files, tmp_path, capsys, monkeypatch):
    forbid_work(monkeypatch)
    mine = Path(users_dir(tmp_path, "out"))
    parent = tmp_path / "reports"
    (parent / "trees-wine-variants").mkdir(parents=True)
    (parent / "trees-wine-variants" / "notes.txt").write_text("mine\n")
    (parent / "bert-tiny-magnitude-global-0500").mkdir()  # where a sweep would put its variant at 50%
    (parent / "bert-tiny-magnitude-global-0500" / "notes.txt").write_text("mine\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    names = {**files, "mine": str(mine), "parent": str(parent), "root": str(tmp_path)}
    code, err = run([a.format(**names) for a in argv], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert message.format(**names) in err and "choose a new or empty directory" in err, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert (mine / "thesis.tex").read_text() == "four years of work\n"


def test_replacing_its_own_output_is_whole_and_leaves_nothing_beside(tmp_path, capsys):
    """A fleet plan written twice into one directory: the second replaces the first whole (a file the first wrote
    for an instance type the second does not plan is gone), and no temporary directory is left beside it."""
    out = tmp_path / "fleet"
    matrix = str(REPO / "matrices" / "quick.yaml")
    plan = ["fleet", "plan", matrix, "--shards", "2", "--results", "s3://b/p", "--out", out]
    assert run(plan[:3] + ["--instance-types", "c7a.large,c7i.xlarge"] + plan[3:], capsys)[0] == 0
    assert (out / "batch" / "c7i-xlarge.job-definition.json").is_file()
    assert run(plan[:3] + ["--instance-types", "c7a.large"] + plan[3:], capsys)[0] == 0
    assert sorted(p.name for p in (out / "batch").iterdir()) == ["c7a-large.job-definition.json",
                                                                 "c7a-large.submit-job.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet"]


# -- 4. paths that must exist ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["results", "--results", "{root}/no-such"], "--results: '{root}/no-such' does not exist"),
    (["results", "push", "s3://b/p", "--results", "{root}/no-such"], "--results: '{root}/no-such' does not exist"),
    (["report", "cost", "--results", "{root}/no-such", "--out", "{root}/rep"], "--results: '{root}/no-such' does not exist"),
    (["regressions", "--results", "{root}/no-such"], "--results: '{root}/no-such' does not exist"),
    (["regressions", "--since", "HEAD~1", "--repo", "{root}/no-such"], "--repo: '{root}/no-such' does not exist"),
    (["bench", "--model", "bert-tiny", "--backend", "torch", "--results", ""], "--results: expected a path, got ''"),
    (["nightly", "--quick", "--bench", "(", "--results", "{root}/night"], "--bench: '(' is not a regular expression"),
    (["nightly", "--quick", "--repo", "{root}/no-such", "--results", "{root}/night"], "--repo: '{root}/no-such' does not exist"),
])
def test_a_path_that_must_exist_is_one_line(argv, message, tmp_path, results_dir, capsys, monkeypatch):
    forbid_work(monkeypatch)
    names = {"root": str(tmp_path)}
    code, err = run([a.format(**names) for a in argv], capsys)
    assert code == 2 and err.count("\n") == 1 and message.format(**names) in err, err
    assert not results_dir.exists() and not (tmp_path / "rep").exists() and not (tmp_path / "night").exists()


def test_a_statistic_that_is_not_finite_is_named(tmp_path, capsys):
    from tests.helpers.records import record

    rec = record("nan1", model="bert-tiny", backend="torch", p50=1.0).to_json()
    rec["metrics"]["latency_ms"]["p50"] = float("nan")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "m1.jsonl").write_text(json.dumps(rec) + "\n")
    code = main(["results", "--results", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0 and "bert-tiny" in out
    assert err.startswith("harness: warning: 1 latency statistic(s) in 1 record(s) are not finite") and "nan1 p50" in err


def test_a_dry_run_names_what_does_not_fit_this_machine(tmp_path, capsys):
    from harness.measure.machine_fit import usable_cpus

    too_many = usable_cpus() + 1
    matrix = tmp_path / "m.yaml"
    matrix.write_text(f"models: [bert-tiny]\nbackends: [torch]\nthreads: [1, {too_many}]\nbatch_sizes: [1]\n")
    assert main(["run", str(matrix), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    rows = out.splitlines()[2:]
    assert len(rows) == 2 and rows[0].rstrip().endswith("yes")
    assert f"no: threads: {too_many} threads is more than the" in rows[1]
    assert "1 of 2 configuration(s) do not fit this machine" in err


# -- 5. the machine id knows its CPU ---------------------------------------------------------------------------

MILAN = {"vendor_id": "AuthenticAMD", "model name": "AMD EPYC", "cpu family": "25", "model": "1", "stepping": "1",
         "flags": "fpu sse sse2 avx avx2 fma"}
GENOA = {**MILAN, "model": "17", "flags": MILAN["flags"] + " avx512f avx512bw avx512vl avx512_vnni avx512_bf16"}


def _fingerprint(monkeypatch, info: dict, host: str = "box") -> dict:
    import platform

    import harness.foundation.machine as machine

    monkeypatch.setattr(machine, "_cpuinfo", lambda: dict(info))
    monkeypatch.setattr(platform, "node", lambda: host)
    machine._static_fingerprint.cache_clear()
    try:
        return machine.fingerprint()
    finally:
        machine._static_fingerprint.cache_clear()


def test_two_cpus_that_both_say_amd_epyc_get_different_ids(monkeypatch):
    import platform

    from harness.contracts import Machine
    from harness.foundation.machine import ID_SCHEME, cpu_label
    from harness.workflows.nightly.driver import asv_machine_name

    milan, genoa = _fingerprint(monkeypatch, MILAN), _fingerprint(monkeypatch, GENOA)
    assert milan["id"] != genoa["id"]
    assert (milan["cpu_family_model"], milan["cpu_stepping"], milan["isa_flags"]) == ("25/1", "1", ["avx2", "fma"])
    assert genoa["isa_flags"] == ["avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "avx512vl", "fma"]
    assert milan["id"] != _fingerprint(monkeypatch, {**MILAN, "stepping": "2"})["id"]
    assert milan["id"] == _fingerprint(monkeypatch, MILAN, host="other-box")["id"]  # the host name is beside it
    assert cpu_label(genoa).startswith("AMD EPYC, family 25 model 17 stepping 1, avx2 avx512_bf16 avx512_vnni")
    # the asv machine: the host name beside the id, so the two CPUs keep separate asv histories
    monkeypatch.setattr(platform, "node", lambda: "box")
    assert asv_machine_name(milan) == f"box-{milan['id']}" != asv_machine_name(genoa)
    record_machine = Machine.from_json({k: v for k, v in genoa.items() if k != "usable_cpus"})
    assert record_machine.id_scheme == ID_SCHEME == 2 and record_machine.cpu_stepping == "1"
    arm = _fingerprint(monkeypatch, {"CPU implementer": "0x41", "CPU architecture": "8", "CPU part": "0xd40",
                                     "CPU revision": "1", "Features": "fp asimd sve"})
    assert (arm["cpu_vendor"], arm["cpu_family_model"], arm["isa_flags"]) == ("0x41", "8/0xd40", ["asimd", "sve"])


def test_records_of_the_old_machine_id_still_read():
    from harness.contracts import RunRecord
    from tests.helpers.records import record

    old = record("old").to_json()
    old["machine"] = {"id": "9f1e2d3c4b5a", "cpu_model": "AMD EPYC", "cpu_vendor": "AuthenticAMD",
                      "cpu_family_model": "25/1", "physical_cores": 2, "isa_flags": ["avx2", "fma"],
                      "hostname_hash": "ab12cd34"}
    machine = RunRecord.from_json(old).machine
    assert (machine.id, machine.id_scheme, machine.cpu_stepping) == ("9f1e2d3c4b5a", 1, None)
