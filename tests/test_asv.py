"""asv suites and `harness nightly`: suite selection, the tracked numbers, skips, the offline site, and the whole
asv path (run on the existing environment for two commits, publish, regressions, a chart in headless Chromium)."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import nightly
from harness.cli import main
from harness.errors import ConfigError, HarnessError

REPO = Path(__file__).resolve().parents[1]
TRACKS = {
    "bench_harness.Latency.track_p50_ms": "ms",
    "bench_harness.TailLatency.track_p99_ms": "ms",
    "bench_harness.Throughput.track_items_per_s": "items/s",
    "bench_harness.ArtifactSize.track_artifact_mb": "MB",
    "bench_harness.Quality.track_top1_agreement": "agreement",
    "bench_harness.Cost.track_usd_per_million": "$/1M inferences",
}
C7A_LARGE_US_EAST_2 = 0.10264  # bundled snapshot, on-demand $/h


# -- suites ----------------------------------------------------------------------------------------------------


def test_suite_selection_from_the_environment():
    assert nightly.selected_suite({}).name == "nightly"
    assert nightly.selected_suite({"HARNESS_ASV_QUICK": "1"}).name == "quick"
    assert nightly.selected_suite({"HARNESS_ASV_QUICK": "0"}).name == "nightly"
    quick = nightly.selected_suite({"HARNESS_ASV_SUITE": "quick", "HARNESS_ASV_INSTANCE_TYPE": "c7a.large",
                                    "HARNESS_ASV_REGION": "eu-west-1"})
    assert (quick.instance_type, quick.region) == ("c7a.large", "eu-west-1")
    assert quick.keys() == [("bert-tiny", "dense", "torch", 1, 1), ("bert-tiny", "dense", "onnxruntime", 1, 1),
                            ("bert-tiny", "magnitude-50", "torch", 1, 1), ("bert-tiny", "magnitude-50", "onnxruntime", 1, 1)]
    assert nightly.SUITES["nightly"].asv_params()[2] == ["torch", "onnxruntime", "openvino", "deepsparse"]
    with pytest.raises(ConfigError, match=r"^unknown HARNESS_ASV_SUITE 'weekly'; valid choices: nightly, quick$"):
        nightly.selected_suite({"HARNESS_ASV_SUITE": "weekly"})


def test_variant_names():
    assert nightly.parse_variant("dense") is None
    assert nightly.parse_variant("magnitude-80") == 0.8
    assert nightly.parse_variant("magnitude-5") == 0.05
    for bad in ("magnitude-0", "magnitude-100", "movement-50", "magnitude"):
        with pytest.raises(ConfigError, match=r"^suite variant: .* valid: dense, magnitude-NN"):
            nightly.parse_variant(bad)
    with pytest.raises(ConfigError, match="unknown suite backend 'tensorrt'"):
        nightly.Suite(name="x", models=("bert-tiny",), variants=("dense",), backends=("tensorrt",), threads=(1,), batch_sizes=(1,))


def test_ensure_variant_prunes_to_the_target_and_is_reused():
    from harness.variants.neural import read_manifest, variant_id

    # the session's cache directory: the end-to-end test below uses this same variant
    path = nightly.ensure_variant("bert-tiny", "magnitude-50", 16)
    manifest = read_manifest(path)
    assert (manifest["model"], manifest["method"], manifest["structure"], manifest["target_sparsity"]) == (
        "bert-tiny", "magnitude", "unstructured", 0.5)
    assert manifest["realised_sparsity"]["overall"] == pytest.approx(0.5, abs=1e-5)
    agreement = manifest["quality"]["pruned"]["top1_agreement"]
    assert 0.0 <= agreement <= 1.0 and round(agreement * nightly.QUALITY_BATCH) == pytest.approx(agreement * nightly.QUALITY_BATCH)
    first_id = variant_id(path)
    assert path.name == "magnitude-50" and path.parent.name == "bert-tiny-s16-r1"
    assert nightly.ensure_variant("bert-tiny", "magnitude-50", 16) == path
    assert variant_id(path) == first_id  # same directory, same id: the records' history stays together


# -- the tracked numbers ----------------------------------------------------------------------------------------


def _record(**over):
    r = {
        "status": "ok", "reason": None, "record_id": "r1", "config_hash": "h1",
        "config": {"model": "bert-tiny", "variant": None, "backend": "torch"},
        "metrics": {"latency_ms": {"p50": 2.0, "p99": None, "n": 40}, "throughput_per_s": 10.0, "artifact_bytes": 2_500_000},
        "machine": {"id": "m", "instance_type": "c7a.large"},
    }
    for k, v in over.items():
        r[k] = v
    return r


def test_asv_summary_known_numbers():
    from harness.pricing import load_price_book

    book = load_price_book(snapshot_dir=None)
    s = nightly.asv_summary(_record(), book, "us-east-2")
    assert s["p50_ms"] == 2.0
    assert s["throughput_per_s"] == 10.0
    assert s["artifact_mb"] == 2.5
    assert s["top1_agreement"] == 1.0  # dense agrees with itself
    assert s["usd_per_hour"] == C7A_LARGE_US_EAST_2
    assert s["usd_per_million"] == pytest.approx(2.851111, abs=1e-6)  # 0.10264 / (10 * 3600) * 1e6
    assert s["p99_ms"] is None and "40 samples are too few" in s["why"]["p99_ms"]

    variant = _record(config={"model": "bert-tiny", "variant": "/v", "backend": "torch"})
    variant["metrics"]["quality"] = {"top1_agreement": 0.75}
    assert nightly.asv_summary(variant, book, "us-east-2")["top1_agreement"] == 0.75

    undeclared = nightly.asv_summary(_record(machine={"id": "m"}), book, "us-east-2")
    assert undeclared["usd_per_million"] is None
    assert "no instance type declared" in undeclared["why"]["usd_per_million"]
    unknown_region = nightly.asv_summary(_record(), book, "ap-south-9")
    assert "no on-demand price for c7a.large in ap-south-9" in unknown_region["why"]["usd_per_million"]


def test_asv_value_skips_missing_backends_and_fails_failed_runs():
    cache = {"schema_version": 1, "suite": "quick", "results": {
        ("m", "dense", "torch", 1, 1): {"status": "ok", "p50_ms": 1.5, "p99_ms": None, "why": {"p99_ms": "p99 unsupported: 40 samples"}},
        ("m", "dense", "deepsparse", 1, 1): {"status": "unavailable", "reason": "backend 'deepsparse' is not installed here"},
        ("m", "dense", "onnxruntime", 1, 1): {"status": "parity_failed", "reason": "max abs diff 0.3 > 1e-3"},
    }}
    assert nightly.asv_value(cache, ("m", "dense", "torch", 1, 1), "p50_ms") == 1.5
    with pytest.raises(NotImplementedError, match="p99 unsupported: 40 samples"):
        nightly.asv_value(cache, ("m", "dense", "torch", 1, 1), "p99_ms")
    with pytest.raises(NotImplementedError, match="deepsparse' is not installed"):
        nightly.asv_value(cache, ("m", "dense", "deepsparse", 1, 1), "p50_ms")
    with pytest.raises(RuntimeError, match=r"^parity_failed: max abs diff"):
        nightly.asv_value(cache, ("m", "dense", "onnxruntime", 1, 1), "p50_ms")
    with pytest.raises(RuntimeError, match="schema_version"):
        nightly.asv_value({"schema_version": 99}, ("m",), "p50_ms")


def test_a_missing_backend_is_skipped_without_running(monkeypatch, tmp_path):
    from harness.backends import registry

    monkeypatch.setitem(registry.BACKENDS, "ghost", "harness.backends.ghost_engine:GhostBackend")
    assert "backend 'ghost' is not installed here (ModuleNotFoundError" in nightly.backend_unavailable("ghost")
    assert nightly.backend_unavailable("torch") is None
    suite = nightly.Suite(name="t", models=("bert-tiny",), variants=("dense",), backends=("ghost",), threads=(1, 2), batch_sizes=(1,))
    cache = nightly.measure_suite(suite, root=tmp_path, commit="abc", echo=lambda line: None)
    assert [e["status"] for e in cache["results"].values()] == ["unavailable", "unavailable"]
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing recorded
    with pytest.raises(NotImplementedError, match="ghost"):
        nightly.asv_value(cache, ("bert-tiny", "dense", "ghost", 2, 1), "p50_ms")


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
    assert {name: b["unit"] for name, b in ours.items()} == TRACKS
    for b in ours.values():
        assert (b["type"], b["version"], b["timeout"]) == ("track", "1", 900.0)
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


def test_scripts_in_benchmarks_are_import_safe():
    scripts = [p for p in (REPO / "benchmarks").rglob("*.py") if p.name != "__init__.py"]
    assert any(p.name == "bench_harness.py" for p in scripts)
    assert [bad for p in scripts for bad in _top_level_actions(p)] == []
    # the check itself catches an unguarded main
    probe = REPO / "benchmarks" / "__init__.py"
    assert _top_level_actions(probe) == []


def test_unguarded_script_is_caught(tmp_path):
    script = tmp_path / "prune_something.py"
    script.write_text("import sys\nsys.path.insert(0, '.')\ndef main():\n    return 0\nmain()\nsys.exit(main())\n"
                      "if __name__ == '__main__':\n    main()\n")
    assert _top_level_actions(script) == ["prune_something.py:5 calls main()", "prune_something.py:6 calls sys.exit(main())"]


# -- the offline site ---------------------------------------------------------------------------------------------


def _fake_package(cache: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    (cache / "asv-vendor").mkdir(parents=True, exist_ok=True)
    with tarfile.open(cache / "asv-vendor" / f"{name}-{version}.tgz", "w:gz") as tar:
        for rel, data in files.items():
            info = tarfile.TarInfo(f"package/{rel}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_vendor_rewrites_cdn_tags_to_checked_local_copies(tmp_path, monkeypatch):
    js, css = b"window.fake = 1;\n", b"body { color: red }\n"
    sha = lambda b: hashlib.sha256(b).hexdigest()  # noqa: E731
    monkeypatch.setattr(nightly, "ASSETS", (
        nightly.Asset("https://cdn.example/fake.min.js", "fakelib@1.0.0", "dist/fake.js", sha(js)),
        nightly.Asset("https://cdn.example/fake.css", "fakelib@1.0.0", "dist/fake.css", sha(css)),
    ))
    _fake_package(tmp_path / "cache", "fakelib", "1.0.0", {"dist/fake.js": js, "dist/fake.css": css})
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(
        '<head>\n<script src="https://cdn.example/fake.min.js" integrity="sha256-x" crossorigin="anonymous" '
        'onerror="js_load_failure()"></script>\n<link rel="stylesheet" href="https://cdn.example/fake.css" '
        'integrity="sha256-y" crossorigin="anonymous">\n<script src="asv.js"></script>\n</head>\n')
    assert nightly.local_site_check(html) == ["https://cdn.example/fake.min.js", "https://cdn.example/fake.css"]
    written = nightly.vendor_site_assets(html, cache=tmp_path / "cache")
    assert written == ["vendor/fakelib@1.0.0/dist/fake.css", "vendor/fakelib@1.0.0/dist/fake.js"]
    assert (html / "vendor/fakelib@1.0.0/dist/fake.js").read_bytes() == js
    assert (html / "index.html").read_text() == (
        '<head>\n<script src="vendor/fakelib@1.0.0/dist/fake.js" onerror="js_load_failure()"></script>\n'
        '<link rel="stylesheet" href="vendor/fakelib@1.0.0/dist/fake.css">\n<script src="asv.js"></script>\n</head>\n')
    assert nightly.local_site_check(html) == []

    # a tarball whose file is not the pinned one is refused
    _fake_package(tmp_path / "cache", "fakelib", "1.0.0", {"dist/fake.js": b"evil()", "dist/fake.css": css})
    (html / "index.html").write_text('<script src="https://cdn.example/fake.min.js"></script>')
    with pytest.raises(HarnessError, match=r"dist/fake.js has SHA-256 .* \(refusing it\)"):
        nightly.vendor_site_assets(html, cache=tmp_path / "cache")
    # a CDN reference without a pinned copy is named
    (html / "index.html").write_text('<script src="https://cdn.other/x.js"></script>')
    with pytest.raises(HarnessError, match=r"loads https://cdn.other/x.js, which has no pinned local copy"):
        nightly.vendor_site_assets(html, cache=tmp_path / "cache")


def test_every_cdn_reference_of_the_installed_asv_has_a_pinned_copy():
    import asv

    index = Path(asv.__file__).parent / "www" / "index.html"
    urls = nightly.local_site_check(index.parent)
    assert urls and set(urls) == {a.cdn_url for a in nightly.ASSETS}


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
    base = nightly.load_asv_conf()
    assert (base["results_dir"], base["html_dir"], base["benchmark_dir"]) == ("results/asv", "results/html", "benchmarks")
    conf = nightly.derived_conf(base, repo=tmp_path / "repo", branch="main", root=tmp_path / "res",
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


def _chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
         "--virtual-time-budget=10000", "--window-size=1400,1000", *extra, url],
        capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_nightly_quick_runs_asv_for_two_commits_publishes_and_compares(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "VERSION").write_text("1\n")
    _git(repo, "add", "VERSION")
    _git(repo, "commit", "-qm", "first")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # asv keeps its machine file in ~/.asv-machine.json
    results = tmp_path / "results"
    run = partial(nightly.run_nightly, quick=True, repo=repo, results=results, machine="ci-box", instance_type="c7a.large")

    log = io.StringIO()
    first = run(out=log)
    assert first.asv_returncode == 0, log.getvalue()[-4000:]
    _git(repo, "commit", "-qm", "second", "--allow-empty")
    second = run(out=log)
    assert second.asv_returncode == 0, log.getvalue()[-4000:]
    assert (first.commit, second.commit) == (_git(repo, "rev-parse", "HEAD~1"), _git(repo, "rev-parse", "HEAD"))
    assert second.vendored and second.html_dir == str(results / "html")

    # asv stored every track for both commits; the numbers agree with each other
    for commit in (first.commit, second.commit):
        values = _asv_results(results, "ci-box", commit)
        assert set(values) == set(TRACKS)
        tput, usd = values["bench_harness.Throughput.track_items_per_s"], values["bench_harness.Cost.track_usd_per_million"]
        assert len(tput) == 4 and all(t > 0 for t in tput)
        assert usd == [pytest.approx(C7A_LARGE_US_EAST_2 / (t * 3600) * 1e6, rel=1e-9) for t in tput]
        assert values["bench_harness.Quality.track_top1_agreement"][:2] == [1.0, 1.0]  # dense on both backends
        assert all(0.0 <= q <= 1.0 for q in values["bench_harness.Quality.track_top1_agreement"])
        assert all(v > 0 for v in values["bench_harness.Latency.track_p50_ms"])
        sizes = values["bench_harness.ArtifactSize.track_artifact_mb"]
        assert all(s > 0 for s in sizes) and sizes[0] == sizes[2] and sizes[1] == sizes[3]  # pruning keeps the shapes
        assert all(v is None or math.isnan(v) or v > 0 for v in values["bench_harness.TailLatency.track_p99_ms"])

    # the suites wrote run records, filed under each commit
    from harness.regressions import find_regressions
    from harness.store import load_records

    records = load_records(results)
    assert sorted(r["git_commit"] for r in records) == sorted([first.commit] * 4 + [second.commit] * 4)
    assert all(r["status"] == "ok" and r["machine"]["instance_type"] == "c7a.large" for r in records)
    report = find_regressions(records)
    assert report.latest_commit == second.commit and len(report.comparisons) == 4
    assert {c.baseline_commit for c in report.comparisons} == {first.commit}
    assert {(c.variant, c.backend) for c in report.comparisons} == {
        ("dense", "torch"), ("dense", "onnxruntime"), ("magnitude-50", "torch"), ("magnitude-50", "onnxruntime")}
    capsys.readouterr()
    code = main(["regressions", "--results", str(results), "--since", first.commit[:10]])
    assert code == (1 if find_regressions(records, since=first.commit[:10]).regressions else 0)
    assert main(["regressions", "--results", str(results), "--threshold", "100"]) == 0
    assert f"latest {second.commit[:12]} vs each benchmark's previous commit: 4 compared, 0 regression(s)" in capsys.readouterr().out

    # the published site: both commits, every track, no remote scripts
    html = results / "html"
    index = json.loads((html / "index.json").read_text())
    assert sorted(index["revision_to_hash"].values()) == sorted([first.commit, second.commit])
    assert set(TRACKS) <= set(index["benchmarks"])
    assert nightly.local_site_check(html) == []
    assert not list(results.glob(".html*"))  # no temporary site left behind

    if not shutil.which("chromium"):
        pytest.skip("chromium is not installed (make browser); the site was built but not rendered")
    bench = "bench_harness.Latency.track_p50_ms"
    with _serve(html) as base:
        url = f"{base}/#{bench}"
        dom = _chromium(url, tmp_path / "profile", "--dump-dom")
        shot = tmp_path / "latency.png"
        png = _chromium(url, tmp_path / "profile2", f"--screenshot={shot}")
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
