"""Post-training variants of a fine-tuned checkpoint: the data, one Fisher pass shared by every target, and
the variant directory with its manifest.

    pruner = PostTrainingPruner("checkpoints/minilm-sst2", TaskSpec(name="sst2", data="data/sst2"))
    path, manifest = pruner.make(Target(flops=0.6), "variants/minilm-pt-60")
    path, manifest = pruner.make(Target(flops=0.4), "variants/minilm-pt-40")   # reuses the Fisher pass

Manifest (harness.variants.neural; what this adds to the common fields):
  method "post-training", structure "heads+neurons", regime "post-training (no retraining)"
  target_sparsity / realised_sparsity.overall  the fraction of the dense model's head and FFN cost removed
      (realised_sparsity.unit "flops" or "ms"; .heads and .neurons the fractions of units removed)
  post_training  the target, the cost model's numbers, per-layer kept units, Fisher loss estimates and fit
      errors, the calibration slice, the whole-model FLOPs before and after (flops_dense, flops_pruned), and
      `reconstruction`: whether the mask tuning was kept, with the held-back quality with and without it (the
      least-squares fit lowers the layers' output error, yet on small models it can cost answers; the held-back
      slice decides, accuracy first, then KL to the dense model)
  quality {dense, pruned}  on the held-back slice of the training split (split "train-heldout")
  timings_s (load_s, data_s, fisher_s, search_s, rearrange_s, tune_s, remove_s, evaluate_s), wall_time_s,
  peak_rss_bytes, base {checkpoint, checkpoint_id}
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from harness.contracts import TaskSpec
from harness.foundation.errors import ConfigError
from harness.quantization.calibration import training_slice
from harness.variants.neural import save_variant

from .mask_fisher import mask_gradients
from .peak_rss import PeakRSS
from .post_training import (
    DEFAULT_CALIBRATION_EXAMPLES,
    DEFAULT_HELDOUT_EXAMPLES,
    METHOD,
    SEQ_LEN,
    STRUCTURE,
    Target,
    check_target,
    prune_post_training,
    slice_quality,
    torch_batches,
)
from .unit_masks import UnitMasks


class PostTrainingPruner:
    """A dense checkpoint, its calibration and held-back slices, and (once asked for) its mask gradients."""

    def __init__(self, checkpoint: str, task: TaskSpec, *, calibration_examples: int = DEFAULT_CALIBRATION_EXAMPLES,
                 heldout_examples: int = DEFAULT_HELDOUT_EXAMPLES, seq_len: int = SEQ_LEN, threads: int | None = None):
        from harness.models.base import quiet_transformers
        from harness.models.checkpoint import checkpoint_family, checkpoint_id

        if task.name not in ("sst2", "text-classification"):
            raise ConfigError(f"post-training pruning needs a labelled task with a training split (sst2), got {task.name!r}")
        if threads:
            torch.set_num_threads(threads)
        self.timings: dict[str, float] = {}
        t0 = time.perf_counter()
        quiet_transformers()
        self.checkpoint = str(checkpoint)
        self.family = checkpoint_family(checkpoint)
        self.checkpoint_id = checkpoint_id(checkpoint)
        self.dense = self.family.build().eval()
        UnitMasks(self.dense, self.family.name)  # a family without heads and neurons: one line, now
        self.timings["load_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        labels = dict(num_labels=int(self.family.num_labels), id2label=getattr(self.family, "id2label", None))
        self.calibration = training_slice(task, calibration_examples, reserve=heldout_examples, **labels)
        self.heldout = training_slice(task, heldout_examples, heldout=True, reserve=calibration_examples, **labels)
        self.seq_len = seq_len
        self.batches = torch_batches(self.family, self.calibration, seq_len)
        self.heldout_batches = torch_batches(self.family, self.heldout, seq_len)
        self.timings["data_s"] = round(time.perf_counter() - t0, 3)
        self._gradients = None
        self._dense_quality = None

    def dense_parts(self):
        """The dense model's layers (harness.pruning.unit_masks.LayerParts)."""
        return UnitMasks(self.dense, self.family.name).parts

    def check(self, target: Target) -> None:
        check_target(self.dense, self.family, target, self.seq_len)

    def gradients(self, progress=None):
        if self._gradients is None:
            t0 = time.perf_counter()
            self._gradients = mask_gradients(self.dense, UnitMasks(self.dense, self.family.name), self.batches,
                                             progress=progress)
            self.timings["fisher_s"] = round(time.perf_counter() - t0, 3)
        return self._gradients

    def dense_quality(self) -> tuple[dict, list]:
        if self._dense_quality is None:
            self._dense_quality = slice_quality(self.dense, self.heldout_batches)
        return self._dense_quality

    @property
    def data_id(self) -> str:
        c = self.calibration
        return (f"{c.name}:{c.data_sha256[:12]}:calibration={c.examples}:heldout={self.heldout.examples}:"
                f"len={self.seq_len}:seed=7")

    def make(self, target: Target, out_dir, *, progress=None) -> tuple[Path, dict]:
        """Prune a copy of the dense model to `target`, evaluate it on the held-back slice and save the variant."""
        self.check(target)
        shared_fisher_s = self.timings["fisher_s"] if self._gradients is not None else 0.0
        started = time.perf_counter()
        with PeakRSS() as rss:
            gradients = self.gradients(progress)
            flops_dense = self.family.flops(self.dense, 1, self.seq_len)
            dense_q, dense_logits = self.dense_quality()
            tried = []
            for tune in (True, False):
                model = copy.deepcopy(self.dense)
                result = prune_post_training(model, self.family, self.batches, target, seq_len=self.seq_len,
                                             gradients=gradients, tune=tune)
                t0 = time.perf_counter()
                quality, _ = slice_quality(model, self.heldout_batches, dense_logits)
                tried.append((quality, model, result, round(time.perf_counter() - t0, 3)))
            # mask tuning lowers the reconstruction error, which does not always mean fewer wrong answers: the
            # held-back slice decides (accuracy, then KL to the dense model)
            pruned_q, model, result, _ = max(tried, key=lambda t: (t[0]["accuracy"], -t[0]["kl_dense_pruned"]))
        untuned = tried[1][0]
        reconstruction = {"used": result.report["tuned"],
                          "heldout": {"tuned": tried[0][0], "untuned": untuned}}
        weights = lambda m: sum(x.weight.numel() for x in self.family.prunable_layers(m).values())  # noqa: E731
        report = result.report | {
            "reconstruction": reconstruction,
            "flops_dense": flops_dense, "flops_pruned": self.family.flops(model, 1, self.seq_len),
            "weights_removed": round(1.0 - weights(model) / weights(self.dense), 6),
            "calibration": {"source": self.calibration.name, "examples": self.calibration.examples,
                            "seed": 7, "heldout_examples": self.heldout.examples},
        }
        timings = {"load_s": self.timings["load_s"], "data_s": self.timings["data_s"],
                   "fisher_s": self.timings["fisher_s"],
                   **{k: round(tried[0][2].timings_s[k] + tried[1][2].timings_s[k], 3)
                      for k in ("search_s", "rearrange_s", "tune_s", "remove_s")},
                   "evaluate_s": round(tried[0][3] + tried[1][3], 3)}
        wall = time.perf_counter() - started + shared_fisher_s + self.timings["load_s"] + self.timings["data_s"]
        manifest = self._manifest(target, result, report, dense_q, pruned_q, timings, rss.peak_rss_bytes, wall)
        path = save_variant(model, self.family.name, manifest, out_dir)
        return path, manifest

    def _manifest(self, target, result, report, dense_q, pruned_q, timings, peak, wall_s) -> dict:
        steps = result.architecture["steps"]
        removed = 1.0 - report["cost_fraction"]  # of the head and FFN FLOPs, or of the modelled latency
        split = {"split": "train-heldout"}
        return {
            "method": METHOD, "structure": STRUCTURE, "regime": "post-training (no retraining)", "scope": "global",
            "target_sparsity": round(1.0 - target.flops, 6) if target.flops is not None else None,
            "realised_sparsity": {"overall": round(removed, 6), "unit": report["cost_unit"],
                                  "heads": steps[0]["realised_sparsity"], "neurons": steps[1]["realised_sparsity"],
                                  "weights_vs_dense": report["weights_removed"]},
            "architecture": result.architecture,
            "post_training": report,
            "data": self.data_id,
            "seeds": {"calibration": 7},
            "train_steps": 0,
            "quality": {"dense": dense_q | split, "pruned": pruned_q | split},
            "base": {"checkpoint": self.checkpoint, "checkpoint_id": self.checkpoint_id},
            "timings_s": timings,
            # loading, data and the shared Fisher pass count in every variant's wall time, as if each were made alone
            "wall_time_s": round(wall_s, 3),
            "peak_rss_bytes": peak,
        }
