"""The reliability probe of issue 22, replayable: each case is a command line an ordinary but hostile user
would type (bad files, paths that are not there, directories that hold their own files), run through the real
entry point in a subprocess and judged:

    good  the command did what it should: refused bad input in one line with exit status 2 and nothing
          stored, kept the user's files, or (for a valid flow) finished with exit status 0
    weak  no traceback and nothing lost, but not what the README promises (exit 0 on a path that is not
          there, an `error` record after a worker started, a silent substitute, more than one line)
    bad   a traceback, or a user's file deleted

    PYTHONPATH=$PWD .venv/bin/python -m tests.helpers.reliability_probe            # every case (a few minutes)
    PYTHONPATH=$PWD .venv/bin/python -m tests.helpers.reliability_probe -k byo     # the cases whose name has "byo"
    PYTHONPATH=$PWD .venv/bin/python -m tests.helpers.reliability_probe --json probe.json
    PYTHONPATH=$PWD .venv/bin/python -m tests.helpers.reliability_probe --repo /tmp/old-tree   # "before": another tree

The files each case needs (a fine-tuned checkpoint, a plain save_pretrained directory, damaged copies, data
that is not UTF-8, variants made from another model, a store with a NaN statistic) are made once under a
temporary directory. The SST-2 data comes from $HARNESS_DATA_DIR (default ../shared/data/sst2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[2]
TARGET = {"repo": REPO}  # the tree whose harness the cases run (--repo), this one by default
QUICK = ["--min-duration", "0.05", "--min-iters", "5", "--warmup", "1", "--quiet"]
FINETUNE = ["--steps", "5", "--max-train", "64", "--batch-size", "8"]


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str  # "refuse": exit 2 in one line, nothing stored; "work": exit 0; "keep": exit 2 and the files stay
    check: Callable[[subprocess.CompletedProcess, Path], str | None] | None = None  # extra: a reason it is weak
    keep: list[str] = field(default_factory=list)  # files that must survive ("keep" cases)


def _env(extra=None) -> dict:
    return {**os.environ, "PYTHONPATH": str(TARGET["repo"]), **(extra or {})}


def cli(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=TARGET["repo"], env=_env(env), timeout=timeout)


def stored_lines(results: Path) -> int:
    runs = results / "runs"
    return sum(len(p.read_text().splitlines()) for p in runs.glob("*.jsonl")) if runs.is_dir() else 0


def judge(case: Case, out: subprocess.CompletedProcess, results: Path) -> tuple[str, str]:
    """(good | weak | bad, why)."""
    err = out.stderr
    lost = [k for k in case.keep if not Path(k).exists()]
    if "Traceback" in err + out.stdout:
        last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["?"]
        return "bad", f"traceback: {last[0][:160]}"
    if lost:
        return "bad", f"deleted: {', '.join(Path(k).name for k in lost)}"
    if case.expect in ("refuse", "keep"):
        stored = stored_lines(results)
        if out.returncode != 2:
            return "weak", f"exit {out.returncode}" + (f", {stored} record(s) stored" if stored else "") + \
                f": {(err.strip().splitlines() or ['(no message)'])[-1][:160]}"
        if err.count("\n") != 1:
            return "weak", f"exit 2 but {err.count(chr(10))} lines on stderr"
        if stored:
            return "weak", f"exit 2 but {stored} record(s) stored"
    elif out.returncode != 0:
        return "weak", f"exit {out.returncode}: {(err.strip().splitlines() or ['?'])[-1][:160]}"
    extra = case.check(out, results) if case.check else None
    if extra:
        return "weak", extra
    return "good", (err.strip().splitlines() or out.stdout.strip().splitlines() or [""])[-1][:160]


# -- the files the cases use ---------------------------------------------------------------------------------

def _copy_data(src: Path, dst: Path, rows: int | None = None) -> Path:
    """A copy of an SST-2 directory, or of its header and first `rows` rows of each split."""
    dst.mkdir(parents=True)
    for name in ("train.tsv", "dev.tsv"):
        if rows is None:
            shutil.copyfile(src / name, dst / name)
        else:
            with open(src / name, "rb") as fh:
                (dst / name).write_bytes(b"".join(line for _, line in zip(range(rows + 1), fh)))
    return dst


def checkpoint_files(root: Path) -> dict[str, Path]:
    """Checkpoint directories: a plain save_pretrained one (model and tokenizer, as a user brings one), the same
    without its tokenizer, a 1,000-token model saved with a 30,522-token tokenizer, config only, weights of another
    shape than the config says, and a truncated weight file."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from harness.models.tokenizers import package_tokenizer

    f: dict[str, Path] = {}
    tok = package_tokenizer()
    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128, num_labels=2)
    torch.manual_seed(0)
    plain = f["plain"] = root / "plain"
    BertForSequenceClassification(BertConfig(vocab_size=len(tok), **small)).save_pretrained(plain)
    tok.save_pretrained(plain)
    f["no_tok"] = root / "no-tokenizer"
    shutil.copytree(plain, f["no_tok"], ignore=shutil.ignore_patterns("tokenizer*", "vocab*", "special*"))
    f["small_vocab"] = root / "small-vocab"
    BertForSequenceClassification(BertConfig(vocab_size=1000, **small)).save_pretrained(f["small_vocab"])
    tok.save_pretrained(f["small_vocab"])
    f["config_only"] = root / "config-only"
    f["config_only"].mkdir()
    shutil.copyfile(plain / "config.json", f["config_only"] / "config.json")
    f["misfit"] = root / "misfit"
    shutil.copytree(plain, f["misfit"])
    cfg = json.loads((plain / "config.json").read_text())
    cfg["hidden_size"], cfg["intermediate_size"] = 64, 128
    (f["misfit"] / "config.json").write_text(json.dumps(cfg))
    f["truncated_ckpt"] = root / "truncated-checkpoint"
    shutil.copytree(plain, f["truncated_ckpt"])
    _truncate(f["truncated_ckpt"] / "model.safetensors")
    return f


def damaged_variants(good: Path, other: Path, root: Path) -> dict[str, Path]:
    """Copies of the variant `good` with one thing wrong each; `other` is a variant of another model."""
    f = {"v_truncated": root / "truncated", "v_bad_json": root / "bad-json", "v_bad_arch": root / "bad-architecture",
         "v_bad_field": root / "bad-field", "v_other_weights": root / "other-weights"}
    for path in f.values():
        shutil.copytree(good, path)
    _truncate(f["v_truncated"] / "model.safetensors")
    (f["v_bad_json"] / "manifest.json").write_text('{"kind": "harness-variant", "schema_version": 2, ')
    m = json.loads((good / "manifest.json").read_text())
    arch = {"schema_version": 1, "structure": "heads", "layers": {"nope": {"units": 4, "keep": [0]}}}
    (f["v_bad_arch"] / "manifest.json").write_text(json.dumps({**m, "architecture": arch}))
    (f["v_bad_field"] / "manifest.json").write_text(json.dumps({**m, "realised_sparsity": "half"}))
    shutil.copyfile(other / "model.safetensors", f["v_other_weights"] / "model.safetensors")
    return f


def variant_files(root: Path) -> dict[str, Path]:
    """A variant of bert-tiny and one of distilbert-tiny (the seeded dense weights with a one-shot magnitude
    manifest: what is checked is the directory, not the pruning), and damaged copies of the first."""
    from harness.models.registry import model_family
    from harness.variants.neural import save_variant

    manifest = {"method": "magnitude", "structure": "unstructured", "target_sparsity": 0.0,
                "realised_sparsity": {"overall": 0.0, "per_layer": {}}}
    f = {name: save_variant(model_family(model).build(seed=0), model, manifest, root / name)
         for name, model in (("v", "bert-tiny"), ("v_distil", "distilbert-tiny"))}
    return f | damaged_variants(f["v"], f["v_distil"], root)


def make_small_files(root: Path) -> dict[str, str]:
    """The files of make_files in seconds, for property tests: checkpoints, variants and an SST-2 directory of a
    few rows, with a copy that is not UTF-8."""
    f = checkpoint_files(root) | variant_files(root / "variants")
    f["data"] = root / "sst2"
    f["data"].mkdir()
    rows = "".join(f"{'a fine film' if i % 2 else 'a dull film'}\t{i % 2}\n" for i in range(8))
    for name in ("train.tsv", "dev.tsv"):
        (f["data"] / name).write_text("sentence\tlabel\n" + rows)
    f["latin1_dev"] = _copy_data(f["data"], root / "latin1-dev")
    with open(f["latin1_dev"] / "dev.tsv", "ab") as fh:
        fh.write(b"caf\xe9 au lait\t1\n")
    return {k: str(v) for k, v in f.items()}


def make_files(root: Path, data: Path) -> dict[str, str]:
    """Everything the cases refer to, by name (the data damaged copies of SST-2; `data_slice` its first 128 rows
    of each split, for a flow that trains and evaluates in seconds)."""
    f: dict[str, Path] = {"data": data, "root": root, **checkpoint_files(root)}
    f["data_slice"] = _copy_data(data, root / "sst2-slice", rows=128)
    # data: dev.tsv / train.tsv not UTF-8, dev.tsv without a label column, one row short of a cell
    f["latin1_dev"] = _copy_data(data, root / "latin1-dev")
    with open(f["latin1_dev"] / "dev.tsv", "ab") as fh:
        fh.write(b"1\tcaf\xe9 au lait , tr\xe8s bon\n")
    f["latin1_train"] = _copy_data(data, root / "latin1-train")
    with open(f["latin1_train"] / "train.tsv", "ab") as fh:
        fh.write(b"na\xefve\t1\n")
    f["no_label"] = _copy_data(data, root / "no-label")
    lines = (f["no_label"] / "dev.tsv").read_text().splitlines()
    (f["no_label"] / "dev.tsv").write_text("\n".join(["sentence\tpolarity"] + lines[1:]) + "\n")
    f["short_row"] = _copy_data(data, root / "short-row")
    with open(f["short_row"] / "dev.tsv", "a") as fh:
        fh.write("just a sentence without a label\n")
    f["bad_csv"] = root / "reviews.csv"
    f["bad_csv"].write_bytes(b"text,label\nd\xe9j\xe0 vu,1\n")
    f |= variant_files(root / "variants")
    # a store with a NaN statistic
    f["nan_store"] = root / "nan-store"
    (f["nan_store"] / "runs").mkdir(parents=True)
    sys.path.insert(0, str(REPO))
    from tests.helpers.records import record

    rec = record("nan1", model="bert-tiny", backend="torch", p50=1.0).to_json()
    rec["metrics"]["latency_ms"]["p50"] = float("nan")
    (f["nan_store"] / "runs" / "m1.jsonl").write_text(json.dumps(rec) + "\n")
    f["matrix_big"] = root / "big.yaml"
    f["matrix_big"].write_text("models: [bert-tiny, distilbert-tiny, minilm-tiny, bert-base]\nbackends: [torch, onnxruntime]\n"
                               "threads: [1, 2, 4, 8, 16, 32, 64, 128]\nbatch_sizes: [1, 2, 4, 8, 16, 32, 64, 128]\n"
                               "seq_lens: [8, 12, 16, 24, 32, 48, 64, 96]\nprecisions: [fp32, int8]\n"
                               "kernels: [dense, sparse]\n")
    return {k: str(v) for k, v in f.items()}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# -- the cases -----------------------------------------------------------------------------------------------

def users_dir(root: Path, name: str) -> str:
    """A directory of the user's own (a fresh one per case): a file and a subdirectory the harness did not write."""
    mine = root / f"mine-{name}"
    (mine / "figures").mkdir(parents=True)
    (mine / "thesis.tex").write_text("four years of work\n")
    (mine / "figures" / "plot.png").write_bytes(b"\x89PNG")
    return str(mine)


def _no_run_line(out, results):
    return "said it ran after failing" if "run records in" in out.stdout + out.stderr else None


def _warns_nan(out, results):
    return None if "nan" in (out.stdout + out.stderr).lower() or "not finite" in out.stderr else "NaN shown as '-' silently"


def _dry_run_marks_misfits(out, results):
    marked = "runs_here" in out.stdout and "do not fit this machine" in out.stderr
    return None if marked else "lists threads this machine cannot run as if they would run"


def _distinct_machine_ids(out, results):
    return None if out.stdout.strip() == "distinct" else f"Milan and Genoa share a machine id ({out.stdout.strip()})"


MACHINE_IDS = """
import harness.foundation.machine as m
milan = {"vendor_id": "AuthenticAMD", "model name": "AMD EPYC", "cpu family": "25", "model": "1", "stepping": "1",
         "flags": "fpu sse avx avx2 fma"}
genoa = {"vendor_id": "AuthenticAMD", "model name": "AMD EPYC", "cpu family": "25", "model": "17", "stepping": "1",
         "flags": "fpu sse avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16"}
ids = []
for info in (milan, genoa):
    m._cpuinfo = lambda info=info: dict(info)
    m._static_fingerprint.cache_clear()
    ids.append(m._static_fingerprint()["id"])
print("distinct" if ids[0] != ids[1] else "same")
"""


def cases(f: dict[str, str], root: Path) -> list[Case]:
    ft = str(root / "ft")
    data = f["data"]
    bench = ["bench", "--backend", "onnxruntime", *QUICK]
    task = ["--task", "sst2", "--data", data, "--eval-limit", "50"]
    mine = {name: users_dir(root, name) for name in ("finetune", "prune", "report", "fleet", "trees")}
    return [
        # 1. the bring-your-own flow, on what finetune writes and on a plain save_pretrained directory
        Case("byo finetune", ["finetune", "bert-tiny", "--data", data, *FINETUNE, "--out", ft], "work"),
        Case("byo finetune: bench --task", [*bench, "--checkpoint", ft, *task], "work"),
        Case("byo finetune: prune --checkpoint", ["prune", "--checkpoint", ft, "--method", "magnitude", "--sparsity",
                                                  "0.5", "--data", data, "--no-progress", "--out", root / "ft-50"], "work"),
        Case("byo finetune: bench --variant", [*bench, "--checkpoint", ft, "--variant", f"dense,{root / 'ft-50'}", *task],
             "work"),
        Case("byo plain: bench --task", [*bench, "--checkpoint", f["plain"], *task], "work"),
        Case("byo plain: prune --checkpoint", ["prune", "--checkpoint", f["plain"], "--method", "magnitude", "--sparsity",
                                               "0.5", "--no-progress", "--out", root / "plain-50"], "work"),
        Case("byo plain: bench --variant", [*bench, "--checkpoint", f["plain"], "--variant", root / "plain-50", *task],
             "work"),
        Case("byo tokenizer beyond the vocabulary", [*bench, "--checkpoint", f["small_vocab"], *task], "refuse"),
        Case("byo tokenizer beyond the vocabulary: finetune", ["finetune", "--checkpoint", f["small_vocab"], "--data",
                                                               data, *FINETUNE, "--out", root / "x1"], "refuse"),
        Case("byo no tokenizer: bench --task", [*bench, "--checkpoint", f["no_tok"], *task], "refuse"),
        Case("byo no tokenizer: latency only works", [*bench, "--checkpoint", f["no_tok"]], "work"),
        # 2. nothing a user owns is deleted
        Case("out finetune into a user's directory", ["finetune", "bert-tiny", "--data", data, *FINETUNE, "--out",
                                                      mine["finetune"]], "keep", keep=[mine["finetune"] + "/thesis.tex"]),
        Case("out prune into a user's directory", ["prune", "bert-tiny", "--method", "magnitude", "--sparsity", "0.5",
                                                   "--out", mine["prune"]], "keep", keep=[mine["prune"] + "/thesis.tex"]),
        Case("out report cost into a user's directory", ["report", "cost", "--out", mine["report"], "--results",
                                                         f["nan_store"]], "keep", keep=[mine["report"] + "/thesis.tex"]),
        Case("out fleet plan into a user's directory", ["fleet", "plan", str(TARGET["repo"] / "matrices" / "quick.yaml"),
                                                        "--instance-types", "c7a.large", "--shards", "2", "--results",
                                                        "s3://b/p", "--out", mine["fleet"]], "keep",
             keep=[mine["fleet"] + "/thesis.tex"]),
        Case("out trees variants into a user's directory", ["trees", "--dataset", "wine", "--no-bench", "--out",
                                                            root / "trees-out", "--variants", mine["trees"]], "keep",
             keep=[mine["trees"] + "/thesis.tex", mine["trees"] + "/figures/plot.png"]),
        Case("out finetune over its own checkpoint", ["finetune", "bert-tiny", "--data", data, *FINETUNE, "--seed", "1",
                                                      "--out", ft], "work"),
        # 3. input files checked before work
        Case("data dev.tsv not UTF-8: bench --task", [*bench, "--model", "bert-tiny", "--task", "sst2", "--data",
                                                     f["latin1_dev"]], "refuse"),
        Case("data dev.tsv not UTF-8: finetune", ["finetune", "bert-tiny", "--data", f["latin1_dev"], *FINETUNE,
                                                  "--out", root / "x2"], "refuse"),
        Case("data train.tsv not UTF-8: finetune", ["finetune", "bert-tiny", "--data", f["latin1_train"], *FINETUNE,
                                                    "--out", root / "x3"], "refuse"),
        Case("data train.tsv not UTF-8: prune --data", ["prune", "bert-tiny", "--method", "magnitude", "--sparsity",
                                                        "0.5", "--data", f["latin1_train"], "--out", root / "x4"],
             "refuse"),
        Case("data dev.tsv without a label column", [*bench, "--model", "bert-tiny", "--task", "sst2", "--data",
                                                     f["no_label"]], "refuse"),
        Case("data dev.tsv with a short row", [*bench, "--model", "bert-tiny", "--task", "sst2", "--data",
                                               f["short_row"]], "refuse"),
        Case("data text-classification file not UTF-8", [*bench, "--model", "bert-tiny", "--task",
                                                         "text-classification", "--data", f["bad_csv"],
                                                         "--text-columns", "text", "--label-column", "label"], "refuse"),
        Case("data directory missing", [*bench, "--model", "bert-tiny", "--task", "sst2", "--data", root / "nope"],
             "refuse"),
        Case("checkpoint config only", [*bench, "--checkpoint", f["config_only"]], "refuse"),
        Case("checkpoint weights do not fit its config", [*bench, "--checkpoint", f["misfit"]], "refuse"),
        Case("checkpoint truncated safetensors", [*bench, "--checkpoint", f["truncated_ckpt"]], "refuse"),
        Case("checkpoint truncated: prune", ["prune", "--checkpoint", f["truncated_ckpt"], "--method", "magnitude",
                                             "--sparsity", "0.5", "--out", root / "x5"], "refuse"),
        Case("variant truncated safetensors", [*bench, "--model", "bert-tiny", "--variant", f["v_truncated"]], "refuse"),
        Case("variant made from another model", [*bench, "--model", "bert-tiny", "--variant", f["v_distil"]], "refuse"),
        Case("variant weights of another model", [*bench, "--model", "bert-tiny", "--variant", f["v_other_weights"]],
             "refuse"),
        Case("variant manifest not JSON", [*bench, "--model", "bert-tiny", "--variant", f["v_bad_json"]], "refuse"),
        Case("variant manifest field of the wrong type", [*bench, "--model", "bert-tiny", "--variant",
                                                          f["v_bad_field"]], "refuse"),
        Case("variant architecture names no layer", [*bench, "--model", "bert-tiny", "--variant", f["v_bad_arch"]],
             "refuse"),
        Case("variant truncated: prune --from", ["prune", "bert-tiny", "--from", f["v_truncated"], "--method",
                                                 "magnitude", "--sparsity", "0.6", "--out", root / "x6"], "refuse"),
        Case("variant valid works", [*bench, "--model", "bert-tiny", "--variant", f"dense,{f['v']}"], "work"),
        # 4. paths that must exist
        Case("path results --results missing", ["results", "--results", root / "no-such"], "refuse"),
        Case("path report cost --results missing", ["report", "cost", "--results", root / "no-such", "--out",
                                                    root / "rep"], "refuse"),
        Case("path regressions --results missing", ["regressions", "--results", root / "no-such"], "refuse"),
        Case("path bench --results empty", [*bench, "--model", "bert-tiny", "--results", ""], "refuse"),
        Case("path nightly --repo missing", ["nightly", "--quick", "--repo", root / "no-such", "--results",
                                             root / "night"], "refuse"),
        Case("path nightly --bench bad regex", ["nightly", "--quick", "--bench", "(", "--results", root / "night"],
             "refuse", check=_no_run_line),
        Case("path regressions --repo missing", ["regressions", "--since", "HEAD~1", "--repo", root / "no-such",
                                                 "--results", f["nan_store"]], "refuse"),
        # 5. the rest of the issue
        Case("trees --dataset wine", ["trees", "--dataset", "wine", "--out", root / "trees", "--min-duration", "0.05",
                                      "--max-variants", "2", "--batch", "1", "--backend", "sklearn", "--quiet",
                                      "--results", root / "trees-results"], "work"),
        Case("results with a NaN p50", ["results", "--results", f["nan_store"]], "work", check=_warns_nan),
        Case("run --dry-run of 16,384 configurations", ["run", f["matrix_big"], "--dry-run"], "work",
             check=_dry_run_marks_misfits),
        Case("machine id tells Milan from Genoa", ["-c", MACHINE_IDS], "work", check=_distinct_machine_ids),
    ]


def run_case(case: Case, results: Path) -> subprocess.CompletedProcess:
    env = {"HARNESS_RESULTS_DIR": str(results), "HARNESS_RESCUE_DIR": str(results / "rescued")}
    if case.argv[0] == "-c":
        return subprocess.run([sys.executable, *case.argv], capture_output=True, text=True, cwd=TARGET["repo"],
                              env=_env(env), timeout=600)
    return cli(*case.argv, env=env)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default=None, help="only cases whose name contains this")
    parser.add_argument("--json", default=None, help="write the outcomes here")
    parser.add_argument("--repo", default=None, help="run the cases against the harness of this tree (default: this one)")
    args = parser.parse_args(argv)
    if args.repo:
        TARGET["repo"] = Path(args.repo).resolve()
    data = Path(os.environ.get("HARNESS_DATA_DIR") or REPO.parent / "shared" / "data" / "sst2")
    with tempfile.TemporaryDirectory(prefix="harness-probe-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("HARNESS_CACHE_DIR", str(root / "cache"))
        files = make_files(root / "files", data)
        outcomes = []
        for i, case in enumerate(cases(files, root)):
            if args.k and args.k not in case.name:
                continue
            results = root / f"results-{i}"
            started = time.monotonic()
            out = run_case(case, results)
            verdict, why = judge(case, out, results)
            outcomes.append({"case": case.name, "expect": case.expect, "verdict": verdict, "exit": out.returncode,
                             "why": why, "seconds": round(time.monotonic() - started, 1)})
            print(f"{verdict:5} {case.name:52} exit {out.returncode:3}  {why}", flush=True)
    counts = {v: sum(o["verdict"] == v for o in outcomes) for v in ("good", "weak", "bad")}
    print(f"tried {len(outcomes)}: good {counts['good']}, weak {counts['weak']}, bad {counts['bad']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"counts": counts, "outcomes": outcomes}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
