"""A per-layer latency table measured on an engine, and post-training pruning to a latency target with it.

Kwon et al. 2022 (section 4.2) constrain the mask search by latency through a lookup table of one layer's
attention latency by number of heads and FFN latency by number of neurons, measured on the target hardware and
fitted piecewise-linearly. Here the table is measured on the engine itself, the way every configuration is: probe
variants of the checkpoint keep the first k heads (or n neurons) of every layer, each runs in its own pinned
worker at the plan's threads and sequence length, interleaved with the dense model, and a layer's latency at k
units is the difference to the dense model divided by the number of layers. harness.pruning.mask_search fits and
searches.

    path, manifest = post_training_variant("checkpoints/minilm-sst2", "data/sst2", "variants/minilm-5ms",
                                           target_latency_ms=5.0, backend="onnxruntime")
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
from pathlib import Path

from harness.backends.registry import backend_class
from harness.contracts import BenchConfig, Settings, TaskSpec
from harness.foundation.errors import ConfigError
from harness.foundation.machine import cache_dir
from harness.variants.neural import save_variant

PROBE_SETTINGS = Settings(warmup_iters=5, warmup_s=0.3, min_iters=30, min_duration_s=1.5, max_duration_s=6.0,
                          percentile_target=None, timeout_s=300.0)
ROUNDS = 2
HEAD_FRACTIONS = (0.0, 0.25, 0.5, 0.75)  # 0.0: one head
NEURON_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 3 / 4)


def probe_points(units: int, fractions) -> list[int]:
    return sorted({max(1, min(units - 1, int(round(f * units)))) for f in fractions})


def measure_latency_table(checkpoint: str, backend: str, work, *, threads: int = 2, seq_len: int = 64,
                          settings: Settings | None = None, echo=print):
    """(head LatencyModel, neuron LatencyModel, dense p50 ms, description) of one layer on `backend`; each probe is
    timed with `settings` (PROBE_SETTINGS as the module holds it when called)."""
    from harness.measure.bench import measure
    from harness.models.checkpoint import checkpoint_family, checkpoint_id
    from harness.pruning.mask_search import LatencyModel
    from harness.pruning.unit_masks import layer_parts
    from harness.variants.architecture import apply_architecture

    backend_class(backend)
    family = checkpoint_family(checkpoint)
    dense = family.build().eval()
    parts = layer_parts(dense, family.name)
    layers, heads, neurons = len(parts), parts[0].heads, parts[0].neurons
    work = Path(work)
    probes = {}
    for structure, units, points in (("heads", heads, probe_points(heads, HEAD_FRACTIONS)),
                                     ("neurons", neurons, probe_points(neurons, NEURON_FRACTIONS))):
        for k in points:
            path = work / f"probe-{structure}-{k}"
            if not (path / "manifest.json").is_file():
                architecture = {"schema_version": 1, "structure": structure,
                                "layers": {p.name: {"units": units, "keep": list(range(k))} for p in parts}}
                model = apply_architecture(copy.deepcopy(dense), family, architecture)
                save_variant(model, family.name, {"method": "latency-probe", "structure": structure,
                                                  "architecture": architecture,
                                                  "base": {"checkpoint": str(checkpoint),
                                                           "checkpoint_id": checkpoint_id(checkpoint)}}, path)
            probes[(structure, k)] = str(path)
    base = BenchConfig(model=family.name, backend=backend, seq_len=seq_len, threads=threads, checkpoint=str(checkpoint),
                       settings=settings or PROBE_SETTINGS)
    samples: dict = {}
    for _ in range(ROUNDS):  # interleaved: a busy neighbour spreads over every probe
        for key, variant in [(("dense", 0), None), *probes.items()]:
            record = measure(dataclasses.replace(base, variant=variant), calibrate=False, root=work)
            if not record.ok:
                raise ConfigError(f"latency table on {backend}: the probe {key[0]} {key[1]} failed: {record.reason}")
            samples.setdefault(key, []).extend(record.samples_ms)
    dense_ms = statistics.median(samples[("dense", 0)])
    per_layer = {key: (statistics.median(s) - dense_ms) / layers for key, s in samples.items() if key[0] != "dense"}
    head_pts = {k: v for (s, k), v in per_layer.items() if s == "heads"} | {heads: 0.0}
    neuron_pts = {k: v for (s, k), v in per_layer.items() if s == "neurons"} | {neurons: 0.0}
    head_model = LatencyModel.fit(list(head_pts), list(head_pts.values()))
    neuron_model = LatencyModel.fit(list(neuron_pts), list(neuron_pts.values()))
    describe = {"backend": backend, "threads": threads, "seq_len": seq_len, "dense_ms": round(dense_ms, 4),
                "layer_ms_vs_dense": {"heads": {str(k): round(v, 5) for k, v in sorted(head_pts.items())},
                                      "neurons": {str(k): round(v, 5) for k, v in sorted(neuron_pts.items())}},
                "fit": {"heads": dataclasses.asdict(head_model), "neurons": dataclasses.asdict(neuron_model)}}
    echo(f"latency table on {backend}: dense {dense_ms:.2f} ms; per layer {head_model.slope:.4f} ms per head above "
         f"{head_model.floor}, {neuron_model.slope:.5f} ms per neuron above {neuron_model.floor}")
    return head_model, neuron_model, dense_ms, describe


def post_training_variant(checkpoint: str, data_dir: str, out, *, target_flops: float | None = None,
                          target_latency_ms: float | None = None, backend: str | None = None, threads: int = 2,
                          seq_len: int = 64, calibration_examples: int | None = None,
                          heldout_examples: int | None = None, echo=print):
    """Prune `checkpoint` after training to a FLOPs or a latency target and save the variant: (path, manifest)."""
    from harness.models.checkpoint import checkpoint_id
    from harness.pruning.mask_search import latency_model
    from harness.pruning.post_training import DEFAULT_CALIBRATION_EXAMPLES, DEFAULT_HELDOUT_EXAMPLES, Target
    from harness.pruning.post_training_variant import PostTrainingPruner

    if (target_flops is None) == (target_latency_ms is None):
        raise ConfigError("post-training pruning needs one target: --target-flops F or --target-latency-ms X")
    if target_latency_ms is not None and not backend:
        raise ConfigError("--target-latency-ms needs --backend B: the engine whose per-layer latency is measured")
    if target_flops is not None:
        Target(flops=target_flops)  # the range check, before anything loads
    pruner = PostTrainingPruner(checkpoint, TaskSpec(name="sst2", data=data_dir),
                                calibration_examples=calibration_examples or DEFAULT_CALIBRATION_EXAMPLES,
                                heldout_examples=heldout_examples or DEFAULT_HELDOUT_EXAMPLES, seq_len=seq_len,
                                threads=threads)
    if target_flops is not None:
        target = Target(flops=target_flops)
    else:
        work = cache_dir() / "latency-tables" / f"{checkpoint_id(checkpoint)}-{backend}-t{threads}-s{seq_len}"
        heads, neurons, dense_ms, describe = measure_latency_table(checkpoint, backend, work, threads=threads,
                                                                   seq_len=seq_len, echo=echo)
        parts = pruner.dense_parts()
        cost = latency_model(heads, neurons, layers=len(parts), dense_ms=dense_ms, total_heads=parts[0].heads,
                             total_neurons=parts[0].neurons)
        target = Target(latency_ms=target_latency_ms, cost=cost, describe=describe)
    pruner.check(target)
    return pruner.make(target, out)
