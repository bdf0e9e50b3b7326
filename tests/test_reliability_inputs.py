"""Bad input never costs a measurement and never shows a traceback: each adversarial command line below is
refused before any work (the work functions fail the test if reached), with exit code 2 and one line that
names the problem, and writes nothing."""

from __future__ import annotations

import os

import pytest

from harness.cli import main
from tests.conftest import harness_cli
from tests.helpers.hostile import TINY_MATRIX, forbid_work, hostile_yaml_files, readonly_dir


@pytest.fixture
def no_work(monkeypatch):
    forbid_work(monkeypatch)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """Paths the cases refer to: a file, a directory, a path under a file, a tiny matrix, hostile matrices."""
    root = tmp_path_factory.mktemp("adversary")
    (root / "afile").write_text("not a directory\n")
    (root / "adir").mkdir()
    (root / "matrix.yaml").write_text(TINY_MATRIX)
    (root / "sst2").mkdir()
    (root / "table.md").mkdir()
    paths = {"file": root / "afile", "dir": root / "adir", "under_file": root / "afile" / "sub", "md_stem": root / "table",
             "matrix": root / "matrix.yaml", "sst2": root / "sst2", "long": root / ("n" * 300)}
    paths |= {f"m_{name}": path for name, path in hostile_yaml_files(root / "hostile").items()}
    return {k: str(v) for k, v in paths.items()}


BENCH = "bench --model bert-tiny --backend torch"
CASES = [
    # 1. output paths, checked before any work
    (f"{BENCH} --results {{file}}", "--results: '{file}' is a file, not a directory"),
    (f"{BENCH} --results {{under_file}}", "is a file, not a directory"),
    (f"{BENCH} --results {{long}}", "--results: path too long"),
    ("run {matrix} --results {file}", "--results: '{file}' is a file, not a directory"),
    ("prune bert-tiny --method magnitude --sparsity 0.5 --out {file}", "--out: '{file}' is a file, not a directory"),
    ("prune bert-tiny --method magnitude --sparsity 0.5 --out {under_file}", "--out: cannot create"),
    ("trees --out {file}", "--out: '{file}' is a file, not a directory"),
    ("trees --out {dir} --variants {under_file}", "--variants: cannot create"),
    ("trees --out {dir} --results {file}", "--results: '{file}' is a file"),
    ("report cost --out {file}", "--out: '{file}' is a file, not a directory"),
    ("report cost --out {under_file}", "--out: cannot create"),
    ("sweep --model bert-tiny --out {md_stem}", "--out: '{md_stem}.md' is a directory, not a file"),
    ("sweep --model bert-tiny --results {file}", "--results: '{file}' is a file"),
    ("sweep --model bert-tiny --variants-dir {file}", "--variants-dir: '{file}' is a file"),
    ("finetune bert-tiny --data {sst2} --out {file}", "--out: '{file}' is a file, not a directory"),
    ("fleet plan {matrix} --instance-types c7a.large --shards 2 --results s3://b/p --out {file}", "--out: '{file}' is a file"),
    ("fleet collect --results s3://b/p --out {file}", "--out: '{file}' is a file"),
    ("fleet collect --results s3://b/p --out {dir} --into {file}", "--into: '{file}' is a file"),
    ("demo --results {file}", "--results: '{file}' is a file"),
    ("nightly --results {file}", "--results: '{file}' is a file"),
    ("results pull s3://b/p --results {file}", "--results: '{file}' is a file"),
    ("prices refresh --region us-east-2 --instances c7a.large --snapshot-dir {file}", "--snapshot-dir: '{file}' is a file"),
    # 2. values that pass a type check but are out of range
    (f"{BENCH} --scenario server --sla-ms inf", "--sla-ms"),
    (f"{BENCH} --scenario server --sla-ms nan", "--sla-ms"),
    (f"{BENCH} --scenario server --sla-ms -5", "--sla-ms"),
    (f"{BENCH} --sla-ms 50", "--sla-ms"),
    (f"{BENCH} --batch 1000000000", "--batch: bert-tiny at batch 1000000000 x 16 needs at least"),
    (f"{BENCH} --batch 100000 --memory-limit-mb 500", "--memory-limit-mb: 500 MB is too little for bert-tiny at batch 100000"),
    (f"{BENCH} --memory-limit-mb 1", "--memory-limit-mb: 1 MB is too little"),
    (f"{BENCH} --memory-limit-mb=-5", "--memory-limit-mb: expected a positive integer, got -5"),
    (f"{BENCH} --memory-limit-mb 0", "--memory-limit-mb: expected a positive integer, got 0"),
    (f"{BENCH} --threads 1000000", "--threads: 1000000 threads is more than the harness runs (1024"),
    (f"{BENCH} --threads 1000000 --force-threads", "--threads: 1000000 threads is more than the harness runs"),
    (f"{BENCH} --threads 0", "--threads: expected a positive integer, got 0"),
    (f"{BENCH} --threads=-2", "--threads: expected a positive integer, got -2"),
    (f"{BENCH} --min-duration=-1", "--min-duration: expected a finite number >= 0, got -1.0"),
    (f"{BENCH} --min-duration nan", "--min-duration: expected a finite number >= 0, got nan"),
    (f"{BENCH} --min-duration inf", "--min-duration: expected a finite number >= 0, got inf"),
    (f"{BENCH} --timeout 0", "--timeout: expected a finite number > 0, got 0.0"),
    (f"{BENCH} --timeout inf", "--timeout: expected a finite number > 0, got inf"),
    (f"{BENCH} --min-iters=-3", "--min-iters: expected an integer >= 0, got -3"),
    (f"{BENCH} --warmup=-1", "--warmup: expected an integer >= 0, got -1"),
    (f"{BENCH} --repeat 0", "argument --repeat: expected an integer between 1 and 1000, got '0'"),
    (f"{BENCH} --repeat=-3", "argument --repeat: expected an integer between 1 and 1000, got '-3'"),
    (f"{BENCH} --repeat 99999999999999999999", "argument --repeat: expected an integer between 1 and 1000"),
    (f"{BENCH} --variant {{file}}", "--variant: '{file}' is not a directory"),
    (f"{BENCH} --variant {{long}}", "--variant: path too long"),
    ("bench --backend torch --checkpoint {long}", "--checkpoint: path too long"),
    ("bench --backend torch --checkpoint {file}", "--checkpoint: '{file}' is not a directory"),
    (f"{BENCH} --checkpoint {{long}}", "--checkpoint: path too long"),
    (f"{BENCH} --seq 100000", "100000 is longer than model 'bert-tiny' accepts (128 positions)"),
    (f"{BENCH} --seq 0", "--seq: expected a positive integer, got 0"),
    (f"{BENCH} --batch 1e9", "argument --batch: expected integers, got '1e9'"),
    (f"{BENCH} --task teacher --eval-limit 0", "--eval-limit: expected a positive integer, got 0"),
    ("results --last=-1", "argument --last: expected an integer >= 1, got '-1'"),
    ("results --last 0", "argument --last: expected an integer >= 1, got '0'"),
    ("run {matrix} --repeat 0", "argument --repeat: expected an integer between 1 and 1000"),
    ("run {m_huge_product}", "huge_product.yaml: the matrix has 1,000,000,000 configurations"),
    ("run {long}", "cannot be read (File name too long)"),
    ("run {under_file}", "does not exist"),
    ("trees --threads 100000", "--threads: 100000 threads is more than the harness runs"),
    ("trees --batch 1000000000000", "--batch: tree-breast_cancer at batch 1000000000000 x 30 needs at least"),
    ("trees --batch 0", "argument --batch: expected an integer >= 1, got '0'"),
    ("trees --min-duration nan", "argument --min-duration: expected a finite number > 0, got 'nan'"),
    ("trees --min-duration inf", "argument --min-duration: expected a finite number > 0, got 'inf'"),
    ("trees --seed=-1", "argument --seed: expected an integer between 0 and 4294967295"),
    ("trees --max-variants 0", "--max-variants: expected a positive integer, got 0"),
    ("sweep --model bert-tiny --threads 100000", "--threads: 100000 threads is more than the harness runs"),
    ("sweep --model bert-tiny --batch 1000000000", "--batch: bert-tiny at batch 1000000000 x 16 needs at least"),
    ("sweep --model bert-tiny --seq 100000", "--seq: 100000 is longer than model 'bert-tiny' accepts"),
    ("sweep --model bert-tiny --sparsities nan", "sparsities: expected fractions in [0, 1), got nan"),
    ("sweep --model bert-tiny --sparsities 1", "sparsities: expected fractions in [0, 1), got 1.0"),
    ("sweep --model bert-tiny --sparse-threshold inf", "--sparse-threshold: expected a fraction in [0, 1], got inf"),
    ("sweep --model bert-tiny --repeat 0", "argument --repeat: expected an integer between 1 and 1000"),
    ("sweep --model bert-tiny --sparsities abc", "argument --sparsities: expected fractions such as 0,0.5,0.9"),
    ("sweep --model bert-tiny --sparsities ,", "argument --sparsities: expected a comma-separated list"),
    ("report cost --sla-ms inf --out {dir}", "argument --sla-ms: expected a finite number > 0, got 'inf'"),
    ("report cost --sla-ms=-1 --out {dir}", "argument --sla-ms: expected a finite number > 0, got '-1'"),
    ("report cost --qps nan --out {dir}", "argument --qps: expected a finite number > 0, got 'nan'"),
    ("report cost --max-quality-drop=-1 --out {dir}", "--max-quality-drop: -1.0; valid: a number of accuracy points"),
    ("report cost --max-quality-drop nan --out {dir}", "--max-quality-drop: nan; valid: a number of accuracy points"),
    ("prune bert-tiny --method magnitude --sparsity nan --out {dir}/v", "sparsity"),
    ("prune bert-tiny --method magnitude --sparsity 1.5 --out {dir}/v", "sparsity: expected a number in [0.0, 1.0)"),
    ("prune bert-tiny --method magnitude --sparsity 0.5 --steps=-1 --out {dir}/v", "steps: expected an integer >= 0"),
    ("prune bert-tiny --method magnitude --structure layers --keep-layers 99 --out {dir}/v", "99"),
    ("prune bert-tiny --method magnitude --sparsity 0.5 --from {dir} --out {dir}/v", "{dir}"),
    ("finetune bert-tiny --data {sst2} --steps 0 --out {dir}/c", "argument --steps: expected an integer >= 1"),
    ("finetune bert-tiny --data {sst2} --lr nan --out {dir}/c", "argument --lr: expected a finite number > 0"),
    ("finetune bert-tiny --data {sst2} --lr inf --out {dir}/c", "argument --lr: expected a finite number > 0"),
    ("finetune bert-tiny --data {sst2} --batch-size 0 --out {dir}/c", "argument --batch-size"),
    ("finetune bert-tiny --data {sst2} --seq 100000 --out {dir}/c", "--seq: 100000 is longer than model 'bert-tiny'"),
    ("finetune bert-tiny --data {file} --out {dir}/c", "--data: '{file}' is not a directory"),
    ("fleet plan {matrix} --instance-types c7a.large --shards 2 --results s3://b/p --out {dir} --timeout-min nan",
     "argument --timeout-min: expected a finite number >= 0"),
    ("fleet plan {matrix} --instance-types c7a.large --shards 2 --results s3://b/p --out {dir} --timeout-min inf",
     "argument --timeout-min: expected a finite number >= 0"),
    ("fleet collect --results s3://b/p --out {dir} --sla-ms nan", "argument --sla-ms: expected a finite number > 0"),
    ("fleet submit {dir} --poll-s nan", "argument --poll-s: expected a finite number > 0"),
    ("fleet submit {long}", "PLAN: path too long"),
    ("fleet collect --results s3://b/p --out {dir} --plan {under_file}", "--plan: '{under_file}' does not exist"),
    ("report cost --out {dir} --prices {under_file}", "--prices: '{under_file}' does not exist"),
    ("prices show --prices {long}", "--prices: path too long"),
    ("prune bert-tiny --checkpoint {long} --method magnitude --sparsity 0.5 --out {dir}/v", "--checkpoint: path too long"),
    ("finetune --checkpoint {file} --data {sst2} --out {dir}/c", "--checkpoint: '{file}' is not a directory"),
    ("regressions --threshold nan", "--threshold"),
    ("regressions --alpha 5", "--alpha"),
    # 4. hostile matrix files
    ("run {m_deep}", "deep.yaml: nested more than 32 levels deep at line 1"),
    ("run {m_deep_mapping}", "deep_mapping.yaml: nested more than 32 levels deep"),
    ("run {m_laughs}", "laughs.yaml: YAML aliases (*name) are not allowed at line 2"),
    ("run {m_alias}", "alias.yaml: YAML aliases (*name) are not allowed"),
    ("run {m_undefined_alias}", "undefined_alias.yaml: YAML aliases (*name) are not allowed"),
    ("run {m_big}", "big.yaml: 10,485,"),
    ("run {m_big}", "bytes is larger than the 1,000,000-byte limit for a matrix file"),
    ("run {m_huge_int}", "huge_int.yaml: a value cannot be read"),
    ("run {m_list_top}", "list_top.yaml: expected a mapping"),
    ("run {m_scalar_top}", "scalar_top.yaml: expected a mapping"),
    ("run {m_empty}", "empty.yaml: expected a mapping"),
    ("run {m_long_key}", "long_key.yaml: not valid YAML at line 6"),
    ("run {m_inf_threads}", "inf_threads.yaml: threads[0]: expected a positive integer, got inf"),
    ("run {m_nan_batch}", "nan_batch.yaml: batch_sizes[0]: expected a positive integer, got nan"),
    ("run {m_negative_seq}", "negative_seq.yaml: seq_lens[0]: expected a positive integer, got -16"),
    ("run {m_python_tag}", "python_tag.yaml: not valid YAML"),
    ("run {m_binary}", "binary.yaml: not a UTF-8 text file"),
    ("run {m_a_directory}", "is not a regular file"),
    ("run {m_sla_without_server}", "sla_without_server.yaml: settings.sla_ms is set but scenario is single-stream"),
    ("run {m_server_without_sla}", "server_without_sla.yaml: scenario server needs settings.sla_ms"),
    ("prune bert-tiny --recipe {m_laughs} --out {dir}/v", "laughs.yaml: YAML aliases (*name) are not allowed"),
    ("prune bert-tiny --recipe {m_deep} --out {dir}/v", "deep.yaml: nested more than 32 levels deep"),
    ("prune bert-tiny --recipe {m_big} --out {dir}/v", "larger than the 1,000,000-byte limit for a recipe file"),
    ("demo --matrix {m_laughs} --results {dir}", "laughs.yaml: YAML aliases (*name) are not allowed"),
    ("fleet plan {m_deep} --instance-types c7a.large --shards 2 --results s3://b/p --out {dir}", "nested more than 32"),
]


def _argv(template: str, sandbox: dict) -> list[str]:
    return [part.format(**sandbox) for part in template.split()]


@pytest.mark.parametrize("template, message", CASES, ids=[f"{i:03d}" for i in range(len(CASES))])
def test_bad_input_is_refused_in_one_line_before_any_work(template, message, sandbox, no_work, capsys, tmp_path,
                                                        monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("HARNESS_DATA_DIR", sandbox["sst2"])
    code = main(_argv(template, sandbox))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert message.format(**sandbox) in err
    assert len(err) < 600  # a message never formats an unbounded value
    assert not (tmp_path / "results").exists()


def test_a_read_only_directory_is_refused_before_any_work(tmp_path, no_work, capsys):
    with readonly_dir(tmp_path / "ro") as ro:
        if ro is None:
            pytest.skip("cannot make a read-only directory here (root without mount)")
        cases = [
            ([*BENCH.split(), "--results", str(ro)], f"--results: cannot write to '{ro}'"),
            (["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.9", "--out", str(ro / "v")],
             f"--out: cannot write to '{ro}' (to create '{ro / 'v'}')"),
            (["report", "cost", "--out", str(ro)], f"--out: cannot write to '{ro}'"),
            (["trees", "--out", str(ro / "reports")], "--out: cannot write to"),
        ]
        for argv, message in cases:
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, err
            assert "read-only file system" in err or "permission denied" in err
        assert os.listdir(ro) == []


@pytest.mark.parametrize("argv, message", [
    (["run", "{m_laughs}"], "YAML aliases (*name) are not allowed"),
    (["run", "{m_deep}"], "nested more than 32 levels deep"),
    (["bench", "--model", "bert-tiny", "--backend", "torch", "--batch", "1000000000"], "needs at least"),
    (["results", "--last=-1"], "expected an integer >= 1"),
])
def test_the_real_entry_point_prints_one_line(argv, message, sandbox, tmp_path):
    out = harness_cli(*[a.format(**sandbox) for a in argv], env={"HARNESS_RESULTS_DIR": str(tmp_path / "r")})
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_the_checks_accept_what_is_valid(sandbox, tmp_path, monkeypatch):
    """The same commands with valid values reach their work (the checks are not simply refusing everything)."""
    import harness.measure.bench
    import harness.results.report.cost_report

    reached = []
    monkeypatch.setattr(harness.measure.bench, "run_configs", lambda configs, **kw: reached.append(configs) or [])
    monkeypatch.setattr(harness.results.report.cost_report, "write_cost_report", lambda *a, **kw: reached.append("report") or {})
    monkeypatch.setenv("HARNESS_RESULTS_DIR", str(tmp_path / "results"))
    assert main([*BENCH.split(), "--batch", "4", "--memory-limit-mb", "4096", "--results", str(tmp_path / "new" / "r")]) == 0
    assert main(["run", sandbox["matrix"], "--results", sandbox["dir"]]) == 0
    assert main(["report", "cost", "--out", str(tmp_path / "a" / "b"), "--max-quality-drop", "0"]) == 0
    assert [len(reached[0]), len(reached[1]), reached[2]] == [1, 1, "report"]
    assert reached[0][0].batch_size == 4 and reached[0][0].settings.memory_limit_mb == 4096
    assert not (tmp_path / "new").exists() and not (tmp_path / "a").exists()  # checking creates nothing


def test_a_limit_the_engine_cannot_even_load_under_is_recorded_as_oom(results_dir, capsys):
    """Above the up-front floor but below what torch maps when it loads (about 1 GB): the worker fails to load
    its libraries, and the record says oom, as the README's table of failures promises."""
    from harness.results.store import load_records

    code = main(["bench", "--model", "bert-tiny", "--backend", "torch", "--memory-limit-mb", "300", "--min-duration",
                 "0.05", "--min-iters", "5", "--warmup", "1", "--quiet"])
    capsys.readouterr()
    [rec] = load_records(results_dir)
    assert code == 1 and rec.status == "oom" and rec.reason.startswith("worker exceeded the 300 MB memory limit")


def test_the_memory_and_thread_bounds_give_known_answers():
    from types import SimpleNamespace

    from harness.contracts import BenchConfig, Settings
    from harness.foundation.errors import ConfigError
    from harness.foundation.limits import image_model_bytes, text_model_bytes
    from harness.measure.machine_fit import check_memory, check_threads

    text = SimpleNamespace(hidden_size=64, intermediate_size=128, num_attention_heads=4)
    # 16 tokens: int64 ids and mask (256 B) + fp32 residual stream (4 KB) + the wider of FFN (8 KB) and scores (2 KB)
    assert text_model_bytes(text, 2, 8) == 256 + 4 * (16 * 64 + 16 * 128)
    assert text_model_bytes(text, 2, 8, dense=False) == 256 + 4 * (16 * 64 + 16 * 64)
    assert text_model_bytes(text, 1, 512) == 8 * 512 * 2 + 4 * (512 * 64 + 4 * 512 * 512)  # scores dominate
    assert image_model_bytes(SimpleNamespace(num_channels=3, embedding_size=64), 1, 224) == 4 * (3 * 224**2 + 64 * 112**2)
    check_threads(2, cpus=2)
    check_threads(3, cpus=2, force=True)
    with pytest.raises(ConfigError, match="3 threads is more than the 2 CPU"):
        check_threads(3, cpus=2)
    with pytest.raises(ConfigError, match="1025 threads is more than the harness runs"):
        check_threads(1025, cpus=2, force=True)
    config = BenchConfig(model="bert-tiny", backend="torch", batch_size=2000, seq_len=128,
                         settings=Settings(memory_limit_mb=400))
    with pytest.raises(ConfigError, match=r"^--memory-limit-mb: 400 MB is too little for bert-tiny at batch 2000 x 128: "
                                          r"its inputs and activations need at least 566 MB, .* at least 256 MB$"):
        check_memory(config, flags={"settings.memory_limit_mb": "--memory-limit-mb"})
    with pytest.raises(ConfigError, match=r"^--batch: .* needs at least 566 MB .*; this machine has 256 MB of memory$"):
        check_memory(config.replace(settings=Settings()), flags={"batch_sizes": "--batch"}, ram_bytes=256 * 2**20)
    check_memory(config.replace(settings=Settings(memory_limit_mb=823)))  # 566 + 256 MB, rounded up
