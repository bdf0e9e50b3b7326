"""Reading MLPerf LoadGen's logs: mlperf_log_summary.txt (the verdict and the statistics as LoadGen prints
them) and mlperf_log_detail.txt (`:::MLLOG {json}` lines, for what the summary leaves out).

Standard library only (it runs in every worker interpreter). Latencies come in ns and leave in ms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SUMMARY = "mlperf_log_summary.txt"
DETAIL = "mlperf_log_detail.txt"

_YES = {"yes": True, "no": False}
# summary line label -> (field, kind)
_SUMMARY_FIELDS = {
    "Result is": ("result", str),
    "Performance constraints satisfied": ("perf_constraints_met", bool),
    "Min duration satisfied": ("min_duration_met", bool),
    "Min queries satisfied": ("min_queries_met", bool),
    "Early stopping satisfied": ("early_stopping_met", bool),
    "Scheduled samples per second": ("scheduled_samples_per_s", float),
    "Completed samples per second": ("completed_samples_per_s", float),
    "Samples per second": ("samples_per_s", float),
    "Max latency (ns)": ("max_ms", "ns"),
    "50.00 percentile latency (ns)": ("p50_ms", "ns"),
    "90.00 percentile latency (ns)": ("p90_ms", "ns"),
    "99.00 percentile latency (ns)": ("p99_ms", "ns"),
    "target_qps": ("target_qps", float),
    "target_latency (ns)": ("target_latency_ms", "ns"),
}
_ES_P99 = re.compile(r"Early stopping 99(?:\.0)?th percentile estimate:\s*([0-9]+)")  # single-stream


class LoadgenLogError(Exception):
    """A log that is missing or does not say what a finished LoadGen run says."""


def _value(kind, text: str):
    if kind is bool:
        return _YES.get(text.strip().lower())
    if kind == "ns":
        return float(text) / 1e6
    if kind is float:
        return float(text)
    return text.strip()


def parse_summary(text: str) -> dict:
    """The fields of a LoadgenTrial that mlperf_log_summary.txt states (ms for latencies)."""
    out: dict = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if not sep:
            continue
        spec = _SUMMARY_FIELDS.get(label.strip())
        if spec is None or spec[0] in out:  # the first occurrence: "Test Parameters Used" repeats some names
            continue
        try:
            out[spec[0]] = _value(spec[1], value)
        except ValueError:
            continue
    es = _ES_P99.search(text)
    if es:
        out["early_stopping_p99_ms"] = float(es.group(1)) / 1e6
    if out.get("result") not in ("VALID", "INVALID"):
        raise LoadgenLogError("LoadGen's summary has no 'Result is : VALID|INVALID' line (the run did not finish)")
    return out


def parse_detail(text: str) -> dict:
    """key -> value of every `:::MLLOG {json}` line (the last one wins)."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(":::MLLOG "):
            continue
        try:
            entry = json.loads(line[len(":::MLLOG "):])
        except json.JSONDecodeError:
            continue  # a line cut by a killed run
        if isinstance(entry, dict) and "key" in entry:
            out[entry["key"]] = entry.get("value")
    return out


def read_logs(log_dir: str | Path) -> dict:
    """The LoadgenTrial fields of one finished run, from its summary and detail logs."""
    log_dir = Path(log_dir)
    try:
        summary = (log_dir / SUMMARY).read_text(errors="replace")
    except OSError as exc:
        raise LoadgenLogError(f"LoadGen wrote no {SUMMARY} in {log_dir} ({exc.strerror})") from None
    fields = parse_summary(summary)
    try:
        detail = parse_detail((log_dir / DETAIL).read_text(errors="replace"))
    except OSError:
        detail = {}
    for field, key in (("min_queries_met", "result_min_queries_met"), ("min_duration_met", "result_min_duration_met"),
                       ("early_stopping_met", "early_stopping_met"), ("perf_constraints_met", "result_perf_constraints_met")):
        if fields.get(field) is None and isinstance(detail.get(key), bool):  # the summary may say "Skipped"
            fields[field] = detail[key]
    if isinstance(detail.get("result_query_count"), int):
        fields["query_count"] = detail["result_query_count"]
    if isinstance(detail.get("result_overlatency_query_count"), int):
        fields["overlatency_queries"] = detail["result_overlatency_query_count"]
    reason = detail.get("result_invalid_reason")
    if isinstance(reason, str) and reason.strip():
        fields["invalid_reason"] = reason.strip()
    if isinstance(detail.get("loadgen_version"), str):
        fields["loadgen_version"] = detail["loadgen_version"]
    return fields
