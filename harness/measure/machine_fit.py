"""Before any work: do the configurations fit this machine?

    check_machine_fit(configs, force_threads=False, flags=FLAGS)

Threads: at most the CPUs this process may use (harness.foundation.limits.usable_cpus), unless forced, and never more
than MAX_FORCED_THREADS. Memory: a lower bound of each configuration's inputs and activations (from its
model's shape, harness.foundation.limits) against the worker's --memory-limit-mb (plus what the interpreter and engine
take, WORKER_BASE_MB), and against this machine's memory, because the parent builds the inputs and the
reference output of the batch itself before any worker starts. One line each, naming both numbers.
"""

from __future__ import annotations

from harness.contracts import BenchConfig
from harness.foundation.errors import ConfigError, HarnessError
from harness.foundation.limits import (
    MAX_FORCED_THREADS,
    WORKER_BASE_MB,
    machine_ram_bytes,
    megabytes,
    model_bytes,
    usable_cpus,
)
from harness.models.registry import family_for


def _flag(flags: dict | None, key: str) -> str:
    return (flags or {}).get(key, key)


def check_threads(threads: int, *, force: bool = False, flag: str = "threads", cpus: int | None = None) -> None:
    """`threads` within this machine's CPUs (or, forced, within MAX_FORCED_THREADS)."""
    cpus = cpus or usable_cpus()
    if threads > MAX_FORCED_THREADS:
        raise ConfigError(f"{flag}: {threads} threads is more than the harness runs ({MAX_FORCED_THREADS}, even with "
                          f"--force-threads); this machine gives this process {cpus} CPU(s)")
    if threads > cpus and not force:
        raise ConfigError(f"{flag}: {threads} threads is more than the {cpus} CPU(s) this machine gives this process; "
                          f"pass --force-threads to oversubscribe them")


def configuration_bytes(config: BenchConfig) -> int | None:
    """The lower bound of `config`'s inputs and activations in bytes (None when its model cannot say)."""
    try:
        family = family_for(config.model, config.checkpoint)
        shape = family.make_config() if family.kind in ("text", "image") else None
    except (HarnessError, OSError, ValueError, NotImplementedError):  # a missing checkpoint is reported elsewhere
        return None
    merged = max(1, int(getattr(config.settings, "max_batch", 1) or 1))  # server: queries merged into one call
    return model_bytes(family.kind, shape, config.batch_size * merged, config.seq_len, dense=config.variant is None)


def check_memory(config: BenchConfig, *, flags: dict | None = None, ram_bytes: int | None = None) -> None:
    """`config`'s inputs and activations within its worker's memory limit and within this machine's memory."""
    need = configuration_bytes(config) or 0
    what = f"{config.model} at batch {config.batch_size} x {config.seq_len}"
    limit_mb = config.settings.memory_limit_mb
    if limit_mb is not None and limit_mb * 2**20 < need + WORKER_BASE_MB * 2**20:
        flag = _flag(flags, "settings.memory_limit_mb")
        raise ConfigError(f"{flag}: {limit_mb} MB is too little for {what}: its inputs and activations need at least "
                          f"{megabytes(need)}, and the worker's interpreter and engine at least {WORKER_BASE_MB} MB")
    ram = ram_bytes or machine_ram_bytes()
    if need and ram and need > ram:
        raise ConfigError(f"{_flag(flags, 'batch_sizes')}: {what} needs at least {megabytes(need)} for its inputs and "
                          f"activations; this machine has {megabytes(ram)} of memory")


def check_machine_fit(configs, *, force_threads: bool = False, flags: dict | None = None) -> None:
    """Every configuration's threads and memory fit this machine; the first that does not is a ConfigError."""
    cpus = usable_cpus()
    ram = machine_ram_bytes()
    seen = set()
    for config in configs:
        check_threads(config.threads, force=force_threads, flag=_flag(flags, "threads"), cpus=cpus)
        key = (config.model, config.checkpoint, config.variant is None, config.batch_size, config.seq_len,
               config.settings.memory_limit_mb, getattr(config.settings, "max_batch", 1))
        if key not in seen:
            seen.add(key)
            check_memory(config, flags=flags, ram_bytes=ram)
