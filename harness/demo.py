"""The default job: measure the dense zoo on every CPU backend and print what it found."""

from __future__ import annotations

import sys


def run_demo(*, matrix_path, root=None, force=False, progress=True) -> int:
    from .bench import run_configs
    from .matrix import expand, load_matrix
    from .report.summary import print_summary

    matrix = load_matrix(matrix_path)
    configs = expand(matrix)
    print(f"harness demo: {len(configs)} configurations from {matrix_path}", file=sys.stderr)
    records = run_configs(configs, root=root, force=force, progress=progress)
    latest = _latest_per_config(root, configs) if not force else records
    print()
    print_summary(latest)
    return 0 if any(r["status"] == "ok" for r in latest) else 1


def _latest_per_config(root, configs) -> list[dict]:
    """The newest record of each demo configuration (including ones skipped because already recorded)."""
    from .bench import variant_key
    from .store import iter_records

    wanted = {c.config_hash(variant_key(c)): i for i, c in enumerate(configs)}
    newest: dict = {}
    for r in iter_records(root, []):
        h = r.get("config_hash")
        if h in wanted and (h not in newest or r["created_at"] >= newest[h]["created_at"]):
            newest[h] = r
    return sorted(newest.values(), key=lambda r: wanted[r["config_hash"]])
