"""Harness overhead: the harness's median latency against a bare loop calling the engine directly.

Both run on the same ONNX artifact, in fresh processes pinned to the same CPUs with the same thread
settings, interleaved (harness, bare, harness, bare, ...) so drift of a shared machine spreads over
both. Prints the ratio of medians with a bootstrap 95% interval and writes results/overhead/*.json.

    .venv/bin/python benchmarks/harness_overhead.py --model distilbert --threads 2 --rounds 4
    .venv/bin/python benchmarks/harness_overhead.py --quick          # bert-tiny, one short round: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BARE = r"""
import json, sys, time
import numpy as np, onnxruntime as ort
job = json.loads(sys.stdin.read())
opts = ort.SessionOptions()
opts.intra_op_num_threads = job["threads"]
opts.inter_op_num_threads = 1
if job.get("affinity"):
    opts.add_session_config_entry("session.intra_op_thread_affinities", job["affinity"])
s = ort.InferenceSession(job["onnx"], opts, providers=["CPUExecutionProvider"])
io = np.load(job["io"])
feed = {n: io["input:" + n] for n in job["inputs"]}
out = s.get_outputs()[0].name
for _ in range(job["warmup"]):
    s.run([out], feed)
samples = []
t_end = time.perf_counter() + job["seconds"]
while len(samples) < job["iters"] or time.perf_counter() < t_end:
    t0 = time.perf_counter(); s.run([out], feed); samples.append((time.perf_counter() - t0) * 1000)
print(json.dumps(samples))
"""


FULL = {"model": "distilbert", "seq": 128, "rounds": 4, "seconds": 5.0, "warmup": 5, "iters": 30}
QUICK = {"model": "bert-tiny", "seq": 16, "rounds": 1, "seconds": 0.05, "warmup": 1, "iters": 5}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help=f"default {FULL['model']} ({QUICK['model']} with --quick)")
    ap.add_argument("--seq", type=int, default=None, help=f"default {FULL['seq']}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None, help=f"default {FULL['rounds']}")
    ap.add_argument("--seconds", type=float, default=None, help=f"minimum timed seconds per run (default {FULL['seconds']:g})")
    ap.add_argument("--quick", action="store_true", help="tiny model, one short round: a smoke run, not a measurement")
    ap.add_argument("--out", default="results/overhead")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key in ("model", "seq", "rounds", "seconds"):  # explicit flags win over either set
        if getattr(args, key) is None:
            setattr(args, key, sizes[key])

    from harness.contracts import BenchConfig, Settings
    from harness.export.artifacts import prepare
    from harness.foundation.stats import ratio_with_spread, summarize
    from harness.measure.bench import measure
    from harness.runner.cpus import lease_cpus
    from harness.runner.parent import worker_env

    settings = Settings(warmup_iters=sizes["warmup"], warmup_s=0.0, min_iters=sizes["iters"], min_duration_s=args.seconds)
    config = BenchConfig(model=args.model, backend="onnxruntime", seq_len=args.seq, threads=args.threads, settings=settings)
    artifact = prepare(config, static=False, needs_onnx=True)
    harness_samples, bare_samples = [], []
    for r in range(args.rounds):
        record = measure(config, calibrate=False, root=args.out)
        assert record.ok, record.reason
        harness_samples += list(record.samples_ms)
        with lease_cpus(args.threads) as lease:  # CPUs as the harness's own worker leases them
            cpus = lease.cpus
            affinity = ";".join(str(c + 1) for c in cpus[1:]) if args.threads > 1 else None
            job = {"threads": args.threads, "onnx": artifact.onnx_path, "io": artifact.io_path,
                   "inputs": list(artifact.input_names), "warmup": sizes["warmup"], "iters": sizes["iters"],
                   "seconds": args.seconds, "affinity": affinity}
            proc = subprocess.run([sys.executable, "-c", BARE], input=json.dumps(job), capture_output=True, text=True,
                                  env=worker_env(args.threads), preexec_fn=lambda: os.sched_setaffinity(0, cpus),
                                  pass_fds=lease.fds, check=True)
        bare_samples += json.loads(proc.stdout)
        print(f"round {r + 1}/{args.rounds}: harness p50 {summarize(list(record.samples_ms))['p50']:.2f} ms, "
              f"bare p50 {summarize(json.loads(proc.stdout))['p50']:.2f} ms", file=sys.stderr)
    ratio = ratio_with_spread(harness_samples, bare_samples)
    result = {
        "schema_version": 1, "model": args.model, "seq_len": args.seq, "threads": args.threads, "rounds": args.rounds,
        "harness_p50_ms": summarize(harness_samples)["p50"], "bare_p50_ms": summarize(bare_samples)["p50"],
        "ratio_harness_over_bare": ratio["ratio"], "ratio_ci95": ratio["ci95"],
        "n_harness": len(harness_samples), "n_bare": len(bare_samples),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"overhead-{args.model}-t{args.threads}.json").write_text(json.dumps(result, indent=1))
    print(f"harness p50 {result['harness_p50_ms']:.2f} ms vs bare loop {result['bare_p50_ms']:.2f} ms: "
          f"ratio {ratio['ratio']:.4f} (95% CI {ratio['ci95'][0]:.4f}-{ratio['ci95'][1]:.4f}), "
          f"{abs(ratio['ratio'] - 1) * 100:.2f}% {'within' if abs(ratio['ratio'] - 1) <= 0.02 else 'outside'} the 2% target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
