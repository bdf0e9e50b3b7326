"""Live prices from AWS: the Price List Query API (on-demand) and EC2 spot price history.

Hardware facts (DescribeInstanceTypes: vCPUs, cores, memory, architecture, GPUs) are read with the prices and
saved in the same snapshot, so that `prices refresh` keeps the instance catalogue current too.

On-demand recipe (see prices.md): pricing client in us-east-1, get_products paginated over NextToken,
TERM_MATCH filters for Linux / shared tenancy / no pre-installed software / used capacity / no licence /
on-demand market, keep `operation == "RunInstances"`, expect exactly one hourly USD rate.
Spot: describe_spot_price_history (paginated), newest row per availability zone, then min and median;
the quote carries the median (a planning figure; the cheapest zone is in the notes).

A network or API failure during a refresh falls back to the snapshot in force with a one-line warning.
boto3 is imported lazily inside functions: importing it costs about half a second, and only a refresh
needs it (`harness --help`, `prices show` and reports do not).
"""

from __future__ import annotations

import datetime as _dt
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import HarnessError

from .book import load_price_book
from .catalog import lookup
from .formats import HardwareRow
from .quotes import PriceQuote, validate_region
from .snapshot import save_snapshot

PRICING_API_REGION = "us-east-1"  # the Query API endpoint; it serves every region's prices
SPOT_PRODUCT = "Linux/UNIX"


def price_filters(instance: str, region: str) -> list[dict]:
    """The TERM_MATCH filter set that selects one on-demand Linux shared-tenancy SKU."""
    fields = [
        ("instanceType", instance),
        ("regionCode", region),
        ("operatingSystem", "Linux"),
        ("tenancy", "Shared"),
        ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"),
        ("licenseModel", "No License required"),
        ("marketoption", "OnDemand"),  # without it p5 also matches a $0.00 capacity-block SKU
    ]
    return [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in fields]


@dataclass(frozen=True)
class HourlyRate:
    """One hourly on-demand rate found in a Price List document."""

    usd_per_hour: float
    sku: str
    rate_code: str
    usagetype: str
    effective_date: str
    publication_date: str
    version: str


def parse_price_item(item) -> tuple[dict, list[HourlyRate]]:
    """A PriceList entry (a JSON string, or an already parsed dict) -> (product attributes, hourly rates)."""
    doc = json.loads(item) if isinstance(item, (str, bytes)) else item
    product = doc.get("product") or {}
    attrs = product.get("attributes") or {}
    rates = []
    for term in ((doc.get("terms") or {}).get("OnDemand") or {}).values():
        for dim_key, dim in (term.get("priceDimensions") or {}).items():
            if dim.get("unit") != "Hrs":
                continue
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is None:
                continue
            rates.append(
                HourlyRate(
                    usd_per_hour=float(usd),
                    sku=str(product.get("sku") or term.get("sku") or ""),
                    rate_code=str(dim.get("rateCode") or dim_key),
                    usagetype=str(attrs.get("usagetype") or ""),
                    effective_date=str(term.get("effectiveDate") or ""),
                    publication_date=str(doc.get("publicationDate") or ""),
                    version=str(doc.get("version") or ""),
                )
            )
    return attrs, rates


def on_demand_rate(instance: str, region: str, client) -> HourlyRate:
    """Exactly one hourly rate for (instance, region), or a one-line error naming what was found."""
    paginator = client.get_paginator("get_products")
    found: list[HourlyRate] = []
    for page in paginator.paginate(ServiceCode="AmazonEC2", FormatVersion="aws_v1", Filters=price_filters(instance, region)):
        for item in page.get("PriceList", []):
            attrs, rates = parse_price_item(item)
            if attrs.get("operation") != "RunInstances":
                continue
            if attrs.get("instanceType") not in (None, instance):
                continue
            found.extend(rates)
    distinct = sorted({r.usd_per_hour for r in found})
    if not distinct:
        raise HarnessError(f"no on-demand Linux price for instance {instance!r} in region {region!r} (0 matching RunInstances products)")
    if len(distinct) > 1:
        listed = ", ".join(
            f"{r.usd_per_hour:g} (sku {r.sku}, {r.usagetype or 'no usagetype'})"
            for r in sorted({r.usd_per_hour: r for r in found}.values(), key=lambda r: r.usd_per_hour)
        )
        raise HarnessError(f"several on-demand rates for {instance!r} in {region!r}: {listed}; expected exactly one")
    rate = next(r for r in found if r.usd_per_hour == distinct[0])
    if rate.usd_per_hour <= 0:
        raise HarnessError(f"on-demand rate for {instance!r} in {region!r} is {rate.usd_per_hour:g} (sku {rate.sku}); not a usable price")
    return rate


def fetch_on_demand(instances, region: str, client=None, today: _dt.date | None = None) -> list[PriceQuote]:
    client = _client("pricing", PRICING_API_REGION) if client is None else client
    as_of = (today or _dt.date.today()).isoformat()
    quotes = []
    for instance in instances:
        r = on_demand_rate(instance, region, client)
        source = (f"AWS Price List API get_products, offer version {r.version or '?'} "
                  f"published {r.publication_date or '?'}")
        notes = f"sku {r.sku}, rate {r.rate_code}, usagetype {r.usagetype}, effective {r.effective_date}"
        quotes.append(PriceQuote(instance=instance, region=region, purchase_option="on-demand",
                                 usd_per_hour=r.usd_per_hour, source=source, as_of=as_of, grade="live", notes=notes,
                                 origin="aws:pricing"))
    return quotes


def _client(service: str, region: str):
    import boto3  # lazy: see module docstring

    return boto3.client(service, region_name=region)


@dataclass(frozen=True)
class SpotSummary:
    instance: str
    region: str
    n_zones: int
    min_usd_per_hour: float
    min_zone: str
    median_usd_per_hour: float
    newest_timestamp: str


def summarize_spot(rows, instance: str, region: str) -> SpotSummary | None:
    """Newest row per availability zone for one instance type, then min and median across zones."""
    newest: dict[str, dict] = {}
    for row in rows:
        if row.get("InstanceType") != instance or not str(row.get("ProductDescription", "")).startswith(SPOT_PRODUCT):
            continue
        az = row["AvailabilityZone"]
        if az not in newest or row["Timestamp"] > newest[az]["Timestamp"]:
            newest[az] = row
    if not newest:
        return None
    prices = {az: float(r["SpotPrice"]) for az, r in newest.items()}
    min_zone = min(sorted(prices), key=lambda az: prices[az])
    ts = max(r["Timestamp"] for r in newest.values())
    return SpotSummary(
        instance=instance,
        region=region,
        n_zones=len(prices),
        min_usd_per_hour=prices[min_zone],
        min_zone=min_zone,
        median_usd_per_hour=statistics.median(prices.values()),
        newest_timestamp=ts.isoformat() if hasattr(ts, "isoformat") else str(ts),
    )


def fetch_spot(instances, region: str, client=None, now: _dt.datetime | None = None) -> list[PriceQuote]:
    client = _client("ec2", region) if client is None else client
    now = now or _dt.datetime.now(_dt.timezone.utc)
    rows = []
    paginator = client.get_paginator("describe_spot_price_history")
    for page in paginator.paginate(InstanceTypes=list(instances), ProductDescriptions=[SPOT_PRODUCT], StartTime=now):
        rows.extend(page.get("SpotPriceHistory", []))
    source = "AWS EC2 describe_spot_price_history (Linux/UNIX), median of the newest price per zone"
    quotes = []
    for instance in instances:
        s = summarize_spot(rows, instance, region)
        if s is None:
            continue  # no spot offer for this type here: no quote, never a zero
        notes = f"{s.n_zones} zones, min {s.min_usd_per_hour:g} in {s.min_zone}, newest row {s.newest_timestamp}"
        quotes.append(PriceQuote(instance=instance, region=region, purchase_option="spot",
                                 usd_per_hour=s.median_usd_per_hour, source=source, as_of=now.date().isoformat(),
                                 grade="live", notes=notes, origin="aws:ec2"))
    return quotes


def hardware_from_describe(item: dict) -> HardwareRow:
    """One DescribeInstanceTypes entry as a HardwareRow (memory and GPU memory in GiB; arm64 or x86_64)."""
    vcpu_info, processor = item.get("VCpuInfo") or {}, item.get("ProcessorInfo") or {}
    archs = [a for a in processor.get("SupportedArchitectures") or [] if a in ("x86_64", "arm64")]
    gpus = (item.get("GpuInfo") or {}).get("Gpus") or []
    gpu = gpus[0] if gpus else {}
    return HardwareRow(
        instance=item["InstanceType"], vcpu=int(vcpu_info["DefaultVCpus"]),
        physical_cores=int(vcpu_info.get("DefaultCores") or vcpu_info["DefaultVCpus"]),
        memory_gib=round(float((item.get("MemoryInfo") or {})["SizeInMiB"]) / 1024, 3),
        architecture=archs[0] if archs else "x86_64",
        gpu_model=gpu.get("Name"), gpu_count=sum(int(g.get("Count") or 0) for g in gpus),
        gpu_memory_gib=round(float(gpu["MemoryInfo"]["SizeInMiB"]) / 1024, 3) if gpu.get("MemoryInfo") else None,
        clock_ghz=processor.get("SustainedClockSpeedInGhz"), manufacturer=processor.get("Manufacturer"),
    )


def fetch_hardware(instances, region: str, client=None) -> list[HardwareRow]:
    """DescribeInstanceTypes for `instances` (paginated), in the order asked."""
    client = _client("ec2", region) if client is None else client
    found: dict[str, HardwareRow] = {}
    for page in client.get_paginator("describe_instance_types").paginate(InstanceTypes=list(instances)):
        for item in page.get("InstanceTypes", []):
            row = hardware_from_describe(item)
            found[row.instance] = row
    return [found[i] for i in instances if i in found]


@dataclass(frozen=True)
class RefreshResult:
    path: Path | None  # the new snapshot file, None when nothing was saved
    quotes: tuple[PriceQuote, ...]  # the live quotes, or the snapshot's on fallback
    warnings: tuple[str, ...]
    fell_back: bool


def _api_errors():
    from botocore.exceptions import BotoCoreError, ClientError  # lazy: see module docstring

    # BotoCoreError covers EndpointConnectionError, NoCredentialsError, timeouts and missing regions.
    return (BotoCoreError, ClientError)


def _one_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def refresh(
    region: str,
    instances,
    snapshot_dir="results/prices",
    spot: bool = True,
    hardware: bool = True,
    pricing_client=None,
    ec2_client=None,
    warn=_stderr,
    now: _dt.datetime | None = None,
) -> RefreshResult:
    """Fetch live prices (and, with `hardware`, the types' DescribeInstanceTypes facts) for `instances` in `region`
    and save them as a new dated snapshot.

    On a price API error or no network, return the quotes of the snapshot in force instead and warn.
    Data problems (no match, several rates) are errors, not fallbacks.
    """
    validate_region(region)
    instances = [lookup(i).name for i in instances]
    if not instances:
        raise HarnessError("--instances: no instance types given; example: --instances c7a.large,g4dn.xlarge")
    now = now or _dt.datetime.now(_dt.timezone.utc)
    errors = _api_errors()
    warnings: list[str] = []
    try:
        quotes = fetch_on_demand(instances, region, client=pricing_client, today=now.date())
    except errors as exc:
        book = load_price_book(snapshot_dir)
        newest = book.layers[-1] if book.layers else None
        where = f"{newest.kind} {Path(newest.path).name}, as of {newest.as_of}" if newest else "none"
        msg = f"warning: AWS price refresh failed ({_one_line(exc)}); using the price snapshot in force ({where})"
        warn(msg)
        kept = tuple(q for q in book.in_region(region) if q.instance in instances
                     and (spot or q.purchase_option == "on-demand"))
        return RefreshResult(path=None, quotes=kept, warnings=(msg,), fell_back=True)
    if spot:
        try:
            quotes += fetch_spot(instances, region, client=ec2_client, now=now)
        except errors as exc:
            msg = f"warning: spot price refresh failed ({_one_line(exc)}); saving on-demand prices only"
            warn(msg)
            warnings.append(msg)
    facts: list[HardwareRow] = []
    try:
        facts = fetch_hardware(instances, region, client=ec2_client) if hardware else []
    except errors as exc:
        msg = f"warning: instance-type refresh failed ({_one_line(exc)}); the catalogue keeps its hardware facts"
        warn(msg)
        warnings.append(msg)

    path = save_snapshot(
        quotes,
        snapshot_dir,
        now=now,
        description=f"live refresh of {', '.join(instances)} in {region}",
        hardware=facts,
    )
    return RefreshResult(path=path, quotes=tuple(quotes), warnings=tuple(warnings), fell_back=False)
