"""Price sources: bundled snapshot, live refresh (Stubber for the Price List API, moto for spot), user CSV,
instance catalog and GPU reference figures. No real AWS call is ever made."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from harness.foundation.errors import ConfigError, HarnessError
from harness.pricing import PriceQuote, catalog, load_price_book, stale_warnings
from harness.pricing.snapshot import BUNDLED_SNAPSHOT, bundled_snapshot, load_snapshot
from harness.pricing.user_csv import load_prices_csv, write_prices_csv

FIX = Path(__file__).parent / "fixtures" / "pricing"
CATALOGUE_REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1")
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)


def fixture_item(name: str) -> str:
    """A PriceList entry as the API returns it: a JSON string."""
    return (FIX / name).read_text()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch, tmp_path):
    """Fake credentials and no config files: a test that forgot to stub fails instead of calling AWS."""
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches credentials across tests


# ------------------------------------------------------------------------------------------------ bundled snapshot


def test_bundled_snapshot_prices_every_catalogue_type_in_four_regions_from_one_dated_source():
    snap = bundled_snapshot()
    assert snap.schema_version == 2 and snap.as_of == "2026-12-05"
    on_demand = {(q.instance, q.region): q for q in snap.quotes if q.purchase_option == "on-demand"}
    missing = [(i.name, r) for i in catalog.all_instances() for r in CATALOGUE_REGIONS if (i.name, r) not in on_demand]
    # the catalogue has no g6/g6e in eu-west-1; everything else is priced
    assert sorted(missing) == [(f"{f}.{s}", "eu-west-1") for f in ("g6", "g6e") for s in ("2xlarge", "4xlarge", "xlarge")]
    assert len(on_demand) == 85 * 4 - 6
    # figures as the SkyPilot catalogue (commit 00148f2) gives them
    assert on_demand["c7a.large", "us-east-2"].usd_per_hour == 0.10264
    assert on_demand["g4dn.xlarge", "us-east-2"].usd_per_hour == 0.526
    assert on_demand["t4g.xlarge", "us-east-2"].usd_per_hour == 0.1344
    assert on_demand["c6a.large", "us-east-2"].usd_per_hour == 0.0765
    assert on_demand["r7i.large", "eu-west-1"].usd_per_hour == 0.14805  # read from the catalogue for this snapshot
    assert on_demand["r8g.4xlarge", "us-east-1"].usd_per_hour == 0.94256
    # Graviton differs by region: never copied across
    assert (on_demand["c7g.xlarge", "us-east-1"].usd_per_hour, on_demand["c7g.xlarge", "us-east-2"].usd_per_hour) == (
        0.145, 0.1445)
    for q in snap.quotes:  # one dated public source for every row; a real date, so ages are real
        assert "00148f2af3672e2229b4f7bf8157d5a3f36e3c35" in q.source and q.as_of == "2026-12-05" and q.grade == "S"
    spot = {(q.instance, q.region): q for q in snap.quotes if q.purchase_option == "spot"}
    # r6a.large in us-east-2: newest spot price in its 3 zones 0.0491, 0.0526, 0.0606 -> median 0.0526, min 0.0491
    assert spot["r6a.large", "us-east-2"].usd_per_hour == 0.0526
    assert spot["r6a.large", "us-east-2"].notes == ("median of the newest spot price in 3 standard zones; cheapest "
                                                    "zone 0.0491")


def test_snapshot_rejects_unknown_version_and_bad_rows(tmp_path):
    data = json.loads(BUNDLED_SNAPSHOT.read_text())
    p = tmp_path / "aws-x.json"
    data["schema_version"] = 99
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"^aws-x.json: schema_version 99 was written by a newer harness \(this one "
                                          r"reads 1, 2\); upgrade the harness$"):
        load_snapshot(p)
    data["schema_version"] = "two"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"^aws-x.json: schema_version: expected an integer, got 'two'$"):
        load_snapshot(p)
    data["schema_version"] = 2
    data["rows"][3]["usd_per_hour"] = 0
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"^aws-x.json: rows\[3\]: usd_per_hour: 0 .* not a usable price"):
        load_snapshot(p)
    data["rows"][3]["usd_per_hour"] = "cheap"
    p.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"^aws-x.json: rows\[3\]: usd_per_hour: expected a number, got 'cheap'$"):
        load_snapshot(p)


def test_snapshot_fixture_v1_reads_through_the_migration_and_saves_as_v2(tmp_path):
    snap = load_snapshot(FIX / "snapshot-v1.json")
    assert (snap.schema_version, snap.as_of, snap.hardware, snap.source) == (1, "2026-10-01", (), None)
    assert [(q.instance, q.purchase_option, q.usd_per_hour, q.source) for q in snap.quotes] == [
        ("c7a.large", "on-demand", 0.1, "fixture: AWS Price List API"), ("c7a.large", "spot", 0.04, "fixture: EC2 spot history")]
    from harness.pricing.snapshot import snapshot_to_dict

    doc = snapshot_to_dict(snap)
    assert doc["schema_version"] == 2 and doc["hardware"] == [] and doc["rows"][0]["source"] == "fixture: AWS Price List API"
    (tmp_path / "aws-2026-10-01.json").write_text(json.dumps(doc))
    again = load_snapshot(tmp_path / "aws-2026-10-01.json")
    assert again.quotes == tuple(q.__class__(**{**q.__dict__, "origin": str(tmp_path / "aws-2026-10-01.json")})
                                 for q in snap.quotes)


def test_snapshot_rows_inherit_the_snapshot_source_and_write_it_once(tmp_path):
    """Version 2: a row without source/source_date takes the snapshot's; the writer leaves equal ones out."""
    from harness.pricing.formats import SnapshotDoc

    doc = SnapshotDoc.read({"schema_version": 2, "as_of": "2026-12-01", "source": "a catalogue", "source_date": "2026-12-01",
                            "rows": [{"instance": "c7a.large", "region": "us-east-2", "purchase_option": "on-demand",
                                      "usd_per_hour": 0.1},
                                     {"instance": "c7i.large", "region": "us-east-2", "purchase_option": "on-demand",
                                      "usd_per_hour": 0.2, "source": "a quote", "source_date": "2026-11-01"}]}, "x.json")
    assert [(r.source, r.source_date) for r in doc.rows] == [("a catalogue", "2026-12-01"), ("a quote", "2026-11-01")]
    written = doc.to_json()["rows"]
    assert "source" not in written[0] and written[1]["source"] == "a quote"


def test_newest_user_snapshot_wins_per_cell_and_csv_wins_over_all(tmp_path):
    d = tmp_path / "prices"
    d.mkdir()
    (d / "aws-2026-10-01.json").write_text((FIX / "snapshot-v1.json").read_text())
    newer = json.loads((FIX / "snapshot-v1.json").read_text())
    newer.update(as_of="2026-11-01", created_at="2026-11-01T00:00:00+00:00")
    newer["rows"] = newer["rows"][:1]
    newer["rows"][0]["usd_per_hour"] = 0.2
    (d / "aws-2026-11-01.json").write_text(json.dumps(newer))
    book = load_price_book(snapshot_dir=d)
    assert book.get("c7a.large", "us-east-2").usd_per_hour == 0.2  # newest snapshot
    assert book.get("c7a.large", "us-east-2", "spot").usd_per_hour == 0.04  # older snapshot keeps its cell
    assert book.get("c7a.large", "us-east-1").usd_per_hour == 0.10264  # bundled fills the rest
    assert [layer.kind for layer in book.layers] == ["bundled", "snapshot", "snapshot"]
    book = load_price_book(snapshot_dir=d, prices_csv=FIX / "prices-v1.csv")
    assert book.get("c7a.large", "us-east-2").usd_per_hour == 0.09
    assert book.get("c7a.large", "us-east-2").source == "negotiated rate (contract 42)"


def test_stale_warning_names_snapshot_and_age():
    book = load_price_book(snapshot_dir=None)
    warnings = stale_warnings(book, 90, today=dt.date(2027, 6, 1))
    assert warnings[0].startswith("warning: the newest price snapshot in force (bundled ")
    assert "as of 2026-12-05) is 178 days old (> 90)" in warnings[0]  # 2026-12-05 to 2027-06-01
    assert stale_warnings(book, 10_000, today=dt.date(2027, 6, 1)) == []
    # age of a partial date counts from its earliest day
    q = PriceQuote("c7a.large", "us-east-2", "on-demand", 0.1, "x", "2025/2026")
    assert q.age_days(dt.date(2025, 1, 31)) == 30


# ------------------------------------------------------------------------------------------------ live refresh


def _stubbed_pricing(pages, instance="c7a.large", region="us-east-2"):
    import boto3
    from botocore.stub import Stubber

    from harness.pricing.aws import price_filters

    client = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(client)
    token = None
    for i, items in enumerate(pages):
        response = {"FormatVersion": "aws_v1", "PriceList": items}
        if i < len(pages) - 1:
            response["NextToken"] = f"page-{i + 2}"
        expected = {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "Filters": price_filters(instance, region)}
        if token:
            expected["NextToken"] = token
        stub.add_response("get_products", response, expected)
        token = response.get("NextToken")
    stub.activate()
    return client, stub


def test_filters_are_the_prices_md_recipe():
    from harness.pricing.aws import price_filters

    assert price_filters("p5.48xlarge", "us-east-1") == [
        {"Type": "TERM_MATCH", "Field": "instanceType", "Value": "p5.48xlarge"},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "us-east-1"},
        {"Type": "TERM_MATCH", "Field": "operatingSystem", "Value": "Linux"},
        {"Type": "TERM_MATCH", "Field": "tenancy", "Value": "Shared"},
        {"Type": "TERM_MATCH", "Field": "preInstalledSw", "Value": "NA"},
        {"Type": "TERM_MATCH", "Field": "capacitystatus", "Value": "Used"},
        {"Type": "TERM_MATCH", "Field": "licenseModel", "Value": "No License required"},
        {"Type": "TERM_MATCH", "Field": "marketoption", "Value": "OnDemand"},
    ]


def test_refresh_two_pages_saves_a_new_snapshot_that_round_trips(tmp_path):
    from harness.pricing.aws import refresh

    # page 1 holds only a non-RunInstances product; the rate is on page 2 (reached through NextToken)
    client, stub = _stubbed_pricing([[fixture_item("c7a_large_us_east_2_not_runinstances.json")],
                                     [fixture_item("c7a_large_us_east_2.json")]])
    warned = []
    result = refresh("us-east-2", ["c7a.large"], snapshot_dir=tmp_path / "prices", spot=False, hardware=False,
                     pricing_client=client, warn=warned.append, now=NOW)
    stub.assert_no_pending_responses()
    assert not result.fell_back and warned == []
    (q,) = result.quotes
    assert (q.instance, q.region, q.purchase_option, q.usd_per_hour, q.as_of, q.grade) == (
        "c7a.large", "us-east-2", "on-demand", 0.10264, "2026-11-24", "live")
    assert "20260910195514" in q.source and "Q4Z2V7K3X9M8N5HA" in q.notes and "2026-09-01T00:00:00Z" in q.notes
    assert result.path == tmp_path / "prices" / "aws-2026-11-24.json"
    back = load_snapshot(result.path)
    assert [(x.instance, x.usd_per_hour, x.source, x.as_of, x.notes) for x in back.quotes] == [
        (q.instance, q.usd_per_hour, q.source, q.as_of, q.notes)]
    # the newest user snapshot wins over the bundled one for its cell
    book = load_price_book(snapshot_dir=tmp_path / "prices")
    assert book.get("c7a.large", "us-east-2").grade == "live"
    assert book.get("g4dn.xlarge", "us-east-2").grade == "S"
    # a second refresh the same day never overwrites the first
    client, _ = _stubbed_pricing([[fixture_item("c7a_large_us_east_2.json")]])
    second = refresh("us-east-2", ["c7a.large"], snapshot_dir=tmp_path / "prices", spot=False, hardware=False, pricing_client=client,
                    now=NOW)
    assert second.path.name == "aws-2026-11-24-2.json" and result.path.exists()


def test_refresh_several_rates_is_an_error_naming_them(tmp_path):
    from harness.pricing.aws import refresh

    client, _ = _stubbed_pricing([[fixture_item("c7a_large_us_east_2.json"), fixture_item("c7a_large_us_east_2_second_rate.json")]])
    with pytest.raises(HarnessError) as err:
        refresh("us-east-2", ["c7a.large"], snapshot_dir=tmp_path, spot=False, hardware=False, pricing_client=client, now=NOW)
    msg = str(err.value)
    assert msg.startswith("several on-demand rates for 'c7a.large' in 'us-east-2': 0.10264 (sku Q4Z2V7K3X9M8N5HA")
    assert "0.11 (sku R8T3W6Y2B5C9D4JE" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_refresh_no_match_is_an_error_naming_instance_and_region(tmp_path):
    from harness.pricing.aws import refresh

    client, _ = _stubbed_pricing([[fixture_item("c7a_large_us_east_2_not_runinstances.json")]])
    with pytest.raises(HarnessError, match=r"^no on-demand Linux price for instance 'c7a.large' in region 'us-east-2' \(0 matching"):
        refresh("us-east-2", ["c7a.large"], snapshot_dir=tmp_path, spot=False, hardware=False, pricing_client=client, now=NOW)


def test_refresh_api_error_falls_back_to_snapshot_with_one_line_warning(tmp_path):
    import boto3
    from botocore.stub import Stubber

    from harness.pricing.aws import refresh

    client = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("get_products", service_error_code="ThrottlingException", service_message="Rate exceeded")
    stub.activate()
    warned = []
    result = refresh("us-east-2", ["c7a.large", "g4dn.xlarge"], snapshot_dir=tmp_path / "prices",
                     spot=False, hardware=False, pricing_client=client, warn=warned.append, now=NOW)
    assert result.fell_back and result.path is None and not (tmp_path / "prices").exists()
    assert len(warned) == 1 and "\n" not in warned[0]
    assert warned[0].startswith("warning: AWS price refresh failed (ThrottlingException: ")
    assert "using the price snapshot in force (bundled aws-2026-12-05.json, as of 2026-12-05)" in warned[0]
    assert sorted((q.instance, q.usd_per_hour) for q in result.quotes) == [("c7a.large", 0.10264), ("g4dn.xlarge", 0.526)]


def test_refresh_no_network_falls_back(tmp_path):
    from botocore.exceptions import EndpointConnectionError

    from harness.pricing.aws import refresh

    class Offline:  # what a client does with no route to the endpoint
        def get_paginator(self, name):
            raise EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com/")

    warned = []
    result = refresh("us-east-2", ["t4g.xlarge"], snapshot_dir=tmp_path, spot=False, hardware=False, pricing_client=Offline(),
                     warn=warned.append, now=NOW)
    assert result.fell_back and [q.usd_per_hour for q in result.quotes] == [0.1344]
    assert "EndpointConnectionError: Could not connect to the endpoint URL" in warned[0]


def test_refresh_without_credentials_falls_back(tmp_path, monkeypatch):
    """The default client path: no credentials anywhere (and instance metadata disabled) -> NoCredentialsError."""
    from harness.pricing.aws import refresh

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # should credentials ever be found, the call goes to a closed local port, never to AWS
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    warned = []
    result = refresh("us-east-2", ["c7a.large"], snapshot_dir=tmp_path, spot=False, hardware=False, warn=warned.append, now=NOW)
    assert result.fell_back
    assert "NoCredentialsError: Unable to locate credentials" in warned[0]


def test_refresh_unknown_instance_names_close_choices(tmp_path):
    from harness.pricing.aws import refresh

    with pytest.raises(ConfigError, match=r"^unknown instance type 'c7a.lage'; close valid choices: c7a.large"):
        refresh("us-east-2", ["c7a.lage"], snapshot_dir=tmp_path, spot=False, hardware=False, pricing_client=object())


def test_spot_and_hardware_via_moto_then_saved_with_on_demand(tmp_path):
    import boto3
    from moto import mock_aws

    from harness.pricing.aws import refresh

    pricing, _ = _stubbed_pricing([[fixture_item("c7a_large_us_east_2.json")]])
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-2")
        result = refresh("us-east-2", ["c7a.large"], snapshot_dir=tmp_path, spot=True,
                         pricing_client=pricing, ec2_client=ec2, now=NOW)
    spot = [q for q in result.quotes if q.purchase_option == "spot"]
    assert len(spot) == 1 and spot[0].usd_per_hour > 0  # moto's prices are placeholders: test the path
    assert spot[0].notes.startswith("3 zones, min ")
    saved = load_snapshot(result.path)
    assert sorted(q.purchase_option for q in saved.quotes) == ["on-demand", "spot"]
    # hardware facts read with the prices (DescribeInstanceTypes), saved in the snapshot and layered over the catalogue
    (hw,) = saved.hardware
    assert (hw.instance, hw.vcpu, hw.physical_cores, hw.memory_gib, hw.architecture, hw.manufacturer) == (
        "c7a.large", 2, 2, 4.0, "x86_64", "AMD")
    changed = json.loads(result.path.read_text())
    changed["hardware"][0]["memory_gib"] = 5.0  # as if AWS had changed the type since the bundled catalogue
    result.path.write_text(json.dumps(changed))
    book = load_price_book(snapshot_dir=tmp_path)
    entry = {i.name: i for i in catalog.all_instances(book.hardware)}["c7a.large"]
    assert (entry.memory_gib, entry.cpu_model, entry.isa) == (5.0, "AMD EPYC 9R14", ("avx2", "avx512", "vnni", "bf16"))


def test_spot_summary_newest_per_zone_then_min_and_median():
    from harness.pricing.aws import summarize_spot

    t = lambda h: dt.datetime(2026, 11, 24, h, tzinfo=dt.timezone.utc)  # noqa: E731
    rows = [
        {"AvailabilityZone": "us-east-2a", "InstanceType": "c6i.xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.050", "Timestamp": t(1)},
        {"AvailabilityZone": "us-east-2a", "InstanceType": "c6i.xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.070", "Timestamp": t(5)},
        {"AvailabilityZone": "us-east-2b", "InstanceType": "c6i.xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.060", "Timestamp": t(2)},
        {"AvailabilityZone": "us-east-2c", "InstanceType": "c6i.xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.090", "Timestamp": t(3)},
        {"AvailabilityZone": "us-east-2c", "InstanceType": "c7g.xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": "0.010", "Timestamp": t(4)},
        {"AvailabilityZone": "us-east-2b", "InstanceType": "c6i.xlarge", "ProductDescription": "Windows", "SpotPrice": "0.001", "Timestamp": t(6)},
    ]
    s = summarize_spot(rows, "c6i.xlarge", "us-east-2")
    assert (s.n_zones, s.min_usd_per_hour, s.min_zone, s.median_usd_per_hour) == (3, 0.06, "us-east-2b", 0.07)
    assert s.newest_timestamp == "2026-11-24T05:00:00+00:00"
    assert summarize_spot(rows, "m7i.xlarge", "us-east-2") is None


# ------------------------------------------------------------------------------------------------ user CSV


def test_user_csv_v1_fixture_reads_through_the_migration_and_writes_as_v2(tmp_path):
    quotes = load_prices_csv(FIX / "prices-v1.csv")
    assert [(q.instance, q.usd_per_hour, q.as_of, q.grade) for q in quotes] == [
        ("c7a.large", 0.09, "2026-11-01", "user"), ("g4dn.xlarge", 0.40, "2026-11-01", "user")]
    p = tmp_path / "p.csv"
    p.write_text("schema_version,instance,region,purchase_option,usd_per_hour,source,as_of\n"
                 "1,c7a.large,us-east-1,spot,0.035,my spot quote,2026-11-20\n")
    (q,) = load_prices_csv(p)
    assert (q.purchase_option, q.usd_per_hour, q.as_of) == ("spot", 0.035, "2026-11-20")
    out = write_prices_csv(quotes, tmp_path / "rt.csv")
    lines = out.read_text().splitlines()
    assert lines[0] == "schema_version,instance,region,purchase_option,usd_per_hour,source,source_date,grade,notes"
    assert lines[1].startswith("2,c7a.large,us-east-2,on-demand,0.09,")
    assert [(x.key, x.usd_per_hour, x.as_of, x.grade) for x in load_prices_csv(out)] == [
        (x.key, x.usd_per_hour, x.as_of, x.grade) for x in quotes]


@pytest.mark.parametrize("body, message", [
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\n"
     "c7a.large,us-east-2,on-demand,0.1,x,2026-11-01\nc7a.large,us-east-2,spot,abc,x,2026-11-01\n",
     r"^bad.csv line 4: field usd_per_hour 'abc' is not a number; valid: a number > 0$"),
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\nc7a.large,us-east-2,reserved,0.1,x,2026-11-01\n",
     r"^bad.csv line 3: unknown purchase_option 'reserved'; valid choices: on-demand, spot$"),
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\nc7a.large,us-east-2,on-demand,-0.1,x,2026-11-01\n",
     r"^bad.csv line 3: usd_per_hour: -0.1 for c7a.large in us-east-2 is not a usable price"),
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\nc7a.large,Ohio,on-demand,0.1,x,2026-11-01\n",
     r"^bad.csv line 3: region: 'Ohio' is not an AWS region code"),
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\nc7a.large,us-east-2,on-demand,0.1,x,Nov 2026\n",
     r"^bad.csv line 3: as_of: 'Nov 2026' is not a date"),
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source\nc7a.large,us-east-2,on-demand,0.1,x\n",
     r"^bad.csv line 2: missing column 'as_of'; required columns: instance, region, purchase_option, usd_per_hour, source, as_of$"),
    ("instance,region,purchase_option,usd_per_hour,source,as_of\nc7a.large,us-east-2,on-demand,0.1,x,2026-11-01\n",
     r"^bad.csv: no schema_version; give a schema_version column \(first\), e.g. the header schema_version,instance,"),
    ("# schema_version: 7\ninstance,region,purchase_option,usd_per_hour,source,as_of\n",
     r"^bad.csv line 1: schema_version 7 was written by a newer harness \(this one reads 1, 2\); upgrade the harness$"),
    ("schema_version,instance,region,purchase_option,usd_per_hour,source,source_date,grade,notes\n"
     "2,c7a.large,us-east-2,on-demand,0.1,x,2026-11-01,,\n0,c7a.large,us-east-1,on-demand,0.1,x,2026-11-01,,\n",
     r"^bad.csv line 3: field schema_version: schema_version 0 is not a version this harness knows \(reads 1, 2\)$"),
    ("# schema_version: 1\ninstance,region,purchase_option,usd_per_hour,source,as_of\n"
     "c7a.large,us-east-2,on-demand,0.1,x,2026-11-01\nc7a.large,us-east-2,on-demand,0.2,y,2026-11-01\n",
     r"^bad.csv line 4: duplicate c7a.large/us-east-2/on-demand \(also bad.csv line 3\)$"),
])
def test_user_csv_bad_names_line_and_field(tmp_path, body, message):
    p = tmp_path / "bad.csv"
    p.write_text(body)
    with pytest.raises(ConfigError, match=message):
        load_prices_csv(p)


def test_user_csv_missing_file():
    with pytest.raises(HarnessError, match=r"^prices file '/nonexistent/p.csv' not found$"):
        load_prices_csv("/nonexistent/p.csv")


# ------------------------------------------------------------------------------------------------ catalog


def test_catalogue_holds_the_types_a_buyer_recognises_with_cpu_isa_and_gpu():
    names = set(catalog.names())
    for family in ("c6i", "c7i", "c6a", "c7a", "c7g", "c8g", "m6i", "m7i", "m6a", "m7a", "m7g", "m8g",
                   "r6i", "r7i", "r6a", "r7a", "r7g", "r8g"):
        assert {f"{family}.{s}" for s in ("large", "xlarge", "2xlarge", "4xlarge")} <= names, family
    for family in ("g4dn", "g5", "g6", "g6e"):
        assert {f"{family}.{s}" for s in ("xlarge", "2xlarge", "4xlarge")} <= names, family
    c7a = catalog.lookup("c7a.large")
    assert (c7a.vcpu, c7a.physical_cores, c7a.memory_gib, c7a.architecture) == (2, 2, 4, "x86_64")
    assert (c7a.cpu_model, c7a.isa, c7a.describe()) == ("AMD EPYC 9R14", ("avx2", "avx512", "vnni", "bf16"),
                                                        "2 vCPU (2 cores)")
    assert catalog.lookup("c7i.large").isa == ("avx2", "avx512", "vnni", "amx", "bf16")  # Sapphire Rapids: AMX
    assert catalog.lookup("c6i.large").isa == ("avx2", "avx512", "vnni")  # Ice Lake
    assert catalog.lookup("c6a.large").isa == ("avx2",)  # Milan: AVX2 only
    c8g = catalog.lookup("c8g.xlarge")
    assert (c8g.architecture, c8g.cpu_model, c8g.vendor) == ("arm64", "AWS Graviton4", "AWS") and "projections" in c8g.notes
    assert catalog.lookup("m7i.large").memory_gib == 8
    g5 = catalog.lookup("g5.xlarge")
    assert (g5.gpu_model, g5.gpu_count, g5.is_gpu, g5.describe()) == ("A10G", 1, True, "1x NVIDIA A10G 22 GiB")
    assert catalog.lookup("g6.xlarge").gpu_model == "L4"
    for entry in catalog.all_instances():
        assert entry.source.startswith("https://aws.amazon.com/ec2/instance-types/") and entry.cpu_model, entry.name


def test_isa_mismatch_and_the_catalogue_type_that_matches_a_cpu():
    milan = ("avx2", "fma")
    genoa = ("avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "avx512vl", "avx_vnni", "fma")
    c7a, c6a = catalog.lookup("c7a.large"), catalog.lookup("c6a.large")
    assert catalog.isa_classes(genoa) == ("avx2", "avx512", "vnni", "bf16")
    assert catalog.isa_mismatch(c7a, "x86_64", milan) is True
    assert catalog.isa_mismatch(c7a, "x86_64", genoa) is False
    assert catalog.isa_mismatch(c6a, "x86_64", milan) is False
    assert catalog.isa_mismatch(c7a, "x86_64", ()) is None  # flags not recorded: unknown, never guessed
    assert catalog.isa_mismatch(catalog.lookup("c7g.xlarge"), "x86_64", milan) is True
    assert catalog.isa_mismatch(catalog.lookup("c7g.xlarge"), "aarch64", ("asimd", "sve")) is False
    match = lambda flags, vendor="AuthenticAMD", cpus=2: catalog.matching_instance(  # noqa: E731
        catalog.all_instances(), architecture="x86_64", vendor_id=vendor, flags=flags, logical_cpus=cpus).name
    assert match(milan) == "c6a.large" and match(genoa) == "c7a.large" and match(genoa, cpus=4) == "c7a.xlarge"
    sapphire = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
    assert match(sapphire, "GenuineIntel") == "c7i.large"
    assert match(("avx2", "avx512f", "avx512_vnni"), "GenuineIntel") == "c6i.large"


def test_catalog_unknown_type_names_close_choices():
    with pytest.raises(ConfigError, match=r"^unknown instance type 'c9z.large'; close valid choices: .*c7a.large"):
        catalog.lookup("c9z.large")
    with pytest.raises(ConfigError, match=r"^--project-to: unknown instance type 'g4dn.xlrge'; close valid choices: g4dn.xlarge"):
        catalog.parse_instance_list("c7a.large,g4dn.xlrge", "--project-to")


def test_catalog_agrees_with_ec2_metadata_in_moto():
    """moto ships a copy of EC2 DescribeInstanceTypes data: vCPUs, cores, memory, architecture, GPUs."""
    import moto

    data = json.loads(gzip.open(Path(moto.__file__).parent / "ec2" / "resources" / "instance_types.json.gz").read())
    for it in catalog.all_instances():
        ref = data[it.name]
        assert it.vcpu == ref["VCpuInfo"]["DefaultVCpus"], it.name
        assert it.physical_cores == ref["VCpuInfo"]["DefaultCores"], it.name
        assert it.memory_gib == ref["MemoryInfo"]["SizeInMiB"] / 1024, it.name
        assert [it.architecture] == [a for a in ref["ProcessorInfo"]["SupportedArchitectures"] if a != "i386"], it.name
        gpus = (ref.get("GpuInfo") or {}).get("Gpus") or []
        assert [(it.gpu_model, it.gpu_count)] == ([(g["Name"], g["Count"]) for g in gpus] or [(None, 0)]), it.name
    assert len(catalog.all_instances()) == 85


# ------------------------------------------------------------------------------------------------ GPU reference


def test_gpu_reference_points_for_t4_bert_base():
    from harness.pricing.gpu_reference import published_points

    pts = {(p.precision, p.batch, p.seq_len): p for p in published_points("bert-base", "T4")}
    b1 = pts["fp16", 1, 128]
    assert b1.latency_ms == 1.95 and b1.throughput_per_s == pytest.approx(1000 / 1.95)
    b128 = pts["int8", 128, 128]
    assert b128.throughput_per_s == 1750 and b128.latency_ms == pytest.approx(128 / 1750 * 1000)  # 73.14 ms
    assert pts["fp16", 128, 384].throughput_per_s == 279
    for p in pts.values():
        assert "NVIDIA TensorRT repository, demo/BERT/README.md" in p.source and p.grade == "published"
    a10g = published_points("resnet50", "A10G")
    assert [p.throughput_per_s for p in a10g] == [13805.2] and "A10G is weaker" in a10g[0].notes
    l4_server = [p for p in published_points("resnet50", "L4") if p.scenario == "server"]
    assert l4_server[0].latency_bound_ms == 15.0 and l4_server[0].throughput_per_s == 12204.4


def test_model_families_by_reference_architecture_and_name():
    from harness.pricing.gpu_reference import family_of

    def fam(model, arch=None):
        found = family_of(model, arch)
        return (found[0].reference_model, found[1]) if found else None

    assert fam("bert-base") == ("bert-base", "reference model")
    assert fam("minilm-sst2") == ("bert-base", "model name") and fam("distilbert-tiny") == ("bert-base", "model name")
    assert fam("my-sentiment-model", "roberta") == ("bert-base", "architecture roberta")
    assert fam("resnet50-tiny") == ("resnet50", "model name")
    assert fam("tree-wine") is None and fam("bertolt") is None


def test_gflop_scaling_on_two_models_with_counted_flops(torch_one_thread):
    """Derived figures scale the family's by GFLOPs per inference at the row's sequence length, counted by the
    harness: bert-tiny and minilm-tiny at sequence 64 here; the published T4 int8 batch-1 point at seq 128
    (1.69 ms, 591.7/s) is the nearest."""
    from harness.models.registry import model_family
    from harness.pricing.gpu_reference import derive, family_of, published_points

    family, _ = family_of("bert-base")
    base = published_points("bert-base", "T4")
    counted = {}
    for name in ("bert-tiny", "minilm-tiny"):
        f = model_family(name)
        counted[name] = f.flops(f.build(), 1, 64)
        gflop = counted[name] / 1e9
        (point,) = [p for p in derive(base, family, name, 64, gflop) if (p.precision, p.batch) == ("int8", 1)]
        k = 22.348434432 / gflop
        assert point.throughput_per_s == pytest.approx(1000 / 1.69 * k)
        assert point.latency_ms == pytest.approx(1.69 / k)
        assert (point.grade, point.seq_len, point.model) == ("derived", 64, name)
        assert point.label == f"derived: scaled by GFLOPs from bert-base (22.3 -> {gflop:.3g} GFLOP)"
    assert counted == {"bert-tiny": 10_494_208, "minilm-tiny": 3_147_904}  # known answers of the harness's counter
