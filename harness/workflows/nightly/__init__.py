"""Nightly runs with asv: `harness nightly` and the measurements behind benchmarks/bench_harness.py.

    suites    what a nightly run measures (Suite, SUITES) and the suite the environment selects
    variants  the suites' pruned variants, made once through the pruning library and reused
    measure   one measurement of a suite through harness.measure.bench.run_configs, and the numbers asv tracks
    driver    `harness nightly`: asv run for HEAD in the existing environment, then asv publish
    assets    the published site's scripts, from copies vendored in site_assets/ (renders offline)
"""
