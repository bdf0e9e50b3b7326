"""Peak resident memory of the process while a block of work runs (pruning reports it for every variant)."""

from __future__ import annotations

import threading


class PeakRSS:
    """Peak resident memory of this process while the `with` block runs, in bytes.

    On Linux the kernel's high-water mark (VmHWM) is reset on entry (writing 5 to /proc/self/clear_refs)
    and read on exit; elsewhere a thread samples the RSS every 20 ms. Blocks may nest: an inner block's
    reset first hands the high-water mark so far to the enclosing blocks.
    """

    _active: list["PeakRSS"] = []

    def __init__(self, interval_s: float = 0.02):
        self.interval_s = interval_s
        self.peak_rss_bytes = 0
        self._reset_ok = False
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        before = _vm_hwm_bytes()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self._reset_ok = before is not None
        except OSError:
            self._reset_ok = False
        if self._reset_ok:
            for outer in PeakRSS._active:
                outer.peak_rss_bytes = max(outer.peak_rss_bytes, before)
        PeakRSS._active.append(self)
        if not self._reset_ok:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        import psutil

        proc = psutil.Process()
        while not self._stop.is_set():
            self.peak_rss_bytes = max(self.peak_rss_bytes, proc.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc):
        PeakRSS._active.remove(self)
        if self._reset_ok:
            self.peak_rss_bytes = max(self.peak_rss_bytes, _vm_hwm_bytes() or 0)
        else:
            self._stop.set()
            self._thread.join()
        return False


def _vm_hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
