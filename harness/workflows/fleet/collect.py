"""Pull a fleet's records from S3 and write one merged cost report, plus what the fleet run cost.

The records land in a local results directory (a fresh temporary one unless `into` is given; pulling
merges by record id, so collecting into the same directory twice adds nothing). The cost report is
the ordinary one (harness.results.report.cost_report), which keeps machines apart by instance type.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from harness.contracts import RunRecord
from harness.foundation.errors import HarnessError
from harness.results.cost.query import CostQuery
from harness.results.report.cost_report import write_cost_report
from harness.results.store import load_records
from harness.results.sync import parse_s3_url, pull

from . import selfcost


@contextlib.contextmanager
def _results_root(into):
    if into is not None:
        yield Path(into)
        return
    with tempfile.TemporaryDirectory(prefix="harness-fleet-") as tmp:
        yield Path(tmp)


def pull_records(results_url: str, into=None, endpoint_url: str | None = None) -> tuple[list[RunRecord], int]:
    """(every record under the URL, number of machine files) after pulling into `into` or a temporary directory."""
    parse_s3_url(results_url)
    with _results_root(into) as root:
        pulled = pull(results_url, root, endpoint_url=endpoint_url)
        records = load_records(root)
    if not records:
        raise HarnessError(f"no records under {results_url} (pulled {len(pulled)} file(s)); has the fleet pushed yet?")
    return records, len(pulled)


def collect(results_url: str, out_dir, *, sla_ms: float, qps: float, region: str, book, into=None,
            endpoint_url: str | None = None, purchase_option: str = "on-demand", batch_children=None) -> dict[str, Path]:
    """Pull, report, price the fleet; returns the paths written. `batch_children`: submit.child_times(...)."""
    records, files = pull_records(results_url, into, endpoint_url)
    preface = [f"Merged from {results_url}: {len(records)} record(s) in {files} machine file(s)."]
    query = CostQuery(sla_ms=sla_ms, qps=qps, region=region, purchase_options=(purchase_option,))
    paths = write_cost_report(records, out_dir, query, book=book, title="Fleet cost report", preface=preface)
    spans = selfcost.spans_from_batch(batch_children) if batch_children else selfcost.spans_from_records(records)
    paths.update(selfcost.write_self_cost(selfcost.price_spans(spans, book, region, purchase_option), out_dir))
    return paths
