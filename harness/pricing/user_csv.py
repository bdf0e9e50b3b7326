"""User price lists (`--prices FILE`): a CSV the user controls, layered over every snapshot.

The format and its versions are in harness.pricing.formats (PRICES_CSV_SCHEMA_VERSION history). Example (v2):

    schema_version,instance,region,purchase_option,usd_per_hour,source,source_date,grade,notes
    2,c7a.large,us-east-2,on-demand,0.09,negotiated rate (contract 42),2026-11-01,,
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from harness.foundation.errors import ConfigError, HarnessError

from .formats import (
    PRICES_CSV_COLUMNS,
    PRICES_CSV_MIGRATIONS,
    PRICES_CSV_SCHEMA_VERSION,
    PRICES_CSV_V1_OPTIONAL,
    PRICES_CSV_V1_REQUIRED,
    QuoteRow,
    migrate,
    quote_row_from_cells,
    quotes_of,
)
from .quotes import PriceQuote

_VERSION_COMMENT = re.compile(r"^#\s*schema_version\s*[:=]\s*(\S+)\s*$")
_COLUMNS = {1: (PRICES_CSV_V1_REQUIRED, PRICES_CSV_V1_OPTIONAL), 2: (PRICES_CSV_COLUMNS[:7], PRICES_CSV_COLUMNS[7:])}


def _int(raw: str):
    try:
        return int(raw)
    except ValueError:
        return raw


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise HarnessError(f"prices file {str(path)!r} not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path.name}: not a UTF-8 text file (byte {exc.start})") from None
    except IsADirectoryError:
        raise HarnessError(f"prices file {str(path)!r} is a directory") from None


def load_prices_csv(path) -> list[PriceQuote]:
    """The quotes of a user price CSV of any readable version (older ones through PRICES_CSV_MIGRATIONS)."""
    path = Path(path)
    name = path.name
    lines = _read_text(path).splitlines()
    comment_version, body_start = None, 0
    for i, line in enumerate(lines):  # leading comment lines (version 1); one may carry the version
        if not line.startswith("#"):
            break
        m = _VERSION_COMMENT.match(line)
        if m:
            comment_version = _int(m.group(1))
            migrate({}, comment_version, PRICES_CSV_SCHEMA_VERSION, PRICES_CSV_MIGRATIONS, f"{name} line {i + 1}")
        body_start = i + 1
    header_line = body_start + 1
    reader = csv.DictReader(io.StringIO("\n".join(lines[body_start:])))
    columns = tuple(reader.fieldnames or ())
    if comment_version is None and "schema_version" not in columns:
        raise ConfigError(f"{name}: no schema_version; give a schema_version column (first), e.g. the header "
                          f"{','.join(PRICES_CSV_COLUMNS)}")
    version = comment_version or (1 if "as_of" in columns else PRICES_CSV_SCHEMA_VERSION)
    required, optional = _COLUMNS.get(version, _COLUMNS[PRICES_CSV_SCHEMA_VERSION])
    missing = [c for c in required if c not in columns and c != "schema_version"]
    if missing:
        raise ConfigError(f"{name} line {header_line}: missing column {missing[0]!r}; required columns: "
                          f"{', '.join(required)}")
    unknown = [c for c in columns if c not in required + optional]
    if unknown:
        raise ConfigError(f"{name} line {header_line}: unknown column {unknown[0]!r}; valid choices: "
                          f"{', '.join(required + optional)}")
    rows: list[tuple[QuoteRow, str]] = []
    for n, cells in enumerate(reader):
        where = f"{name} line {header_line + 1 + n}"
        if None in cells or any(cells.get(c) is None for c in columns):
            raise ConfigError(f"{where}: expected {len(columns)} fields ({', '.join(columns)})")
        row_version = _int(cells["schema_version"].strip()) if "schema_version" in columns else version
        cells = migrate(cells, row_version, PRICES_CSV_SCHEMA_VERSION, PRICES_CSV_MIGRATIONS,
                        f"{where}: field schema_version")
        rows.append((quote_row_from_cells(cells, where), where))
    if not rows:
        raise ConfigError(f"{name}: no price rows after the header (line {header_line})")
    return quotes_of(rows, str(path))


def write_prices_csv(quotes, path) -> Path:
    """Write quotes in the current format (schema_version the first column, the header the first line)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(PRICES_CSV_COLUMNS)
        for q in quotes:
            row = QuoteRow.of(q)
            w.writerow([PRICES_CSV_SCHEMA_VERSION, row.instance, row.region, row.purchase_option,
                        repr(row.usd_per_hour), row.source, row.source_date, row.grade or "", row.notes or ""])
    return path
