"""User price lists (`--prices FILE`): a CSV the user controls, layered over every snapshot.

PRICES_CSV_SCHEMA_VERSION history:
  1 - first version: columns instance, region, purchase_option, usd_per_hour, source, as_of
      (optional: grade, notes); the version is given by a first comment line `# schema_version: 1`
      or by a `schema_version` column.

Example:
    # schema_version: 1
    instance,region,purchase_option,usd_per_hour,source,as_of
    c7a.large,us-east-2,on-demand,0.09,negotiated rate (contract 42),2026-11-01
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from harness.foundation.errors import ConfigError, HarnessError

from .quotes import PriceQuote

PRICES_CSV_SCHEMA_VERSION = 1
READABLE_CSV_VERSIONS = (1,)
REQUIRED_COLUMNS = ("instance", "region", "purchase_option", "usd_per_hour", "source", "as_of")
OPTIONAL_COLUMNS = ("grade", "notes", "schema_version")
_VERSION_COMMENT = re.compile(r"^#\s*schema_version\s*[:=]\s*(\S+)\s*$")


def _version(raw: str, where: str) -> int:
    try:
        v = int(raw)
    except ValueError:
        v = None
    if v not in READABLE_CSV_VERSIONS:
        raise ConfigError(f"{where}: schema_version {raw!r}; valid choices: {', '.join(map(str, READABLE_CSV_VERSIONS))}")
    return v


def load_prices_csv(path) -> list[PriceQuote]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise HarnessError(f"prices file {str(path)!r} not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not a UTF-8 text file (byte {exc.start})") from None
    except IsADirectoryError:
        raise HarnessError(f"prices file {str(path)!r} is a directory") from None
    name = path.name
    lines = text.splitlines()
    comment_version = None
    header_line = 1
    body_start = 0
    for i, line in enumerate(lines):  # leading comment lines; one may carry the version
        if not line.startswith("#"):
            break
        m = _VERSION_COMMENT.match(line)
        if m:
            comment_version = _version(m.group(1), f"{name} line {i + 1}")
        body_start = i + 1
        header_line = i + 2
    reader = csv.DictReader(io.StringIO("\n".join(lines[body_start:])))
    columns = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ConfigError(
            f"{name} line {header_line}: missing column {missing[0]!r}; required columns: {', '.join(REQUIRED_COLUMNS)}"
        )
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise ConfigError(
            f"{name} line {header_line}: unknown column {unknown[0]!r}; valid choices: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}"
        )
    if comment_version is None and "schema_version" not in columns:
        raise ConfigError(f"{name}: no schema_version; add a first line '# schema_version: 1' or a schema_version column")
    quotes: list[PriceQuote] = []
    seen: dict[tuple, int] = {}
    for n, row in enumerate(reader):
        line_no = header_line + 1 + n
        where = f"{name} line {line_no}"
        if None in row or any(row.get(c) is None for c in REQUIRED_COLUMNS):
            raise ConfigError(f"{where}: expected {len(columns)} fields ({', '.join(columns)})")
        if "schema_version" in columns:
            _version(row["schema_version"].strip(), f"{where}: field schema_version")
        raw_price = row["usd_per_hour"].strip()
        try:
            price = float(raw_price)
        except ValueError:
            raise ConfigError(f"{where}: field usd_per_hour {raw_price!r} is not a number; valid: a number > 0") from None
        try:
            q = PriceQuote(
                instance=row["instance"].strip(),
                region=row["region"].strip(),
                purchase_option=row["purchase_option"].strip(),
                usd_per_hour=price,
                source=row["source"].strip(),
                as_of=row["as_of"].strip(),
                grade=(row.get("grade") or "").strip() or "user",
                notes=(row.get("notes") or "").strip() or None,
                origin=str(path),
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if q.key in seen:
            raise ConfigError(f"{where}: duplicate {'/'.join(q.key)} (also line {seen[q.key]})")
        seen[q.key] = line_no
        quotes.append(q)
    if not quotes:
        raise ConfigError(f"{name}: no price rows after the header (line {header_line})")
    return quotes


def write_prices_csv(quotes, path) -> Path:
    """Write quotes in the format load_prices_csv reads (with the schema_version comment line)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(f"# schema_version: {PRICES_CSV_SCHEMA_VERSION}\n")
        w = csv.writer(f)
        w.writerow(REQUIRED_COLUMNS + ("grade", "notes"))
        for q in quotes:
            w.writerow([q.instance, q.region, q.purchase_option, repr(q.usd_per_hour), q.source, q.as_of, q.grade or "", q.notes or ""])
    return path
