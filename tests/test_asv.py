"""asv suites and `harness nightly`: suite selection, the tracked numbers, skips, and the whole asv path (run on
the existing environment for two commits, publish, regressions, a chart in headless Chromium). The vendored site
assets have their own tests (test_asv_site_assets.py)."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.cli import main
from harness.foundation.errors import ConfigError, HarnessError
from harness.workflows.nightly import assets, driver, measure, suites, variants
from tests.helpers.browser import headless, require_chromium
from tests.helpers.records import record

REPO = Path(__file__).resolve().parents[1]
TRACKS = {  # name: (unit, version)
    "bench_harness.Latency.track_p50_ms": ("ms", "1"),
    "bench_harness.TailLatency.track_p99_ms": ("ms", "1"),
    "bench_harness.Throughput.track_items_per_s": ("items/s", "1"),
    "bench_harness.ArtifactSize.track_artifact_mb": ("MB", "1"),
    "bench_harness.Quality.track_top1_agreement": ("agreement", "2"),
    "bench_harness.Cost.track_usd_per_million": ("$/1M inferences", "1"),
}
C7A_LARGE_US_EAST_2 = 0.10264  # bundled snapshot, on-demand $/h


# -- suites ----------------------------------------------------------------------------------------------------


def test_suite_selection_from_the_environment():
    assert suites.selected_suite({}).name == "nightly"
    assert suites.selected_suite({"HARNESS_ASV_QUICK": "1"}).name == "quick"
    assert suites.selected_suite({"HARNESS_ASV_QUICK": "0"}).name == "nightly"
    quick = suites.selected_suite({"HARNESS_ASV_SUITE": "quick", "HARNESS_ASV_INSTANCE_TYPE": "c7a.large",
                                   "HARNESS_ASV_REGION": "eu-west-1"})
    assert (quick.instance_type, quick.region) == ("c7a.large", "eu-west-1")
    assert suites.SUITES["quick"].instance_type is None  # the override made a copy
    assert quick.keys() == [("bert-tiny", "dense", "torch", 1, 1), ("bert-tiny", "dense", "onnxruntime", 1, 1),
                            ("bert-tiny", "magnitude-50", "torch", 1, 1), ("bert-tiny", "magnitude-50", "onnxruntime", 1, 1)]
    assert suites.SUITES["nightly"].asv_params()[2] == ["torch", "onnxruntime", "openvino", "deepsparse"]
    with pytest.raises(ConfigError, match=r"^unknown HARNESS_ASV_SUITE 'weekly'; valid choices: nightly, quick$"):
        suites.selected_suite({"HARNESS_ASV_SUITE": "weekly"})
    with pytest.raises(ConfigError, match=r"^HARNESS_ASV_REGION: 'mars' is not an AWS region code"):
        suites.selected_suite({"HARNESS_ASV_REGION": "mars"})


def test_variant_names_and_suite_validation():
    assert suites.parse_variant("dense") is None
    assert suites.parse_variant("magnitude-80") == 0.8
    assert suites.parse_variant("magnitude-5") == 0.05
    for bad in ("magnitude-0", "magnitude-100", "movement-50", "magnitude"):
        with pytest.raises(ConfigError, match=rf"^'{bad}' is not a suite variant name; valid: dense, magnitude-NN"):
            suites.parse_variant(bad)
    good = dict(name="x", models=("bert-tiny",), variants=("dense",), backends=("torch",), threads=(1,), batch_sizes=(1,))
    assert suites.make_suite(**good).seq_for("bert-tiny") == 16  # the family's default length
    for change, message in (
        ({"backends": ("torch", "tensorrt")}, "suite x: backends[1]: unknown value 'tensorrt'; valid: torch, onnxruntime, "),
        ({"models": ("bert-huge",)}, "suite x: models[0]: unknown value 'bert-huge'; valid: bert-base, "),
        ({"variants": ("dense", "magnitude-0")}, "suite x: variants[1]: 'magnitude-0' is not a suite variant name"),
        ({"threads": (1, 0)}, "suite x: threads[1]: expected a positive integer, got 0"),
        ({"batch_sizes": (True,)}, "suite x: batch_sizes[0]: expected a positive integer, got True"),
        ({"threads": ()}, "suite x: threads: expected a non-empty list, got ()"),
        ({"timeout": 5}, "suite x: unknown key 'timeout'; valid keys: name, models, "),
    ):
        with pytest.raises(ConfigError) as err:
            suites.make_suite(**{**good, **change})
        assert str(err.value).startswith(message)


def test_min_samples_and_the_quick_suite_reports_a_p99():
    # the order-statistic interval needs x_(1) below and x_(n) above the quantile with 97.5% each:
    # (1 - q)^n <= 0.025 and q^n <= 0.025; for q = 0.99 the second binds
    assert measure.min_samples("p99") == math.ceil(math.log(0.025) / math.log(0.99)) == 368
    assert measure.min_samples("p50") == math.ceil(math.log(0.025) / math.log(0.5)) == 6
    assert suites.SUITES["quick"].settings.min_iters >= measure.min_samples("p99")


def test_ensure_variant_prunes_to_the_target_and_is_reused():
    from harness.variants.neural import read_manifest, variant_id

    # the session's cache directory: the end-to-end test below uses this same variant
    path = variants.ensure_variant("bert-tiny", "magnitude-50")
    manifest = read_manifest(path)
    assert (manifest.model, manifest.method, manifest.structure, manifest.scope, manifest.target_sparsity) == (
        "bert-tiny", "magnitude", "unstructured", "global", 0.5)
    assert manifest.recipe["schedule"]["kind"] == "oneshot" and manifest.recipe["finetune"]["steps"] == 0
    assert manifest.realised_sparsity.overall == pytest.approx(0.5, abs=1e-5)
    pruned = manifest.quality.pruned
    assert manifest.quality.dense.top1_agreement == 1.0
    assert pruned.n == 256 and round(pruned.top1_agreement * 256) == pytest.approx(pruned.top1_agreement * 256)
    first_id = variant_id(path)
    assert path.name == "magnitude-50" and path.parent.name == f"bert-tiny-r{variants.VARIANT_RECIPE_VERSION}"
    assert variants.ensure_variant("bert-tiny", "magnitude-50") == path
    assert variant_id(path) == first_id  # same directory, same id: the records' history stays together
    with pytest.raises(ConfigError, match="'dense' is not a pruned variant"):
        variants.ensure_variant("bert-tiny", "dense")


# -- the tracked numbers ----------------------------------------------------------------------------------------


def test_asv_summary_known_numbers():
    from harness.pricing import load_price_book

    book = load_price_book(snapshot_dir=None)
    few = partial(record, model="bert-tiny", backend="torch", p50=2.0, p99=None, n=40, unsupported=("p99",), thr=10.0,
                  artifact_bytes=2_500_000, instance="c7a.large")
    s = measure.asv_summary(few(), book, "us-east-2")
    assert (s["status"], s["p50_ms"], s["throughput_per_s"], s["artifact_mb"]) == ("ok", 2.0, 10.0, 2.5)
    assert s["top1_agreement"] == 1.0  # dense agrees with itself
    assert s["usd_per_hour"] == C7A_LARGE_US_EAST_2
    assert s["usd_per_million"] == pytest.approx(2.851111, abs=1e-6)  # 0.10264 / (10 * 3600) * 1e6
    assert s["p99_ms"] is None
    assert s["why"] == {"p99_ms": "p99 unsupported: 40 samples are too few for a 95% interval (368 needed)"}
    assert measure.asv_summary(few(p99=7.5, n=400, unsupported=()), book, "us-east-2")["p99_ms"] == 7.5

    assert measure.asv_summary(few(variant="/v/magnitude-50", top1=0.75), book, "us-east-2")["top1_agreement"] == 0.75
    unknown_quality = measure.asv_summary(few(variant="/v/magnitude-50"), book, "us-east-2")
    assert unknown_quality["top1_agreement"] is None and "no quality.pruned.top1_agreement" in unknown_quality["why"]["top1_agreement"]
    undeclared = measure.asv_summary(few(instance=None), book, "us-east-2")
    assert undeclared["usd_per_million"] is None
    assert undeclared["why"]["usd_per_million"] == "no instance type declared (harness nightly --instance-type T)"
    unknown_region = measure.asv_summary(few(), book, "ap-south-9")
    assert unknown_region["why"]["usd_per_million"] == "no on-demand price for c7a.large in ap-south-9 in the price book"
    failed = measure.asv_summary(few(status="timeout", reason="no result in 120 s"), book, "us-east-2")
    assert failed == {"status": "timeout", "reason": "no result in 120 s", "record_id": "r0", "config_hash": "r0", "why": {}}


def test_asv_value_skips_missing_backends_and_fails_failed_runs():
    cache = {"schema_version": 1, "suite": "quick", "results": {
        ("m", "dense", "torch", 1, 1): {"status": "ok", "p50_ms": 1.5, "p99_ms": None, "why": {"p99_ms": "p99 unsupported: 40 samples"}},
        ("m", "dense", "deepsparse", 1, 1): {"status": "unavailable", "reason": "backend 'deepsparse' is not installed here"},
        ("m", "dense", "onnxruntime", 1, 1): {"status": "parity_failed", "reason": "max abs diff 0.3 > 1e-3"},
    }}
    assert measure.asv_value(cache, ("m", "dense", "torch", 1, 1), "p50_ms") == 1.5
    with pytest.raises(NotImplementedError, match="p99 unsupported: 40 samples"):
        measure.asv_value(cache, ("m", "dense", "torch", 1, 1), "p99_ms")
    with pytest.raises(NotImplementedError, match="deepsparse' is not installed"):
        measure.asv_value(cache, ("m", "dense", "deepsparse", 1, 1), "p50_ms")
    with pytest.raises(RuntimeError, match=r"^parity_failed: max abs diff"):
        measure.asv_value(cache, ("m", "dense", "onnxruntime", 1, 1), "p50_ms")
    with pytest.raises(RuntimeError, match="schema_version 99"):
        measure.asv_value({"schema_version": 99}, ("m",), "p50_ms")


@pytest.fixture
def ghost_openvino(monkeypatch):
    """openvino registered under a module that does not exist: a backend that is not installed here."""
    from harness.backends import registry

    monkeypatch.setitem(registry.BACKENDS, "openvino", "harness.backends.ghost_engine:GhostBackend")


def test_a_missing_backend_is_skipped_without_running(ghost_openvino, tmp_path):
    assert "backend 'openvino' is not installed here (ModuleNotFoundError" in measure.backend_unavailable("openvino")
    assert measure.backend_unavailable("torch") is None
    suite = suites.make_suite(name="t", models=("bert-tiny",), variants=("dense",), backends=("openvino",), threads=(1, 2),
                              batch_sizes=(1,))
    cache = measure.measure_suite(suite, root=tmp_path, commit="abc", echo=False)
    assert [r.summary.status for r in cache.results] == ["unavailable", "unavailable"]
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing recorded
    with pytest.raises(NotImplementedError, match="openvino"):
        measure.asv_value(cache, ("bert-tiny", "dense", "openvino", 2, 1), "p50_ms")


def test_suite_configs_and_a_variant_that_cannot_be_made(ghost_openvino, monkeypatch):
    made = []

    def broken(model, spec):
        made.append((model, spec))
        raise HarnessError("no space left on device")

    monkeypatch.setattr(measure, "ensure_variant", broken)
    suite = suites.make_suite(name="t", models=("bert-tiny",), variants=("dense", "magnitude-50"), backends=("torch", "openvino"),
                              threads=(1,), batch_sizes=(1, 4), seq_len=8, instance_type="c7a.large",
                              settings=suites.SUITES["quick"].settings)
    configs, entries = measure.suite_configs(suite)
    assert made == [("bert-tiny", "magnitude-50")]  # once, for the backend that can run
    assert list(configs) == [("bert-tiny", "dense", "torch", 1, 1), ("bert-tiny", "dense", "torch", 1, 4)]
    cfg = configs[("bert-tiny", "dense", "torch", 1, 4)]
    assert (cfg.model, cfg.backend, cfg.batch_size, cfg.seq_len, cfg.threads, cfg.variant, cfg.instance_type) == (
        "bert-tiny", "torch", 4, 8, 1, None, "c7a.large")
    assert cfg.settings == suites.SUITES["quick"].settings
    assert entries[("bert-tiny", "magnitude-50", "torch", 1, 1)] == {
        "status": "error", "reason": "variant magnitude-50 of bert-tiny: no space left on device", "why": {}}
    assert entries[("bert-tiny", "magnitude-50", "openvino", 1, 4)]["status"] == "unavailable"
    assert len(configs) + len(entries) == len(suite.keys())


# -- discovery ---------------------------------------------------------------------------------------------------

DISCOVER = """
import json
from asv_runner.discovery import disc_benchmarks
out = [{"name": b.name, "type": b.type, "unit": b.unit, "version": b.version, "params": b._params,
        "param_names": b.param_names, "timeout": b.timeout} for b in disc_benchmarks("benchmarks")]
print(json.dumps(out))
"""


def test_asv_discovers_the_tracks_with_units_versions_and_params():
    env = {**os.environ, "HARNESS_ASV_QUICK": "1"}
    env.pop("HARNESS_ASV_SUITE", None)
    proc = subprocess.run([sys.executable, "-c", DISCOVER], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = {b["name"]: b for b in json.loads(proc.stdout.strip().splitlines()[-1])}
    ours = {name: b for name, b in found.items() if name.startswith("bench_harness.")}
    assert {name: (b["unit"], b["version"]) for name, b in ours.items()} == TRACKS
    for b in ours.values():
        assert (b["type"], b["timeout"]) == ("track", 900.0)
        assert b["param_names"] == ["model", "variant", "backend", "threads", "batch"]
        assert b["params"] == [["bert-tiny"], ["dense", "magnitude-50"], ["torch", "onnxruntime"], [1], [1]]


def _top_level_actions(path: Path) -> list[str]:
    """Statements that would run a script's work when asv imports it: a top-level call of a function the
    module defines (main()), sys.exit/exit, or a loop or with block outside any `if __name__` guard."""
    tree = ast.parse(path.read_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    bad = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            called = {ast.unparse(c.func) for c in ast.walk(node.value) if isinstance(c, ast.Call)}
            if called & (defined | {"sys.exit", "exit", "quit"}):
                bad.append(f"{path.name}:{node.lineno} calls {ast.unparse(node.value)[:60]}")
        elif isinstance(node, (ast.For, ast.While, ast.With, ast.AsyncFor, ast.AsyncWith)):
            bad.append(f"{path.name}:{node.lineno} runs a {type(node).__name__.lower()} block")
    return bad


def test_scripts_in_benchmarks_are_import_safe(tmp_path):
    scripts = [p for p in (REPO / "benchmarks").rglob("*.py") if p.name != "__init__.py"]
    assert any(p.name == "bench_harness.py" for p in scripts)
    assert [bad for p in scripts for bad in _top_level_actions(p)] == []
    # the check itself catches an unguarded main
    script = tmp_path / "prune_something.py"
    script.write_text("import sys\nsys.path.insert(0, '.')\ndef main():\n    return 0\nmain()\nsys.exit(main())\n"
                      "if __name__ == '__main__':\n    main()\n")
    assert _top_level_actions(script) == ["prune_something.py:5 calls main()", "prune_something.py:6 calls sys.exit(main())"]


# -- the command ----------------------------------------------------------------------------------------------------


def test_nightly_command_refuses_a_directory_without_git_history(tmp_path, capsys):
    assert main(["nightly", "--quick", "--repo", str(tmp_path), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"harness: error: --repo {str(tmp_path)!r} is not a git repository; asv needs one with at least one commit"
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert main(["nightly", "--quick", "--repo", str(tmp_path), "--results", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip().endswith("has no commit yet; asv needs at least one")
    assert main(["nightly", "--suite", "weekly"]) == 2
    assert "unknown suite 'weekly'; valid choices: nightly, quick" in capsys.readouterr().err
    assert main(["nightly", "--quick", "--region", "mars", "--repo", str(tmp_path)]) == 2
    assert "--region: 'mars' is not an AWS region code" in capsys.readouterr().err


def test_derived_asv_config_points_everything_at_the_results_directory(tmp_path):
    base = driver.load_asv_conf()
    assert (base["results_dir"], base["html_dir"], base["benchmark_dir"]) == ("results/asv", "results/html", "benchmarks")
    conf = driver.derived_conf(base, repo=tmp_path / "repo", branch="main", root=tmp_path / "res",
                               html_dir=tmp_path / "res" / "html", conf_dir=REPO)
    assert conf["version"] == 1 and conf["branches"] == ["main"] and conf["repo"] == str(tmp_path / "repo")
    assert conf["benchmark_dir"] == str(REPO / "benchmarks")
    assert (conf["results_dir"], conf["env_dir"]) == (str(tmp_path / "res" / "asv"), str(tmp_path / "res" / "asv" / "env"))


# -- the whole asv path -----------------------------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=ci@example.invalid", "-c", "user.name=ci", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _asv_results(results: Path, machine: str, commit: str) -> dict:
    (path,) = (results / "asv" / machine).glob(f"{commit[:8]}-existing-*.json")
    data = json.loads(path.read_text())
    assert data["commit_hash"] == commit
    return {name: row[0] for name, row in data["results"].items()}


@contextlib.contextmanager
def _serve(directory: Path):
    handler = partial(type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}), directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _check_tracks(values: dict, agreement: float) -> None:
    """Every track of the quick suite has a number for all four combinations, consistent with the others."""
    assert set(values) == set(TRACKS)
    tput, usd = values["bench_harness.Throughput.track_items_per_s"], values["bench_harness.Cost.track_usd_per_million"]
    assert len(tput) == 4 and all(t > 0 for t in tput)
    assert usd == [pytest.approx(C7A_LARGE_US_EAST_2 / (t * 3600) * 1e6, rel=1e-9) for t in tput]
    # (dense, magnitude-50) x (torch, onnxruntime): dense agrees with itself, the variant as its manifest says
    assert values["bench_harness.Quality.track_top1_agreement"] == [1.0, 1.0, agreement, agreement]
    p50, p99 = values["bench_harness.Latency.track_p50_ms"], values["bench_harness.TailLatency.track_p99_ms"]
    assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in p50 + p99)  # no n/a: 400 calls each
    assert all(hi >= lo for lo, hi in zip(p50, p99))
    sizes = values["bench_harness.ArtifactSize.track_artifact_mb"]
    assert all(s > 0 for s in sizes) and sizes[0] == sizes[2] and sizes[1] == sizes[3]  # pruning keeps the shapes


def _slower_commit(records, commit: str, factor: float) -> list:
    """Copies of `records` filed under `commit` an hour later, the torch dense run `factor` times slower and
    the others with the very same samples."""
    out = []
    for r in records:
        scale = factor if (r.config.backend, r.config.variant) == ("torch", None) else 1.0
        later = (datetime.fromisoformat(r.created_at) + timedelta(hours=1)).isoformat()
        out.append(r.replace(record_id=f"{r.record_id}-later", git_commit=commit, created_at=later,
                             samples_ms=tuple(x * scale for x in r.samples_ms)))
    return out


@pytest.mark.slow
def test_nightly_quick_runs_asv_for_two_commits_publishes_and_compares(tmp_path, monkeypatch, capsys):
    from harness.results.regressions import find_regressions
    from harness.results.store import append_record, load_records
    from harness.variants.neural import read_manifest

    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "VERSION").write_text("1\n")
    _git(repo, "add", "VERSION")
    _git(repo, "commit", "-qm", "first")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # asv keeps its machine file in ~/.asv-machine.json
    results = tmp_path / "results"
    run = partial(driver.run_nightly, quick=True, repo=repo, results=results, machine="ci-box", instance_type="c7a.large")

    log = io.StringIO()
    first = run(out=log)
    assert first.asv_returncode == 0, log.getvalue()[-4000:]
    _git(repo, "commit", "-qm", "second", "--allow-empty")
    second = run(out=log)
    assert second.asv_returncode == 0, log.getvalue()[-4000:]
    assert (first.commit, second.commit) == (_git(repo, "rev-parse", "HEAD~1"), _git(repo, "rev-parse", "HEAD"))
    assert second.vendored and second.html_dir == str(results / "html")

    # asv stored every track for both commits
    agreement = read_manifest(variants.ensure_variant("bert-tiny", "magnitude-50")).quality.pruned.top1_agreement
    for commit in (first.commit, second.commit):
        _check_tracks(_asv_results(results, "ci-box", commit), agreement)

    # the suites wrote run records, filed under each commit, with enough samples for a p99
    records = load_records(results)
    assert sorted(r.git_commit for r in records) == sorted([first.commit] * 4 + [second.commit] * 4)
    assert all(r.ok and r.instance_type == "c7a.large" and r.latency.n >= 400 for r in records)
    report = find_regressions(records)
    assert report.latest_commit == second.commit and len(report.comparisons) == 4
    assert {c.baseline_commit for c in report.comparisons} == {first.commit}
    assert {(c.variant, c.backend) for c in report.comparisons} == {
        ("dense", "torch"), ("dense", "onnxruntime"), ("magnitude-50", "torch"), ("magnitude-50", "onnxruntime")}

    # `harness regressions` on a third commit made from the second's samples: the torch dense run twice as slow
    # (a regression at the default threshold 1.10, not at 2.5), the other three the same samples (unchanged)
    third = "c" * 40
    for r in _slower_commit([r for r in records if r.git_commit == second.commit], third, 2.0):
        append_record(r, results)
    capsys.readouterr()
    assert main(["regressions", "--results", str(results)]) == 1
    out = capsys.readouterr().out
    assert f"latest {third[:12]} vs each benchmark's previous commit: 4 compared, 1 regression(s), 0 improvement(s)" in out
    assert main(["regressions", "--results", str(results), "--threshold", "2.5"]) == 0

    # the published site: both commits, every track, no remote scripts
    html = results / "html"
    index = json.loads((html / "index.json").read_text())
    assert sorted(index["revision_to_hash"].values()) == sorted([first.commit, second.commit])
    assert set(TRACKS) <= set(index["benchmarks"])
    assert assets.local_site_check(html) == []
    assert (html / "vendor" / "jquery@3.3.1" / "LICENSE.txt").is_file()
    assert not list(results.glob(".html*"))  # no temporary site left behind

    _check_the_chart_renders(html, tmp_path)


def _check_the_chart_renders(html: Path, tmp_path: Path) -> None:
    """One chart of the site, served locally, drawn by headless Chromium with the vendored scripts."""
    require_chromium("the site was built but not rendered")
    bench = "bench_harness.Latency.track_p50_ms"
    with _serve(html) as base:
        url = f"{base}/#{bench}"
        view = ("--virtual-time-budget=10000", "--window-size=1400,1000")
        dom = headless(url, tmp_path / "profile", *view, "--dump-dom")
        shot = tmp_path / "latency.png"
        png = headless(url, tmp_path / "profile2", *view, f"--screenshot={shot}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    main_graph = text[text.index('id="main-graph"'):]
    assert '<canvas class="flot-base"' in main_graph[:2000]  # flot drew the chart into the graph element
    assert "backend-onnxruntime" in text and "variant-magnitude-50" in text  # the legend names the series
    assert "Can not determine continental origin of swallow" not in text  # asv's error page (scripts failed)
    assert png.returncode == 0 and shot.stat().st_size > 20_000
    # the torch series (blue and red lines) cross the plot from the first commit to the second: strongly
    # coloured pixels in the right half of the plot area, where the legend is not (a lone point gives ~40)
    import matplotlib.image

    rgb = matplotlib.image.imread(str(shot))[..., :3]
    saturated = (rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.4
    assert saturated.shape == (1000, 1400)
    assert int(saturated[120:860, 700:1350].sum()) > 300
    keep = os.environ.get("HARNESS_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
