"""Does the plain timed loop agree with MLPerf LoadGen's single-stream scenario on the same artifact?

One process pinned to one CPU loads the engine once and alternates, round after round, the harness's
timed loop (harness.runner.timing) and a LoadGen single-stream run whose system under test calls the
engine inside LoadGen's issue callback. Prints each round's p50 and mean of both and the median of the
per-round ratios (LoadGen / timed loop). The harness keeps single-stream on the timed loop while these
agree within 3%; LoadGen's fixed per-query cost (its callback and QuerySamplesComplete, tens of
microseconds) shows up only on engines of about a millisecond.

    .venv/bin/python benchmarks/loadgen_single_stream.py --model minilm --backend onnxruntime --seq 128
    .venv/bin/python benchmarks/loadgen_single_stream.py --quick     # bert-tiny, one short round: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path


FULL = {"seq": 128, "rounds": 6, "seconds": 2.0, "warmup": 5, "queries": 100}
QUICK = {"seq": 16, "rounds": 1, "seconds": 0.1, "warmup": 1, "queries": 16}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bert-tiny")
    ap.add_argument("--backend", default="onnxruntime")
    ap.add_argument("--seq", type=int, default=None, help=f"default {FULL['seq']}")
    ap.add_argument("--rounds", type=int, default=None, help=f"default {FULL['rounds']}")
    ap.add_argument("--seconds", type=float, default=None, help=f"minimum duration of each run (default {FULL['seconds']:g})")
    ap.add_argument("--cpu", type=int, default=sorted(os.sched_getaffinity(0))[-1])
    ap.add_argument("--quick", action="store_true", help="one short round at sequence 16: a smoke run, not a measurement")
    ap.add_argument("--out", default="results/loadgen-single-stream")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key in ("seq", "rounds", "seconds"):  # explicit flags win over either set
        if getattr(args, key) is None:
            setattr(args, key, sizes[key])
    os.sched_setaffinity(0, {args.cpu})
    os.environ["OMP_NUM_THREADS"] = "1"
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import numpy as np

    from harness.backends.registry import backend_class
    from harness.contracts import BenchConfig
    from harness.export.artifacts import prepare
    from harness.runner.loadgen_sut import import_loadgen, run_loadgen
    from harness.runner.timing import timed_loop

    lg = import_loadgen()
    config = BenchConfig(model=args.model, backend=args.backend, seq_len=args.seq)
    cls = backend_class(args.backend)
    artifact = prepare(config, static=cls.static_shapes, needs_onnx=cls.needs_onnx, int8_format=None)
    engine = cls(config, artifact)
    engine.load()
    io = np.load(artifact.io_path)
    prepared = engine.prepare({n: io[f"input:{n}"] for n in artifact.input_names})

    class Inline:
        """Runs the engine inside LoadGen's callback: no thread hand-off between issue and completion."""
        error, batches = None, {}

        def issue(self, samples):
            engine.to_numpy(engine.infer(prepared))
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

        def flush(self):
            pass

        start = stop = flush

    rounds = []
    for i in range(args.rounds):
        loop = timed_loop(lambda: engine.infer(prepared), warmup_iters=sizes["warmup"], min_iters=sizes["queries"],
                          min_duration_s=args.seconds)
        timed = loop["samples_ms"]
        log_dir = Path(args.out) / f"round-{i}"
        fields = run_loadgen("single-stream", Inline(), log_dir, min_duration_s=args.seconds, min_queries=sizes["queries"],
                             expected_latency_ms=statistics.median(timed))
        detail = (log_dir / "mlperf_log_detail.txt").read_text().splitlines()
        mean_ns = next(json.loads(x[9:])["value"] for x in detail if '"result_mean_latency_ns"' in x)
        rounds.append({"timed_p50": statistics.median(timed), "timed_mean": statistics.mean(timed),
                       "loadgen_p50": fields["p50_ms"], "loadgen_mean": mean_ns / 1e6})
        r = rounds[-1]
        print(f"round {i}: timed loop p50 {r['timed_p50']:.4f} mean {r['timed_mean']:.4f} ms | "
              f"LoadGen p50 {r['loadgen_p50']:.4f} mean {r['loadgen_mean']:.4f} ms")
    for stat in ("p50", "mean"):
        ratios = [r[f"loadgen_{stat}"] / r[f"timed_{stat}"] for r in rounds]
        print(f"LoadGen / timed loop, {stat}: median {statistics.median(ratios):.4f} "
              f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
