"""A property of the whole command line: whatever the flags (nan, inf, negatives, huge numbers, text where a
number goes, paths that are files, under files, too long, read-only or missing, hostile matrix files) and
whatever the files (checkpoints: sound, without a tokenizer, with a tokenizer beyond the vocabulary, config
only, weights of another shape, truncated; variants: sound, of another model, truncated, a manifest that is
not JSON or has a field of the wrong type, an architecture naming no layer, another model's weights; data:
sound, not UTF-8), every command ends with exit code 0 or 2 (or gets past its checks to its work), never
shows a traceback, says what was wrong in one line, and leaves nothing half-written. A file that no command
can use is refused (exit 2) wherever it is given: it never reaches the work.

Work is replaced by stubs at the point where it begins (the functions in STUBS; measuring returns a made-up
record at once, so records really are appended), so this tests the checks, not the measurements.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness.cli import main
from tests.helpers.hostile import TINY_MATRIX, VALID_HOSTILE, complete_json_lines, hostile_yaml_files, readonly_dir
from tests.helpers.records import record
from tests.helpers.reliability_probe import make_small_files

REPO = Path(__file__).resolve().parents[1]


class ReachedWork(BaseException):
    """A command got past its checks to the work its stub stands in for."""


def _reached(*args, **kwargs):
    raise ReachedWork()


def _fake_measure(cfg, **kwargs):
    return record("fake", model=cfg.model, backend=cfg.backend, batch=cfg.batch_size, machine_id="m1")


STUBS = {
    ("harness.measure.bench", "measure"): _fake_measure, ("harness.workflows.demo", "run_demo"): _reached,
    ("harness.workflows.sweep", "ensure_variants"): _reached, ("harness.workflows.sweep", "run_sweep"): _reached,
    ("harness.workflows.trees.run", "run_trees"): _reached, ("harness.pruning.pruner", "prepare"): _reached,
    ("harness.workflows.finetune", "finetune"): _reached, ("harness.results.report.cost_report", "write_analysis"): _reached,
    ("harness.workflows.fleet.plan", "write_plan"): _reached,
    ("harness.workflows.fleet.collect", "collect"): _reached, ("harness.workflows.fleet.submit", "batch_client"): _reached,
    ("harness.workflows.fleet.worker", "run_shard"): _reached, ("harness.workflows.nightly.driver", "run_nightly"): _reached,
    ("harness.results.sync", "push"): _reached, ("harness.results.sync", "pull"): _reached, ("harness.pricing.aws", "refresh"): _reached,
}


@pytest.fixture(scope="module")
def stubs():
    with pytest.MonkeyPatch.context() as mp:
        for (module, name), fake in STUBS.items():
            mp.setattr(importlib.import_module(module), name, fake)
        yield


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Read-only inputs shared by every example: matrix files (a tiny one and hostile ones), a read-only dir."""
    root = tmp_path_factory.mktemp("cli-properties")
    (root / "matrix.yaml").write_text(TINY_MATRIX)
    files = {"matrix": str(root / "matrix.yaml"), "recipe": str(REPO / "recipes" / "magnitude-oneshot-90.yaml")}
    files |= {f"m_{k}": str(v) for k, v in hostile_yaml_files(root / "hostile").items()}
    files |= {f"f_{k}": v for k, v in make_small_files(root / "files").items()}
    with readonly_dir(root / "ro") as ro:
        files["ro"] = str(ro) if ro is not None else str(root / "matrix.yaml")
        yield files


# -- values -----------------------------------------------------------------------------------------------

NUMBER = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1", "2", "3", "0.5", "1e308", "-0", "1e-320", "1e9",
                     "99999999999999999999", "abc", "", "1,2", " 1", "0x10", "NaN", "+1"]),
    st.integers(-2**40, 2**40).map(str),
    st.floats().map(repr),
)
LIST = st.one_of(NUMBER, st.lists(st.integers(-3, 10**10).map(str), min_size=1, max_size=3).map(",".join))


def _path(sandbox: dict, shared: dict):
    return st.sampled_from([sandbox["file"], sandbox["dir"], sandbox["new"], sandbox["under_file"], sandbox["long"],
                            shared["ro"], str(Path(shared["ro"]) / "sub"), ""])


CHECKPOINTS = ("plain", "no_tok", "small_vocab", "config_only", "misfit", "truncated_ckpt")
VARIANTS = ("v", "v_distil", "v_truncated", "v_bad_json", "v_bad_arch", "v_bad_field", "v_other_weights")
DATA = ("data", "latin1_dev")
# files no command can use, whatever else the command line says
UNUSABLE = ("config_only", "misfit", "truncated_ckpt", "v_truncated", "v_bad_json", "v_bad_arch", "v_bad_field",
            "v_other_weights")


def _files(shared: dict, sandbox: dict, names) -> st.SearchStrategy:
    """A path of the sandbox, or one of the files `names` (as often)."""
    return st.one_of(_path(sandbox, shared), st.sampled_from([shared[f"f_{n}"] for n in names]))


def _matrix(shared: dict, sandbox: dict):
    hostile = [v for k, v in shared.items() if k.startswith("m_")]
    return st.sampled_from(hostile + [sandbox["long"], sandbox["under_file"], sandbox["dir"]] + [shared["matrix"]] * 4)


def _choice(*values):
    return st.sampled_from(values)


FLAG = None  # a flag without a value
# values that are wrong wherever the tables above put them: a command line holding one must be refused (exit 2),
# never get to its work or succeed
BAD_NUMBERS = ("nan", "NaN", "inf", "-inf", "abc", "0x10")
BAD_CHOICES = ("bogus", "nope", "gpt5", "xml", "mars-1")


def bad_values(argv: list[str], sandbox: dict, shared: dict) -> list[str]:
    hostile = {v for k, v in shared.items() if k.startswith("m_") and k[2:] not in VALID_HOSTILE}
    values = {a.split("=", 1)[1] if a.startswith("--") and "=" in a else a for a in argv}
    return sorted(v for v in values if v in BAD_NUMBERS or v in BAD_CHOICES or v in hostile)


def command_tables(sandbox: dict, shared: dict) -> dict:
    """command -> (base argv strategy, {flag: value strategy or FLAG})."""
    path, matrix = _path(sandbox, shared), _matrix(shared, sandbox)
    checkpoint, variant = _files(shared, sandbox, CHECKPOINTS), _files(shared, sandbox, VARIANTS)
    data = st.sampled_from([sandbox["dir"], sandbox["file"], sandbox["new"], shared["f_data"], shared["f_latin1_dev"]])
    model = _choice("bert-tiny", "resnet50-tiny", "distilbert-tiny", "tree-wine", "gpt5", "bert-tiny,bert-tiny")
    s3 = _choice("s3://bucket/prefix", "http://x", "", "s3://")
    measurement = {"--min-duration": NUMBER, "--min-iters": NUMBER, "--warmup": NUMBER, "--timeout": NUMBER,
                   "--memory-limit-mb": NUMBER, "--streams": NUMBER, "--no-pinning": FLAG, "--force-threads": FLAG}
    base = lambda *parts: st.tuples(*[p if isinstance(p, st.SearchStrategy) else st.just(p) for p in parts])  # noqa: E731
    return {
        "bench": (base("bench", "--model", model, "--backend", _choice("torch", "onnxruntime", "torch,onnxruntime", "nope")),
                  {"--threads": LIST, "--batch": LIST, "--seq": LIST, "--repeat": NUMBER, "--results": path,
                   "--scenario": _choice("single-stream", "offline", "server", "bogus"), "--sla-ms": NUMBER,
                   "--precision": _choice("fp32", "bf16", "int4"), "--kernel": _choice("dense", "sparse", "x"),
                   "--task": _choice("teacher", "sst2", "bogus"), "--data": data, "--eval-limit": NUMBER,
                   "--skip-recorded": FLAG, "--instance-type": _choice("c7a.large", "", "x" * 300), "--variant": variant,
                   "--checkpoint": checkpoint, **measurement}),
        "run": (base("run", matrix),
                {"--shard": _choice("1/2", "0/0", "3/2", "a/b", "auto", "", "1/1"), "--repeat": NUMBER,
                 "--results": path, "--force-threads": FLAG, "--dry-run": FLAG, "--force": FLAG,
                 "--task": _choice("teacher", "bogus"), "--eval-limit": NUMBER}),
        "prune": (base("prune", _choice("bert-tiny", "resnet50-tiny", "gpt5"), "--out", path),
                  {"--method": _choice("magnitude", "movement", "second-order", "bogus"), "--sparsity": NUMBER,
                   "--structure": _choice("unstructured", "heads", "layers", "channels", "2:4", "bogus"),
                   "--steps": NUMBER, "--seed": NUMBER, "--keep-layers": _choice("0", "0,1", "99", "a", "-1", ""),
                   "--schedule": _choice("oneshot", "cubic", "x"), "--from": variant, "--checkpoint": checkpoint,
                   "--data": data,
                   "--recipe": st.one_of(st.sampled_from([shared["recipe"], shared["m_laughs"], shared["m_deep"]]), matrix)}),
        "finetune": (base("finetune", _choice("bert-tiny", "resnet50-tiny", "gpt5"), "--out", path, "--data", data),
                     {"--steps": NUMBER, "--lr": NUMBER, "--batch-size": NUMBER, "--max-train": NUMBER, "--seq": NUMBER,
                      "--seed": NUMBER, "--checkpoint": checkpoint}),
        "trees": (base("trees"),
                  {"--dataset": _choice("breast_cancer", "wine", "bogus"), "--out": path, "--variants": path,
                   "--results": path, "--threads": NUMBER, "--batch": LIST, "--min-duration": NUMBER, "--repeat": NUMBER,
                   "--max-variants": NUMBER, "--seed": NUMBER, "--backend": _choice("sklearn", "onnxruntime", "x"),
                   "--no-bench": FLAG, "--force-threads": FLAG}),
        "report": (base("report", "cost", "--out", path),
                   {"--sla-ms": NUMBER, "--qps": NUMBER, "--max-quality-drop": NUMBER, "--results": path,
                    "--region": _choice("us-east-2", "mars-1", ""), "--instances": _choice("c7a.large", "x", ""),
                    "--project-to": _choice("t4g.xlarge", "x"), "--purchase-option": _choice("on-demand", "both", "x"),
                    "--example": _choice("seed", "x"), "--prices": path, "--snapshot-dir": path}),
        "results": (st.one_of(base("results"), base("results", _choice("pull", "push", "bogus"), s3)),
                    {"--last": NUMBER, "--format": _choice("table", "csv", "json", "xml"), "--results": path,
                     "--status": _choice("ok", "x"), "--model": _choice("bert-tiny", "")}),
        "sweep": (base("sweep", "--model", _choice("bert-tiny", "resnet50-tiny", "gpt5")),
                  {"--sparsities": st.one_of(NUMBER, st.lists(NUMBER, min_size=1, max_size=3).map(",".join)),
                   "--threads": NUMBER, "--batch": NUMBER, "--seq": NUMBER, "--repeat": NUMBER, "--out": path,
                   "--variants-dir": path, "--results": path, "--sparse-threshold": NUMBER,
                   "--openvino-sparse-rate": NUMBER, "--prepare-only": FLAG, "--kernel": _choice("dense", "x"),
                   **measurement}),
        "fleet": (st.one_of(
            base("fleet", "plan", matrix, "--instance-types", _choice("c7a.large", "c7a.large,g4dn.xlarge", "nope", ""),
                 "--shards", NUMBER, "--results", s3, "--out", path),
            base("fleet", "collect", "--results", s3, "--out", path),
            base("fleet", "submit", path)),
            {"--retries": NUMBER, "--timeout-min": NUMBER, "--sla-ms": NUMBER, "--qps": NUMBER, "--into": path,
             "--poll-s": NUMBER, "--plan": path}),
        "regressions": (base("regressions"), {"--threshold": NUMBER, "--alpha": NUMBER, "--results": path,
                                              "--format": _choice("table", "json", "x")}),
        "other": (st.one_of(base("prices", "show"), base("demo", "--results", path), base("nightly", "--results", path),
                            base("demo", "--matrix", matrix)),
                  {"--max-age-days": NUMBER, "--no-prune": FLAG, "--prices": path, "--region": _choice("us-east-2", "x")}),
    }


def command_line(table):
    base, flags = table

    def build(parts):
        head, chosen = parts
        argv = list(head)
        for name, value, joined in chosen:
            if value is None:
                argv.append(name)
            elif joined:
                argv.append(f"{name}={value}")
            else:
                argv += [name, value]
        return argv

    one = st.sampled_from(sorted(flags)).flatmap(
        lambda name: st.tuples(st.just(name), flags[name] if flags[name] is not FLAG else st.none(), st.booleans()))
    return st.tuples(base, st.lists(one, max_size=4, unique_by=lambda t: t[0])).map(build)


# -- the property ----------------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), p.stat().st_size if p.is_file() else 0) for p in root.rglob("*")}


def _sandbox(root: Path) -> dict:
    (root / "afile").write_text("a file\n")
    (root / "adir").mkdir()
    return {"file": str(root / "afile"), "dir": str(root / "adir"), "new": str(root / "new" / "x"),
            "under_file": str(root / "afile" / "sub"), "long": str(root / ("n" * 300))}


def _call(argv: list[str]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            outcome = main(argv)
        except ReachedWork:
            outcome = "work"
    return outcome, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", ["bench", "run", "prune", "finetune", "trees", "report", "results", "sweep", "fleet",
                                     "regressions", "other"])
@settings(max_examples=int(os.environ.get("CLI_PROPERTY_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_command_line_exits_0_or_2_in_one_line_and_leaves_nothing_half_written(command, data, stubs, shared):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sandbox = _sandbox(root)
        argv = data.draw(command_line(command_tables(sandbox, shared)[command]), label="argv")
        before = _snapshot(root)
        cwd, env = os.getcwd(), dict(os.environ)
        os.chdir(root)
        os.environ.update({"HARNESS_RESULTS_DIR": str(root / "results"), "HARNESS_DATA_DIR": sandbox["dir"],
                           "HARNESS_RESCUE_DIR": str(root / "rescued")})
        try:
            outcome, out, err = _call(argv)
        finally:
            os.chdir(cwd)
            os.environ.clear()
            os.environ.update(env)
        event(f"outcome: {outcome}")  # counted by --hypothesis-show-statistics
        assert outcome in (0, 2, "work"), (argv, outcome, err[-2000:])
        bad = bad_values(argv, sandbox, shared)
        assert not bad or outcome == 2, (argv, bad, outcome)  # refused before any work, not run
        assert "Traceback" not in out + err, argv
        if outcome == 2:
            assert err.endswith("\n") and err.count("\n") == 1 and len(err) < 1000, (argv, err)
        unusable = {shared[f"f_{n}"] for n in UNUSABLE} | ({shared["f_latin1_dev"]} if argv[0] == "finetune" else set())
        if any(a in unusable or a.split("=", 1)[-1] in unusable for a in argv):
            assert outcome == 2, (argv, outcome, err[-2000:])  # refused wherever it is given, never worked on
        after = _snapshot(root)
        written = {k for k in after if after[k] != before.get(k)}
        records = {k for k in written if k.endswith(".jsonl")}
        # nothing is written but whole records (and the directories that hold them)
        holders = {str(parent) for k in records for parent in Path(k).parents}
        assert written <= records | holders, (argv, written)
        if records:
            assert outcome == 0 and argv[0] in ("bench", "run"), (argv, outcome)
            assert {line["record_id"] for line in complete_json_lines(root)} == {"fake"}
