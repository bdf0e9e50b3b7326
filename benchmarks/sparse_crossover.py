"""Where does torch's CSR kernel (MKL sparse BLAS) start to beat the dense GEMM?

Times one Linear layer, y = x W^T + b with x of shape (1, tokens, in), as nn.Linear (dense) and as
harness.backends.sparse_kernels.CsrLinear (the module `--kernel sparse` swaps in), for BERT-base's weight
shapes and a range of unstructured sparsities. Dense and sparse calls are interleaved round by round, so
the drift of a shared machine spreads over both; each speedup is median(dense)/median(CSR) with a
bootstrap 95% interval (harness.foundation.stats.ratio_with_spread). The crossover is the lowest measured sparsity
from which CSR is faster at every higher measured sparsity; CSR_SPARSITY_THRESHOLD in
harness/backends/sparse_kernels.py cites this measurement.

    .venv/bin/python benchmarks/sparse_crossover.py --threads 1 --out results/sparse
    .venv/bin/python benchmarks/sparse_crossover.py --quick --out /tmp/crossover   # one small shape: a smoke run

Writes results/sparse/crossover-t{threads}.json and .md. Not an asv suite (no time_/track_ names): a script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from harness.foundation.fsutil import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SCHEMA_VERSION = 1  # 1 - first version: config, machine, rows (shape, sparsity, samples, speedup), crossover
DEFAULT_SHAPES = ("3072x768", "768x3072", "768x768")  # (out x in): BERT-base intermediate, output, Q/K/V/attn-out
DEFAULT_SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97)


def _parse_shape(text: str) -> tuple[int, int]:
    out, _, inp = text.lower().partition("x")
    return int(out), int(inp)


def _layer(out_f: int, in_f: int, sparsity: float, seed: int):
    """A Linear layer with exactly round(sparsity * n) zero weights at random positions."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(in_f, out_f)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_f, in_f, generator=gen) * 0.05)
        n = layer.weight.numel()
        k = int(round(sparsity * n))
        drop = torch.randperm(n, generator=gen)[:k]
        layer.weight.view(-1)[drop] = 0.0
    return layer.eval()


def _time_calls(fn, x, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def measure(shapes=DEFAULT_SHAPES, sparsities=DEFAULT_SPARSITIES, *, tokens: int = 128, threads: int = 1,
            rounds: int = 15, calls: int = 4, seed: int = 0) -> dict:
    """Per (shape, sparsity): dense and CSR samples (ms per call), interleaved over `rounds` rounds."""
    import torch

    from harness.backends.sparse_kernels import csr_linear
    from harness.foundation.stats import ratio_with_spread

    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(seed)
    cases = []
    for shape in shapes:
        out_f, in_f = _parse_shape(shape)
        x = torch.randn(1, tokens, in_f, generator=gen)
        for s in sparsities:
            dense = _layer(out_f, in_f, s, seed)
            sparse = csr_linear(dense)
            with torch.inference_mode():
                err = float((dense(x) - sparse(x)).abs().max())
            cases.append({"shape": shape, "sparsity": s, "x": x, "dense": dense, "sparse": sparse, "max_abs_diff": err,
                          "dense_ms": [], "csr_ms": []})
    with torch.inference_mode():
        for case in cases:  # warm-up: MKL's first sparse call analyses the matrix
            for _ in range(3):
                case["dense"](case["x"])
                case["sparse"](case["x"])
        for r in range(rounds):
            for case in cases:
                order = ("dense", "sparse") if r % 2 == 0 else ("sparse", "dense")
                for which in order:
                    key = "dense_ms" if which == "dense" else "csr_ms"
                    case[key] += _time_calls(case[which], case["x"], calls)
    rows = []
    for case in cases:
        speedup = ratio_with_spread(case["dense_ms"], case["csr_ms"])
        rows.append({
            "shape": case["shape"], "sparsity": case["sparsity"], "max_abs_diff": case["max_abs_diff"],
            "dense_p50_ms": _median(case["dense_ms"]), "csr_p50_ms": _median(case["csr_ms"]),
            "speedup": speedup["ratio"], "speedup_ci95": speedup["ci95"],
            "dense_ms": case["dense_ms"], "csr_ms": case["csr_ms"],
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "config": {"shapes": list(shapes), "sparsities": list(sparsities), "tokens": tokens, "threads": threads,
                   "rounds": rounds, "calls_per_round": calls, "seed": seed},
        "rows": rows,
        "crossover": {shape: crossover([r for r in rows if r["shape"] == shape]) for shape in shapes},
    }


def _median(values) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def crossover(rows: list[dict]) -> dict:
    """The lowest measured sparsity from which speedup > 1 at every higher one (None when CSR never wins),
    and a linear interpolation of where the speedup crosses 1 between the last loss and that point."""
    rows = sorted(rows, key=lambda r: r["sparsity"])
    first = None
    for i, r in enumerate(rows):
        if all(x["speedup"] > 1.0 for x in rows[i:]):
            first = i
            break
    if first is None:
        return {"first_winning_sparsity": None, "interpolated": None}
    interpolated = rows[first]["sparsity"]
    if first > 0:
        lo, hi = rows[first - 1], rows[first]
        span = hi["speedup"] - lo["speedup"]
        if span > 0:
            interpolated = lo["sparsity"] + (1.0 - lo["speedup"]) / span * (hi["sparsity"] - lo["sparsity"])
    return {"first_winning_sparsity": rows[first]["sparsity"], "interpolated": round(interpolated, 4)}


def to_markdown(result: dict, machine: dict | None = None) -> str:
    cfg = result["config"]
    lines = [
        "# torch CSR (MKL) vs dense Linear: crossover sparsity",
        "",
        f"x: (1, {cfg['tokens']}, in), {cfg['threads']} thread(s), {cfg['rounds']} interleaved rounds x "
        f"{cfg['calls_per_round']} calls per kernel. Speedup = median(dense) / median(CSR), 95% bootstrap interval.",
    ]
    if machine:
        lines.append(f"Machine: {machine.get('cpu_model')}, {machine.get('logical_cpus')} CPUs; "
                     f"torch {machine.get('libraries', {}).get('torch')}.")
    lines += ["", "| shape (out x in) | sparsity | dense p50 ms | CSR p50 ms | speedup | 95% CI |",
              "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lo, hi = r["speedup_ci95"]
        lines.append(f"| {r['shape']} | {r['sparsity']:.2f} | {r['dense_p50_ms']:.3f} | {r['csr_p50_ms']:.3f} | "
                     f"{r['speedup']:.2f}x | {lo:.2f}-{hi:.2f} |")
    lines += ["", "| shape | first sparsity where CSR wins from there on | interpolated crossover |", "|---|---|---|"]
    for shape, c in result["crossover"].items():
        first = "never" if c["first_winning_sparsity"] is None else f"{c['first_winning_sparsity']:.2f}"
        interp = "-" if c["interpolated"] is None else f"{c['interpolated']:.2f}"
        lines.append(f"| {shape} | {first} | {interp} |")
    return "\n".join(lines) + "\n"


FULL = {"shapes": ",".join(DEFAULT_SHAPES), "sparsities": ",".join(str(s) for s in DEFAULT_SPARSITIES), "tokens": 128,
        "rounds": 15, "calls": 4}
QUICK = {"shapes": "256x256", "sparsities": "0.5,0.9", "tokens": 16, "rounds": 2, "calls": 2}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=None, help=f"out x in weight shapes, comma-separated (default {FULL['shapes']})")
    p.add_argument("--sparsities", default=None, help=f"default {FULL['sparsities']}")
    p.add_argument("--tokens", type=int, default=None, help=f"rows of x (batch x sequence; default {FULL['tokens']})")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=None, help=f"default {FULL['rounds']}")
    p.add_argument("--calls", type=int, default=None, help=f"calls per kernel per round (default {FULL['calls']})")
    p.add_argument("--quick", action="store_true", help="one small shape, two sparsities, two rounds: a smoke run")
    p.add_argument("--out", default="results/sparse")
    args = p.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():  # explicit flags win over either set
        if getattr(args, key) is None:
            setattr(args, key, value)

    from harness.foundation.machine import fingerprint

    cpus = sorted(os.sched_getaffinity(0))[: args.threads]
    os.sched_setaffinity(0, cpus)
    result = measure(
        [s.strip() for s in args.shapes.split(",") if s.strip()],
        [float(s) for s in args.sparsities.split(",") if s.strip()],
        tokens=args.tokens, threads=args.threads, rounds=args.rounds, calls=args.calls,
    )
    machine = fingerprint()
    result["machine"] = machine
    result["cpus"] = cpus
    out = Path(args.out)
    stem = f"crossover-t{args.threads}"
    atomic_write_text(out / f"{stem}.json", json.dumps(result, indent=1) + "\n")
    md = to_markdown(result, machine)
    atomic_write_text(out / f"{stem}.md", md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
