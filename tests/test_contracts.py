"""Persisted formats as contracts: every version a fixture of it (tests/fixtures/formats) still reads, through the
explicit migrations; a newer version is refused in one line; typed sections keep every value they are given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.contracts import (
    READABLE_VERSIONS,
    Architecture,
    ArtifactMeta,
    AsvCache,
    CsrEvidence,
    DenseEvidence,
    DenseFinetuneEntry,
    EngineReport,
    EvalDetails,
    EvalSetMeta,
    FinetuneDescription,
    FleetPlan,
    FutureVersion,
    GemmPeaks,
    KernelInfo,
    ManifestDetails,
    OrtEngine,
    Quality,
    RecordError,
    RunRecord,
    Submissions,
    TorchEngine,
    TreeArtifactMeta,
    TreeVariantManifest,
    VariantManifest,
    Versioned,
    describe_evidence,
)
from harness.contracts.record import RETIRED_SETTINGS
from harness.foundation.paths import REPO_ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "formats"

# fixture file -> (contract, the version the file was written in)
FIXTURE_VERSIONS = {
    "run-record-v1.json": (RunRecord, 1),
    "run-record-v2.json": (RunRecord, 2),
    "run-record-v2-int8.json": (RunRecord, 2),  # effective.quantization with fp32_nodes (renamed fp32_layers in 3)
    "run-record-v3.json": (RunRecord, 3),
    "submitted-v1.json": (Submissions, 1),
    "submitted-v2.json": (Submissions, 2),
    "asv-cache-v2.json": (AsvCache, 2),
    "fleet-plan-v1.json": (FleetPlan, 1),
    "eval-set-meta-unversioned.json": (EvalSetMeta, 1),
    "artifact-meta-v1.json": (ArtifactMeta, 1),
    "tree-artifact-meta-v1.json": (TreeArtifactMeta, 1),
    "gemm-peaks-v2.json": (GemmPeaks, 2),
    "dense-finetune-v1.json": (DenseFinetuneEntry, 1),
    "harness-finetune-v1.json": (FinetuneDescription, 1),
    "variant-manifest-v1.json": (VariantManifest, 1),
    "variant-manifest-v2.json": (VariantManifest, 2),
    "tree-variant-manifest-v1.json": (TreeVariantManifest, 1),
    "architecture-v1.json": (Architecture, 1),
    "architecture-v2.json": (Architecture, 2),
}


def _fixture(name: str):
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize("name", sorted(FIXTURE_VERSIONS))
def test_every_fixture_reads_in_the_current_version_and_round_trips(name):
    cls, version = FIXTURE_VERSIONS[name]
    data = _fixture(name)
    assert cls.version_of(data) == version
    obj = cls.from_json(data, name)
    assert obj.schema_version == cls.SCHEMA_VERSION
    assert cls.from_json(obj.to_json()) == obj  # what this harness writes, it reads back unchanged


# versions whose documents were not JSON, tested in code instead
NOT_JSON = {(AsvCache, 1): "pickled by asv with tuple keys: test_asv_cache_of_version_1_was_keyed_by_tuples"}


def _formats(cls=Versioned):
    for sub in cls.__subclasses__():
        yield sub
        yield from _formats(sub)


def test_every_version_of_every_format_has_a_fixture():
    """A format that gains a version must add a fixture of the old one (and its migration) here."""
    have = {(cls, version) for cls, version in FIXTURE_VERSIONS.values()} | set(NOT_JSON)
    formats = set(_formats())
    assert {RunRecord, FleetPlan, Submissions, AsvCache, EvalSetMeta, GemmPeaks, VariantManifest, Architecture} <= formats
    for cls in formats:
        for version in cls.readable_versions():
            assert (cls, version) in have, f"{cls.__name__} version {version} has no fixture in {FIXTURES}"


@pytest.mark.parametrize("cls", sorted({c for c, _ in FIXTURE_VERSIONS.values()}, key=lambda c: c.__name__))
def test_a_newer_version_is_refused_and_an_unknown_older_one_named(cls: type[Versioned]):
    future = cls.SCHEMA_VERSION + 1
    with pytest.raises(FutureVersion, match=rf"^x: schema_version {future} was written by a newer harness \(this one reads"):
        cls.from_json({"schema_version": future}, "x")
    with pytest.raises(RecordError, match=r"^schema_version 0 is not a version this harness knows"):
        cls.from_json({"schema_version": 0})
    with pytest.raises(RecordError, match=r"^schema_version: expected an integer, got '1'"):
        cls.from_json({"schema_version": "1"})


def test_record_migration_v1_keeps_every_value_it_does_not_move():
    v1 = _fixture("run-record-v1.json")
    rec = RunRecord.from_json(v1)
    # version 2 moved the manifest's quality out of metrics.quality and the engine knobs out of config.settings
    assert rec.metrics.quality is None and rec.metrics.manifest_quality.source == "manifest"
    assert rec.metrics.manifest_quality.top1_agreement == v1["metrics"]["quality"]["top1_agreement"]
    assert isinstance(rec.metrics.manifest_quality.details, ManifestDetails)
    assert "spinning" not in rec.config.settings.to_json() and rec.config.backend_settings == {}
    assert list(rec.samples_ms) == v1["samples_ms"] and rec.record_id == v1["record_id"]
    assert rec.machine.id == v1["machine"]["id"] and rec.metrics.parity.max_abs_diff == v1["metrics"]["parity"]["max_abs_diff"]


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    else:
        yield path, value


def _at(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def test_stored_records_read_typed_and_lose_nothing():
    """results/runs/*.jsonl (both schema versions, every backend that ran here): each line reads, its engine
    report and kernel evidence are the typed shapes, and every value of the (migrated) line is in the record."""
    lines = [json.loads(line) for path in sorted((REPO_ROOT / "results" / "runs").glob("*.jsonl"))
             for line in path.read_text().splitlines() if line.strip()]
    assert {d["schema_version"] for d in lines} == set(READABLE_VERSIONS)  # every version the repository wrote
    retired = {("config", "settings", name) for name in RETIRED_SETTINGS}  # ignored on reading (record.py)
    for data in lines:
        rec = RunRecord.from_json(data)
        written = rec.to_json()
        for path, value in _leaves(RunRecord.upgrade(data)):
            if path in retired:
                continue
            assert _at(written, path) == value or (value != value), (data["record_id"], path)  # nan stays nan
        if rec.ok:
            assert not isinstance(rec.effective.engine, dict), (rec.config.backend, rec.effective.engine)
            assert not isinstance(rec.effective.kernel_evidence, dict), rec.effective.kernel_evidence


# -- typed sections: the known shapes, and any other mapping kept as it is ------------------------------------------

def test_engine_reports_and_evidence_decode_to_their_shapes_and_others_stay_mappings():
    torch = {"num_threads": 2, "num_interop_threads": 1, "mkldnn": True, "autocast_bf16": False}
    assert EngineReport(engine=torch).engine == TorchEngine(2, 1, True, False)
    assert EngineReport.from_json({"engine": torch}).engine == TorchEngine(2, 1, True, False)
    probe = {"env": {"OMP_NUM_THREADS": "2"}, "torch_default_threads": 2}  # a test engine's own report
    assert EngineReport(engine=probe).engine == probe
    newer = torch | {"a_key_from_a_newer_harness": 1}  # not a known shape: kept whole, not cut to one
    assert EngineReport(engine=newer).engine == newer
    ort = {"providers": ["CPUExecutionProvider"], "intra_op_num_threads": 2, "inter_op_num_threads": 1,
           "allow_spinning": "1", "intra_op_thread_affinities": None, "graph_optimization_level": "ORT_ENABLE_ALL",
           "optimized_graph_ops": {"int8_matmuls": 48, "fp32_matmuls": 2}}
    engine = EngineReport.from_json({"engine": ort}).engine
    assert isinstance(engine, OrtEngine) and engine.optimized_graph_ops.int8_matmuls == 48
    assert KernelInfo("dense", {"reason": "zeros multiplied"}).evidence == DenseEvidence("zeros multiplied")
    csr = {"swapped_layers": 2, "dense_layers": 1, "threshold": 0.8, "threshold_source": "s", "format": "csr",
           "mkl": True, "swapped_weight_fraction": 0.9}
    assert KernelInfo("sparse-csr", csr).evidence == CsrEvidence(**csr)
    assert KernelInfo("dense", {}).evidence == {}
    assert describe_evidence(CsrEvidence(**csr)) == "2 layers swapped to CSR, 1 dense, threshold 0.8"
    assert describe_evidence({"reason": "why"}) == "why" and describe_evidence(None) == ""


def test_quality_details_by_source():
    engine = Quality(source="engine", details={"batch_size": 32, "label_names": ["neg", "pos"], "seq_len": 64})
    assert engine.details == EvalDetails(batch_size=32, label_names=("neg", "pos"), seq_len=64)
    manifest = Quality(source="manifest", details={"n": 872, "top1_agreement": 0.9, "dense": {"accuracy": 0.91, "n": 872}})
    assert isinstance(manifest.details, ManifestDetails) and manifest.details.dense.accuracy == 0.91
    assert Quality.from_json(manifest.to_json()) == manifest


# -- the migrations that change a shape -------------------------------------------------------------------------

def test_submitted_jobs_of_version_1_were_a_bare_list():
    rows = _fixture("submitted-v1.json")
    jobs = Submissions.from_json(rows).jobs
    assert [(j.instance_type, j.job_id, j.size) for j in jobs] == [(r["instance_type"], r["job_id"], r["size"]) for r in rows]
    assert Submissions(jobs=jobs).to_json()["schema_version"] == 2


def test_asv_cache_of_version_1_was_keyed_by_tuples():
    v1 = {"schema_version": 1, "suite": "quick", "commit": "abc", "region": "us-east-2", "results": {
        ("bert-tiny", "dense", "torch", 1, 1): {"status": "ok", "p50_ms": 1.5, "why": {}},
        ("bert-tiny", "magnitude-50", "torch", 2, 1): {"status": "unavailable", "reason": "not here", "why": {}}}}
    cache = AsvCache.from_json(v1)
    assert cache.summary(("bert-tiny", "dense", "torch", 1, 1)).p50_ms == 1.5
    assert cache.summary(("bert-tiny", "magnitude-50", "torch", 2, 1)).status == "unavailable"
    assert cache.summary(("bert-tiny", "dense", "torch", 4, 1)) is None
    assert AsvCache.from_json(cache.to_json()) == cache
    with pytest.raises(RecordError, match=r"results: expected \(model, variant, backend, threads, batch\) keys"):
        AsvCache.from_json({"schema_version": 1, "suite": "q", "results": {"m": {"status": "ok"}}})


def test_a_versioned_section_inside_a_document_is_migrated_too():
    from harness.contracts import Artifact

    artifact = Artifact.from_json({"dir": "d", "input_names": ["x"], "eval_meta": _fixture("eval-set-meta-unversioned.json")})
    assert artifact.eval_meta.schema_version == 1 and artifact.eval_meta.label_names == ("negative", "positive")
    with pytest.raises(FutureVersion, match=r"^eval_meta: schema_version 9 was written by a newer harness"):
        Artifact.from_json({"dir": "d", "input_names": ["x"], "eval_meta": {"schema_version": 9}})


def test_record_migration_v2_names_the_int8_fp32_layers_and_keeps_them():
    v2 = _fixture("run-record-v2-int8.json")
    record = RunRecord.from_json(v2)
    q = record.effective.quantization
    assert record.schema_version == 3 and q.fp32_layers == tuple(v2["effective"]["quantization"]["fp32_nodes"])
    assert (q.format, q.calibration.examples, q.chain) == ("qdq", 128, v2["effective"]["quantization"]["chain"])
    assert "fp32_nodes" not in record.to_json()["effective"]["quantization"]
