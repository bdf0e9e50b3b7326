"""Hostile inputs for the reliability tests: files an adversary would hand the harness, and a directory that
cannot be written (also for root, who writes through permission bits: a read-only mount stops it)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

# the functions where each command's work begins: reaching one means validation let a bad input through
WORK = (
    ("harness.measure.bench", "run_configs"), ("harness.workflows.demo", "run_demo"), ("harness.workflows.sweep", "ensure_variants"),
    ("harness.workflows.sweep", "run_sweep"), ("harness.workflows.trees.run", "run_trees"), ("harness.pruning.pruner", "prepare"),
    ("harness.workflows.finetune", "finetune"), ("harness.results.report.cost_report", "write_analysis"), ("harness.workflows.fleet.plan", "write_plan"),
    ("harness.workflows.fleet.collect", "collect"), ("harness.workflows.fleet.worker", "run_shard"), ("harness.workflows.nightly.driver", "run_nightly"),
    ("harness.results.sync", "push"), ("harness.results.sync", "pull"), ("harness.pricing.aws", "refresh"),
)


def forbid_work(monkeypatch) -> None:
    """Make every function in WORK fail the test when called (a bad input must be refused before it)."""
    import importlib

    import pytest

    def reached(*args, **kwargs):
        pytest.fail("a bad input reached the work it should have prevented")

    for module, name in WORK:
        monkeypatch.setattr(importlib.import_module(module), name, reached)


TINY_MATRIX = "models: [bert-tiny]\nbackends: [torch]\nthreads: [1]\nbatch_sizes: [1]\nseq_lens: [16]\n"


def billion_laughs(levels: int = 10) -> str:
    """A matrix whose aliases expand to 9**levels strings."""
    text = 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        text += f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]\n"
    return text + f"models: *l{levels - 1}\nbackends: [torch]\nthreads: [1]\nbatch_sizes: [1]\n"


VALID_HOSTILE = ("long_value",)  # hostile in size only: a valid matrix under the size limit, read and run


def hostile_yaml_files(directory: Path) -> dict[str, Path]:
    """name -> a matrix file that must be refused in one line without running out of time, memory or stack."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = {
        "deep": "models: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "deep_mapping": "models: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n",
        "laughs": billion_laughs(),
        "alias": "a: &x [bert-tiny]\nmodels: *x\nbackends: [torch]\nthreads: [1]\nbatch_sizes: [1]\n",
        "undefined_alias": "models: *" + "x" * 10_000 + "\n",
        "huge_int": TINY_MATRIX.replace("threads: [1]", "threads: [" + "9" * 10_000 + "]"),
        "list_top": "- a\n- b\n",
        "scalar_top": "just a string\n",
        "empty": "",
        "tabs": "models:\t[bert-tiny]\n",
        "long_key": TINY_MATRIX + "k" * 100_000 + ": 1\n",
        "long_value": TINY_MATRIX + "name: " + "n" * 500_000 + "\n",
        "inf_threads": TINY_MATRIX.replace("threads: [1]", "threads: [.inf]"),
        "nan_batch": TINY_MATRIX.replace("batch_sizes: [1]", "batch_sizes: [.nan]"),
        "negative_seq": TINY_MATRIX.replace("seq_lens: [16]", "seq_lens: [-16]"),
        "python_tag": "models: !!python/object/apply:os.system ['echo pwned']\n",
        "sla_without_server": TINY_MATRIX + "settings: {sla_ms: 50}\n",
        "server_without_sla": TINY_MATRIX + "scenario: server\n",
        "huge_product": ("models: [bert-tiny]\nbackends: [torch]\n"
                         + "".join(f"{k}: [{', '.join(str(i) for i in range(1, 1001))}]\n"
                                   for k in ("threads", "batch_sizes", "seq_lens"))),
    }
    out = {name: directory / f"{name}.yaml" for name in texts}
    for name, text in texts.items():
        out[name].write_text(text)
    big = directory / "big.yaml"
    with open(big, "w") as fh:
        fh.write(TINY_MATRIX + "variants:\n")
        while fh.tell() < 10 * 2**20:
            fh.write("  - variants/some-long-variant-directory-name\n")
    out["big"] = big
    (directory / "binary.yaml").write_bytes(bytes(range(256)) * 10)
    out["binary"] = directory / "binary.yaml"
    (directory / "a_directory.yaml").mkdir(exist_ok=True)
    out["a_directory"] = directory / "a_directory.yaml"
    return out


@contextlib.contextmanager
def readonly_dir(path: Path):
    """A directory that this process cannot write into, or None when the test cannot make one here."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                             capture_output=True).returncode == 0
    try:
        yield path if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], capture_output=True)


def complete_json_lines(directory: Path) -> list[dict]:
    """Every line of every *.jsonl under `directory` as JSON; fails (raises) on a partial line."""
    out = []
    for path in sorted(Path(directory).rglob("*.jsonl")):
        data = path.read_bytes()
        assert not data or data.endswith(b"\n"), f"{path}: last line is incomplete"
        out += [json.loads(line) for line in data.splitlines() if line.strip()]
    return out
