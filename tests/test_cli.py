"""The command layer: every command has help with an example; bad input is one line, never a traceback."""

import json

import pytest

from harness.cli import COMMANDS, build_parser, main
from tests.conftest import harness_cli


def test_every_command_has_help_with_an_example():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "example:" in text and "harness " + name.split()[0] in text, name


def test_help_runs_as_a_program():
    out = harness_cli("--help")
    assert out.returncode == 0 and "bench" in out.stdout


@pytest.mark.parametrize("argv, message", [
    (["bench", "--model", "gpt5", "--backend", "torch"], "--model: unknown value 'gpt5'; valid: bert-base, distilbert, resnet50, minilm"),
    (["bench", "--model", "bert-tiny", "--backend", "tensorrt"], "--backend: unknown value 'tensorrt'; valid: torch, onnxruntime, openvino"),
    (["bench", "--model", "bert-tiny", "--backend", "torch", "--precision", "int4"], "--precision: unknown value 'int4'; valid: fp32, bf16"),
    (["bench", "--model", "bert-tiny", "--backend", "torch", "--threads", "two"], "argument --threads: expected integers, got 'two'"),
    (["bench", "--model", "bert-tiny", "--backend", "torch", "--scenario", "server"], "--scenario server needs --sla-ms"),
    (["run", "/nonexistent/matrix.yaml"], "matrix file '/nonexistent/matrix.yaml' does not exist"),
    (["results", "--format", "xml"], "unknown format 'xml'; valid choices: table, csv, json"),
])
def test_bad_input_is_one_line(argv, message, capsys, results_dir):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_option_names_it():
    out = harness_cli("bench", "--model", "bert-tiny", "--backend", "torch", "--frobnicate")
    assert out.returncode == 2 and "unrecognized arguments: --frobnicate" in out.stderr


def test_models_lists_the_zoo(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("bert-base", "distilbert", "resnet50", "minilm", "bert-tiny"):
        assert name in out


def test_bench_then_results_table_csv_json(results_dir, capsys):
    code = main(["bench", "--model", "bert-tiny", "--backend", "onnxruntime", "--seq", "16", "--min-duration", "0.05",
                 "--min-iters", "5", "--warmup", "1", "--quiet", "--instance-type", "c7a.large"])
    assert code == 0
    capsys.readouterr()
    assert main(["results", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1 and records[0]["status"] == "ok"
    assert records[0]["machine"]["instance_type"] == "c7a.large"
    assert main(["results", "--format", "csv"]) == 0
    csv_text = capsys.readouterr().out
    header = csv_text.splitlines()[0].split(",")
    assert {"model", "backend", "p50_ms", "throughput_per_s", "instance_type"} <= set(header)
    assert len(csv_text.strip().splitlines()) == 2
    assert main(["results"]) == 0
    table = capsys.readouterr().out
    assert "bert-tiny" in table and "onnxruntime" in table and "p50_ms" in table


def test_run_matrix_with_dry_run_and_shard(tmp_path, capsys):
    m = tmp_path / "m.yaml"
    m.write_text("models: [bert-tiny]\nbackends: [torch, onnxruntime, openvino]\nthreads: [1, 2]\nbatch_sizes: [1]\nseq_lens: [16]\n")
    assert main(["run", str(m), "--dry-run"]) == 0
    full = capsys.readouterr().out
    assert full.count("bert-tiny") == 6
    rows = lambda text: sorted(line for line in text.splitlines() if line.startswith("bert-tiny"))  # noqa: E731
    shards = []
    for i in (1, 2):
        assert main(["run", str(m), "--dry-run", "--shard", f"{i}/2"]) == 0
        shards.append(rows(capsys.readouterr().out))
    assert [len(s) for s in shards] == [3, 3]  # balanced
    assert not set(shards[0]) & set(shards[1])  # disjoint
    assert sorted(shards[0] + shards[1]) == rows(full)  # together, the whole matrix


def test_bench_from_a_local_checkpoint(tmp_path, results_dir, capsys):
    from harness.models.registry import model_family

    model = model_family("bert-tiny").build(seed=7)
    model.save_pretrained(tmp_path / "ckpt")
    code = main(["bench", "--model", "bert-tiny", "--backend", "onnxruntime", "--checkpoint", str(tmp_path / "ckpt"),
                 "--min-duration", "0.05", "--min-iters", "5", "--warmup", "1", "--quiet"])
    assert code == 0
    capsys.readouterr()
    main(["results", "--format", "json"])
    [record] = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok" and record["config"]["checkpoint"] == str(tmp_path / "ckpt")
    assert main(["bench", "--model", "bert-tiny", "--backend", "torch", "--checkpoint", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
