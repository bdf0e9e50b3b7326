"""asv suites driven by the harness: latency, throughput, artifact size, quality and $ per million inferences.

Parameterised over model x variant x backend x threads x batch (the suite in harness.workflows.nightly.suites.SUITES
named by HARNESS_ASV_SUITE; HARNESS_ASV_QUICK=1 selects the tiny CI suite). The measuring happens once, in
`setup_cache`, which every class here shares (asv keys the cache by the function's module and line): it
makes the pruned variants, runs every configuration in its own pinned worker through the harness runner and
appends the run records to results/runs. Each `track_` benchmark then reports one number of that record.

A backend that is not installed here skips its combinations (NotImplementedError in setup, shown as n/a);
a configuration that ran and failed fails its benchmarks with the record's status and reason.
Each track has an explicit `version`: bump it only when the meaning of its number changes, and say why here.
  Quality.track_top1_agreement 2: agreement measured by the pruning library on its teacher task (256
  generated inputs at the model's default length), was 32 seeded inputs at the suite's length.
"""

from harness.workflows.nightly.measure import asv_value, measure_for_asv
from harness.workflows.nightly.suites import PARAM_NAMES, selected_suite

_SUITE = selected_suite()


class _Measured:
    params = _SUITE.asv_params()
    param_names = list(PARAM_NAMES)
    timeout = _SUITE.timeout_s
    metric = ""

    def setup_cache(self):
        return measure_for_asv()

    setup_cache.timeout = _SUITE.timeout_s

    def setup(self, cache, model, variant, backend, threads, batch):
        self.value = asv_value(cache, (model, variant, backend, threads, batch), self.metric)


class Latency(_Measured):
    """Median latency of one call (one batch), from the raw samples."""

    metric = "p50_ms"

    def track_p50_ms(self, cache, model, variant, backend, threads, batch):
        return self.value

    track_p50_ms.unit = "ms"
    track_p50_ms.version = "1"


class TailLatency(_Measured):
    """99th-percentile latency of one call; n/a when the sample count cannot support a p99 interval."""

    metric = "p99_ms"

    def track_p99_ms(self, cache, model, variant, backend, threads, batch):
        return self.value

    track_p99_ms.unit = "ms"
    track_p99_ms.version = "1"


class Throughput(_Measured):
    """Items (sequences or images) per second: batch / mean call latency."""

    metric = "throughput_per_s"

    def track_items_per_s(self, cache, model, variant, backend, threads, batch):
        return self.value

    track_items_per_s.unit = "items/s"
    track_items_per_s.version = "1"


class ArtifactSize(_Measured):
    """Size of what the engine loads (the ONNX file, or the torch weights), in MB (10^6 bytes)."""

    metric = "artifact_mb"

    def track_artifact_mb(self, cache, model, variant, backend, threads, batch):
        return self.value

    track_artifact_mb.unit = "MB"
    track_artifact_mb.version = "1"


class Quality(_Measured):
    """Top-1 agreement of the variant with the dense model on seeded generated inputs (dense: 1.0)."""

    metric = "top1_agreement"

    def track_top1_agreement(self, cache, model, variant, backend, threads, batch):
        return self.value

    track_top1_agreement.unit = "agreement"
    track_top1_agreement.version = "2"


class Cost(_Measured):
    """Dollars per million inferences at the measured throughput, at the declared instance type's price."""

    metric = "usd_per_million"

    def track_usd_per_million(self, cache, model, variant, backend, threads, batch):
        return self.value

    track_usd_per_million.unit = "$/1M inferences"
    track_usd_per_million.version = "1"
