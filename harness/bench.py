"""The library behind `harness bench`, `harness run` and `harness demo`: run configurations, store records."""

from __future__ import annotations

import sys
from pathlib import Path

from .machine import fingerprint, git_commit
from .schema import BenchConfig
from .store import append_record, recorded_keys


def variant_key(config: BenchConfig) -> str | None:
    if not config.variant:
        return None
    from .registry import model_family

    try:
        return model_family(config.model).variant_id(config.variant)
    except Exception:  # missing or unreadable variant: the run itself reports it
        return str(config.variant)


def run_configs(configs: list[BenchConfig], *, root: str | Path | None = None, force: bool = True,
                repeats: int = 1, progress: bool = True, calibrate: bool = True, echo=None) -> list[dict]:
    """Run each configuration in its own worker and append one record per run.

    With repeats > 1 the whole list is run round-robin `repeats` times (interleaved), so slow drift of
    a shared machine spreads over every configuration instead of biasing the last ones. Unless
    `force`, configurations already recorded for this machine and commit are skipped (resume).
    """
    from tqdm import tqdm

    from .runner.parent import run_config

    commit = git_commit()
    machines: dict = {}
    done = set() if force else recorded_keys(root)
    todo = []
    skipped = 0
    for _ in range(repeats):
        for cfg in configs:
            machine = machines.setdefault(cfg.instance_type, fingerprint(cfg.instance_type))
            key = (cfg.config_hash(variant_key(cfg)), machine["id"], commit)
            if not force and key in done:
                skipped += 1
                continue
            todo.append((cfg, machine))
    if skipped and echo is not False:
        print(f"harness: {skipped} configuration(s) already recorded for this machine and commit; skipped (--force reruns them)", file=sys.stderr)
    records = []
    bar = tqdm(total=len(todo), unit="config", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for cfg, machine in todo:
            bar.set_description(f"{cfg.model} {cfg.backend} t{cfg.threads} b{cfg.batch_size}")
            record = run_config(cfg, machine=machine, commit=commit, calibrate=calibrate)
            append_record(record, root)
            records.append(record)
            if echo is not False:
                bar.write(one_line(record), file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
    return records


def one_line(record: dict) -> str:
    cfg = record["config"]
    lat = (record.get("metrics") or {}).get("latency_ms") or {}
    kernel = (record.get("effective") or {}).get("kernel") or cfg.get("kernel")
    what = (f"{cfg['model']}[{cfg.get('variant_name') or 'dense'}] {cfg['backend']}/{kernel} {cfg['precision']} "
            f"t{cfg['threads']} b{cfg['batch_size']} s{cfg['seq_len']}")
    if record["status"] == "ok":
        tput = record["metrics"].get("throughput_per_s")
        return f"  ok    {what}: p50 {lat.get('p50', 0):.2f} ms, {tput:.1f} items/s"
    return f"  {record['status']:<5} {what}: {record.get('reason')}"
