"""asv benchmark suites (bench_*.py) and plain benchmark scripts.

asv imports every module in this package (and in its sub-packages) to discover benchmarks, so a script
kept here must do its work only under `if __name__ == "__main__":` and stay import-safe.
"""
