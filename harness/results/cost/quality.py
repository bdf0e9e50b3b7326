"""Quality gate of a cost report: which rows may be chosen, judged against a dense fp32 baseline.

The rule (repeated in the report's Method section, report.cost_content.quality_method_lines):
  baseline      the dense fp32 model of a model+checkpoint is its own quality baseline: its rows (no variant,
                effective precision fp32) on every engine whose parity passed have drop 0 by definition, accuracy
                measured or not (source `baseline`). What other rows are compared with is the dense fp32 record whose
                engine-measured accuracy is on the same task and split (and data file, when both carry its sha256);
                the same engine's record first, else any engine's (fp32 engines agree on top-1 within parity), then
                the same number of examples, then the newest.
  drop          accuracy_drop = (baseline accuracy - row accuracy) * 100, in accuracy points; a row passes
                when drop <= max_drop_points (default 1.0; a row better than its baseline passes).
  sources       baseline  the dense fp32 row itself (drop 0);
                engine    accuracy measured on the engine that was timed (`--task`);
                manifest  accuracy from the pruned variant's manifest, measured in torch when the variant was
                          made; known only when the same manifest gives the dense model's accuracy to compare
                          with (its details hold the pruner's `dense` entry);
                teacher   top-1 agreement with the dense fp32 model on generated inputs: agreement, never
                          accuracy, so the quality is unknown;
                reference published GPU figures (TensorRT, MLPerf), and figures derived from them, of the dense
                          weights: fp32/fp16/bf16/tf32 of the same weights is the model (drop 0, assumed); int8 held
                          to MLPerf's target of 99% of fp32 accuracy, at most 1 point whatever the accuracy, so
                          eligible under a budget of 1 point or more; both labelled;
                none      nothing measured (a zoo model without --checkpoint has seeded random weights: a
                          random classifier, good for latency only).
  which         a row is judged on the engine's quality when it has an accuracy, else on the manifest's when that has
                one, else on whatever agreement either gives. Variants and other precisions without an accuracy
                and a baseline to hold it to stay unknown.
  status        ok | budget exceeded | unknown. Unknown rows pass only with allow_unknown
                (`--allow-unknown-quality`); rows beyond the budget never pass. A row that passes is chosen only
                when it also meets the SLA, is priced and is measured or a reference (rows.CostRow.eligible).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.contracts import ManifestDetails, Quality, RunRecord

BASELINE, ENGINE, MANIFEST, TEACHER, REFERENCE, NONE = "baseline", "engine", "manifest", "teacher", "reference", "none"
OK, OVER_BUDGET, UNKNOWN = "ok", "budget exceeded", "unknown"
DEFAULT_MAX_QUALITY_DROP = 1.0
TOLERANCE_POINTS = 1e-9  # (0.91 - 0.89) * 100 is 2.0000000000000018 in floats: still a 2-point drop
# worst-case accuracy loss of a published GPU figure in accuracy points: the dense weights at a float precision are
# the model; int8 is held to MLPerf's 99%-of-fp32 target, at most 1 point whatever the accuracy
REFERENCE_LOSS_POINTS = {"fp32": 0.0, "tf32": 0.0, "fp16": 0.0, "bf16": 0.0, "int8": 1.0}


@dataclass(frozen=True)
class QualityGate:
    """What a row's quality must meet to be chosen."""

    max_drop_points: float = DEFAULT_MAX_QUALITY_DROP
    allow_unknown: bool = False

    def describe(self) -> str:
        unit = "point" if self.max_drop_points == 1 else "points"
        text = f"accuracy within {self.max_drop_points:g} {unit} of the dense fp32 baseline"
        return text + ("; rows of unknown quality allowed (--allow-unknown-quality)" if self.allow_unknown else "")


@dataclass(frozen=True)
class RowQuality:
    """The quality of one cost row and its verdict."""

    source: str = NONE  # baseline | engine | manifest | teacher | reference | none
    status: str = UNKNOWN  # ok | budget exceeded | unknown
    passes: bool = False  # status ok, or unknown under allow_unknown
    accuracy: float | None = None
    accuracy_ci95: tuple[float, ...] | None = None
    drop_points: float | None = None
    top1_agreement: float | None = None
    task: str | None = None  # "sst2/dev", "text-classification/reviews.csv"
    baseline: str | None = None  # what the row was compared with, in words
    note: str = ""  # why the status is what it is, in words; an unknown one starts with its short reason and ":"

    def row_fields(self) -> dict:
        """The CostRow fields this sets."""
        return dict(accuracy=self.accuracy, accuracy_ci95=self.accuracy_ci95, accuracy_drop=self.drop_points,
                    top1_agreement=self.top1_agreement, quality_source=self.source, quality_status=self.status,
                    quality_passes=self.passes, quality_task=self.task, quality_baseline=self.baseline,
                    quality_note=self.note)


def _task_label(q: Quality) -> str | None:
    return "/".join(x for x in (q.task, q.split) if x) or None


def _is_dense_fp32(record: RunRecord) -> bool:
    return not record.config.variant and record.precision == "fp32"


def is_baseline(record: RunRecord) -> bool:
    """A dense fp32 row whose parity passed (or was not checked): the model's own quality baseline."""
    parity = record.metrics.parity
    return record.ok and _is_dense_fp32(record) and (parity is None or parity.ok is not False)


def _engine_accuracy(record: RunRecord) -> Quality | None:
    q = record.metrics.quality
    return q if q is not None and q.accuracy is not None and q.source == ENGINE else None


def _describe_baseline(record: RunRecord, q: Quality) -> str:
    task = _task_label(q)
    return (f"dense fp32 {record.config.backend} [record {record.record_id}]: accuracy {q.accuracy:.4g}"
            + (f" on {task}" if task else ""))


class Baselines:
    """The dense fp32 records with engine-measured accuracy, by (model, checkpoint, task, split)."""

    def __init__(self, records: Iterable[RunRecord]):
        self._by_key: dict[tuple, list[RunRecord]] = {}
        for r in records:
            q = _engine_accuracy(r)
            if r.ok and q is not None and _is_dense_fp32(r):
                self._by_key.setdefault((r.config.model, r.config.checkpoint, q.task, q.split), []).append(r)

    def find(self, record: RunRecord, q: Quality) -> RunRecord | None:
        """The baseline of a record whose engine quality is q (see the module docstring), or None."""
        pool = [b for b in self._by_key.get((record.config.model, record.config.checkpoint, q.task, q.split), ())
                if not (q.data_sha256 and b.metrics.quality.data_sha256 and q.data_sha256 != b.metrics.quality.data_sha256)]
        if not pool:
            return None
        newest = sorted(pool, key=lambda b: b.created_at or "", reverse=True)
        return min(newest, key=lambda b: (b.config.backend != record.config.backend,
                                          b.metrics.quality.examples != q.examples))  # min keeps the first of ties


def _verdict(gate: QualityGate, drop: float | None, *, judged: float | None = None, **fields) -> RowQuality:
    """A RowQuality whose status and passes follow from the drop, or from `judged` (an assumed worst-case drop)
    when given; neither: unknown."""
    judged = drop if judged is None else judged
    if judged is None:
        status = UNKNOWN
    else:
        status = OK if judged <= gate.max_drop_points + TOLERANCE_POINTS else OVER_BUDGET
    passes = status == OK or (status == UNKNOWN and gate.allow_unknown)
    note = fields.pop("note", "")
    if status == OVER_BUDGET:
        unit = "point" if judged == 1 else "points"
        below = f"{judged:.3g} {unit} below the baseline" if drop is not None else f"up to {judged:.3g} {unit} below the baseline"
        note = f"{below}, beyond the {gate.max_drop_points:g}-point budget" + (f"; {note}" if note else "")
    elif status == UNKNOWN and gate.allow_unknown:
        note = (note + "; " if note else "") + "allowed by --allow-unknown-quality"
    return RowQuality(status=status, passes=passes, drop_points=drop, note=note, **fields)


def record_quality(record: RunRecord) -> Quality | None:
    """The quality a row is judged on: the engine's when it has an accuracy, else the manifest's when that has
    one, else whichever exists (the engine's first)."""
    engine, manifest = record.metrics.quality, record.metrics.manifest_quality
    if engine is not None and engine.accuracy is not None:
        return engine
    if manifest is not None and manifest.accuracy is not None:
        return manifest
    return engine or manifest


def assess(record: RunRecord, baselines: Baselines, gate: QualityGate) -> RowQuality:
    """The quality of a measured row (see the module docstring)."""
    q = record_quality(record)
    if is_baseline(record):
        engine = _engine_accuracy(record)
        return _verdict(gate, 0.0, source=BASELINE, baseline="itself (dense fp32)",
                        accuracy=engine.accuracy if engine else None,
                        accuracy_ci95=engine.accuracy_ci95 if engine else None, task=_task_label(engine) if engine else None,
                        note="the dense fp32 model is its own baseline: drop 0 by definition"
                             + ("" if engine else " (accuracy not measured)"))
    if q is None:
        note = "latency-only: no quality measured (run with --task)"
        if record.config.checkpoint is None:
            note += "; seeded random weights (no --checkpoint): a random classifier, its accuracy is unknown"
        return _verdict(gate, None, note=note)
    common = dict(top1_agreement=q.top1_agreement, task=_task_label(q))
    if q.source == MANIFEST:
        return _manifest(q, gate, common)
    if q.accuracy is None:
        what = "generated inputs" if q.source == TEACHER else (_task_label(q) or "the task's inputs")
        agreement = f"top-1 agreement {q.top1_agreement:.4g} with the dense fp32 model" if q.top1_agreement is not None \
            else "no accuracy"
        return _verdict(gate, None, source=q.source or ENGINE, note=f"agreement only: {agreement} on {what}; accuracy unknown",
                        **common)
    base = baselines.find(record, q) if q.source == ENGINE else None
    if base is None:
        return _verdict(gate, None, source=q.source or ENGINE, accuracy=q.accuracy, accuracy_ci95=q.accuracy_ci95,
                        note=f"no baseline: no dense fp32 {record.config.model} record with accuracy on "
                             f"{_task_label(q) or 'this task'} (run the dense fp32 model with the same --task)", **common)
    drop = (base.metrics.quality.accuracy - q.accuracy) * 100
    return _verdict(gate, drop, source=ENGINE, accuracy=q.accuracy, accuracy_ci95=q.accuracy_ci95,
                    baseline=_describe_baseline(base, base.metrics.quality), **common)


def manifest_dense_accuracy(q: Quality) -> float | None:
    """The dense model's accuracy from the same manifest: details.dense.accuracy (the pruner writes
    quality: {dense: ..., pruned: ...}), or None."""
    dense = q.details.dense if isinstance(q.details, ManifestDetails) else None
    return dense.accuracy if dense is not None else None


def _manifest(q: Quality, gate: QualityGate, common: dict) -> RowQuality:
    measured = "variant manifest: measured in torch when the variant was made, not on this engine"
    if q.accuracy is None:
        agreement = f"top-1 agreement {q.top1_agreement:.4g} with the dense model" if q.top1_agreement is not None \
            else "no accuracy"
        return _verdict(gate, None, source=MANIFEST, note=f"agreement only: {agreement} (made without labelled data; "
                                                          f"{measured}); accuracy unknown", **common)
    dense = manifest_dense_accuracy(q)
    if dense is None:
        return _verdict(gate, None, source=MANIFEST, accuracy=q.accuracy,
                        note=f"no baseline: the manifest gives no dense accuracy to compare its {q.accuracy:.4g} with "
                             f"({measured})", **common)
    return _verdict(gate, (dense - q.accuracy) * 100, source=MANIFEST, accuracy=q.accuracy,
                    baseline=f"the manifest's dense model: accuracy {dense:.4g}", note=measured, **common)


def assess_reference(precision: str, gate: QualityGate) -> RowQuality:
    """The assumed quality of a published (or derived) GPU figure of the dense weights (see the module docstring)."""
    loss = REFERENCE_LOSS_POINTS.get(precision)
    if loss is None:
        return _verdict(gate, None, source=REFERENCE, note=f"no assumption: a published figure at {precision}, a "
                                                           "precision with no accuracy assumption here")
    if loss:
        held = (f"assumed: int8 held to MLPerf's 99%-of-fp32 accuracy target, at most {loss:g} point below the dense "
                "fp32 model")
        return _verdict(gate, None, judged=loss, source=REFERENCE, baseline="the dense fp32 model (MLPerf target)",
                        note=held)
    return _verdict(gate, 0.0, source=REFERENCE, baseline="the dense fp32 model (the same weights)",
                    note=f"assumed: {precision} of the dense weights is the model (drop 0)")
